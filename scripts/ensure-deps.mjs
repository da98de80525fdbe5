#!/usr/bin/env node
// Bootstraps a fresh clone before `npm test` / `npm run quickstart`, using only Node built-ins:
// installs npm dependencies when node_modules is missing or stale, and the Debian packages the
// tests use (installed when running as root, otherwise named in one clear message).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const purpose = process.argv[2] ?? 'test';

/** Debian package -> a file that proves it is installed (the one list; the test harness reads it too). */
const debianPackages = JSON.parse(readFileSync(join(root, 'scripts', 'debian-packages.json'), 'utf8'))[
  purpose
];

if (!debianPackages) {
  console.error(`ensure-deps: unknown purpose '${purpose}' (expected 'test' or 'quickstart')`);
  process.exit(2);
}

ensureNodeModules();
ensureDebianPackages(debianPackages);
if (purpose === 'test') ensureDebianRoots();

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('ensure-deps: installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root });
}

function ensureDebianPackages(packages) {
  const missing = Object.entries(packages)
    .filter(([, file]) => !existsSync(file))
    .map(([name]) => name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(
      `ensure-deps: missing Debian packages: ${missing.join(' ')}\n` +
        `Install them as root: apt-get install -y ${missing.join(' ')}`,
    );
    process.exit(1);
  }
  console.log(`ensure-deps: installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-q'], { env });
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env });
}

/**
 * The Debian roots with the reference tools Debian 12 lacks, built once each (about a minute,
 * debootstrap and Debian's apt) under the lock the test harness takes too (test/harness/debian13.ts):
 * Debian 13 (PostgreSQL 17's client tools, Barman 3.13, pgBackRest, moto_server) and Debian testing
 * "forky" (PostgreSQL 18's client tools, Barman 3.20).
 */
function ensureDebianRoots() {
  ensureDebianRoot(
    'Debian 13',
    'debian13-root.sh',
    process.env.DEBIAN13_ROOT ?? '/var/cache/debian13-root',
    17,
  );
  ensureDebianRoot(
    'Debian forky',
    'debian-forky-root.sh',
    process.env.DEBIAN_FORKY_ROOT ?? '/var/cache/debian-forky-root',
    18,
  );
}

function ensureDebianRoot(name, scriptName, rootDir, pgMajor) {
  const built = existsSync(join(rootDir, `usr/lib/postgresql/${pgMajor}/bin/pg_combinebackup`));
  const script = join(root, 'scripts', scriptName);
  if (process.getuid?.() !== 0) {
    // The harness runs `create` (as root) before using the root: it adds what an older one lacks.
    if (built) return;
    console.error(
      `ensure-deps: no ${name} root at ${rootDir}\nBuild it as root: bash ${script} create ${rootDir}`,
    );
    process.exit(1);
  }
  // `create` of an existing root only installs the packages it lacks.
  if (!built) console.log(`ensure-deps: building the ${name} root at ${rootDir} (about a minute)`);
  run('flock', [`${rootDir}.lock`, 'bash', script, 'create', rootDir]);
}

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(
      `ensure-deps: '${command} ${args.join(' ')}' failed (exit ${result.status ?? result.signal})`,
    );
    process.exit(1);
  }
}
