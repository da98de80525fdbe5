// One linter for the whole tree. Type-aware rules matter here: a floating promise in a
// backup tool is a WAL file acknowledged before it is durable.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Each third-party library may be imported by exactly one folder of src/ (see docs/architecture.md). */
const libraryOwners = [
  { names: ['pg', 'pg-*'], folder: 'src/postgres' },
  { names: ['execa'], folder: 'src/process' },
  { names: ['ssh2'], folder: 'src/ssh' },
  { names: ['pino', 'pino-*'], folder: 'src/log' },
  { names: ['node-cron'], folder: 'src/scheduler' },
  { names: ['@aws-sdk/*'], folder: 'src/storage/s3' },
  { names: ['commander'], folder: 'src/cli' },
  { names: ['zod'], folder: 'src/config' },
  { names: ['fs-ext'], folder: 'src/locks' },
];

/** The no-restricted-imports entry for files of `folder` (null = any other file of src/). */
function importRestrictions(folder) {
  return [
    'error',
    {
      patterns: libraryOwners
        .filter((owner) => owner.folder !== folder)
        .map(({ names, folder: owner }) => ({
          group: names,
          message: `only ${owner}/ may import this library`,
        })),
    },
  ];
}

// ESLint replaces (does not merge) a rule configured twice for one file, so each owning folder
// gets one entry listing every library but its own, and the rest of src/ gets one listing all.
const ownershipConfigs = [
  ...libraryOwners.map(({ folder }) => ({
    files: [`${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': importRestrictions(folder) },
  })),
  {
    files: ['src/**/*.ts'],
    ignores: libraryOwners.map(({ folder }) => `${folder}/**`),
    rules: { 'no-restricted-imports': importRestrictions(null) },
  },
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
