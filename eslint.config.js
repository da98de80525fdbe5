// One linter for the whole tree. Type-aware rules matter here: a floating promise in a
// backup tool is a WAL file acknowledged before it is durable.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { fsExceptions } from './eslint.fs-exceptions.js';

/** Each third-party library may be imported by exactly one folder of src/ (see docs/architecture.md). */
const libraryOwners = [
  { names: ['pg', 'pg-*'], folder: 'src/postgres' },
  { names: ['execa'], folder: 'src/process' },
  { names: ['ssh2'], folder: 'src/ssh' },
  { names: ['pino', 'pino-*'], folder: 'src/log' },
  { names: ['node-cron'], folder: 'src/scheduler' },
  {
    names: ['@aws-sdk/*'],
    folder: 'src/storage/s3',
    hint: 'reach a bucket through Storage: storageFor(config, location) from src/storage/',
  },
  { names: ['commander'], folder: 'src/cli' },
  { names: ['zod'], folder: 'src/config' },
  { names: ['fs-ext'], folder: 'src/locks' },
  { names: ['prom-client'], folder: 'src/commands/shared/metrics' },
];

/**
 * Storage is the only way to backup and WAL files: outside src/storage/, only the files of
 * eslint.fs-exceptions.js (each with its reason) may import the file system.
 */
const fsModules = ['fs', 'fs/promises', 'node:fs', 'node:fs/promises'];
const fsMessage =
  'backup and WAL files go through Storage (storageFor(config, location) from src/storage/); ' +
  'another use of the file system (configuration, locks, logs, PGDATA, the recovery destination, ' +
  "a local program's work directory) is listed with its reason in eslint.fs-exceptions.js";

/**
 * The no-restricted-imports entry for files of `folder` (null = any other file of src/): every
 * library but the folder's own, and node:fs unless `allowFs`.
 */
function importRestrictions(folder, allowFs) {
  return [
    'error',
    {
      paths: allowFs ? [] : fsModules.map((name) => ({ name, message: fsMessage })),
      patterns: libraryOwners
        .filter((owner) => owner.folder !== folder)
        .map(({ names, folder: owner, hint }) => ({
          group: names,
          message: `only ${owner}/ may import this library${hint ? `; ${hint}` : ''}`,
        })),
    },
  ];
}

const isStorage = (path) => path === 'src/storage' || path.startsWith('src/storage/');
/** The library-owning folder a file of src/ is in, if any. */
const ownerFolderOf = (path) =>
  libraryOwners.find(({ folder }) => path.startsWith(`${folder}/`))?.folder ?? null;

// ESLint replaces (does not merge) a rule configured twice for one file, so each owning folder
// gets one entry listing every library but its own, the rest of src/ gets one listing all, and
// src/storage/ and each file of the exception list get a later entry without node:fs.
const ownershipConfigs = [
  ...libraryOwners.map(({ folder }) => ({
    files: [`${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': importRestrictions(folder, isStorage(folder)) },
  })),
  {
    files: ['src/**/*.ts'],
    ignores: libraryOwners.map(({ folder }) => `${folder}/**`),
    rules: { 'no-restricted-imports': importRestrictions(null, false) },
  },
  {
    files: ['src/storage/**/*.ts'],
    ignores: libraryOwners.filter(({ folder }) => isStorage(folder)).map(({ folder }) => `${folder}/**`),
    rules: { 'no-restricted-imports': importRestrictions(null, true) },
  },
  ...fsExceptions.map(({ path }) => ({
    files: [path],
    rules: { 'no-restricted-imports': importRestrictions(ownerFolderOf(path), true) },
  })),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/', '.quickstart/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it/test return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  ...ownershipConfigs,
);
