/**
 * Debian roots beside this Debian 12 machine, for reference tools it lacks, from Debian's packages:
 * - Debian 13 (scripts/debian13-root.sh): PostgreSQL 17 (server and client tools: pg_basebackup 17,
 *   pg_combinebackup, pg_verifybackup), Barman 3.13, pgBackRest 2.55, moto_server;
 * - Debian testing, forky (scripts/debian-forky-root.sh): PostgreSQL 18's client tools and
 *   Barman 3.20 (backup encryption).
 * Each is created on first use (as root: debootstrap and apt), under a lock so that test files
 * running at once build it once; host /tmp is visible at the same path inside, so tools take the
 * tests' temp paths as they are.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, runAs, type RunOptions, type RunResult } from './tmp.js';

interface DebianRoot {
  readonly name: string;
  readonly script: string;
  readonly dir: string;
  /** The PostgreSQL client tools' directory inside the root. */
  readonly pgTools: string;
  ready?: Promise<void>;
}

const scriptPath = (name: string) => fileURLToPath(new URL(`../../../scripts/${name}`, import.meta.url));

/** Inside the Debian 13 root. */
export const PG17_TOOLS = '/usr/lib/postgresql/17/bin';
/** Inside the forky root. */
export const PG18_TOOLS = '/usr/lib/postgresql/18/bin';

const DEBIAN13: DebianRoot = {
  name: 'Debian 13',
  script: scriptPath('debian13-root.sh'),
  dir: process.env.DEBIAN13_ROOT ?? '/var/cache/debian13-root',
  pgTools: PG17_TOOLS,
};
const FORKY: DebianRoot = {
  name: 'Debian forky',
  script: scriptPath('debian-forky-root.sh'),
  dir: process.env.DEBIAN_FORKY_ROOT ?? '/var/cache/debian-forky-root',
  pgTools: PG18_TOOLS,
};
export const DEBIAN13_SCRIPT = DEBIAN13.script;
export const DEBIAN13_ROOT = DEBIAN13.dir;
export const DEBIAN_FORKY_ROOT = FORKY.dir;
export const DEBIAN_FORKY_SCRIPT = FORKY.script;

/** Builds the root when missing (about a minute) and mounts /proc, /dev, /tmp and /var/tmp into it. */
function ensureRoot(root: DebianRoot): Promise<void> {
  root.ready ??= (async () => {
    const built = existsSync(`${root.dir}${root.pgTools}/pg_combinebackup`);
    assert.ok(
      isRoot(),
      built
        ? `the ${root.name} root needs root to mount /tmp into it: run the tests as root`
        : `no ${root.name} root at ${root.dir}: run the tests as root (npm test builds it), ` +
            `or build it with: bash ${root.script} create ${root.dir}`,
    );
    await runAs(null, 'flock', [`${root.dir}.lock`, 'bash', root.script, 'create', root.dir], {
      timeoutMs: 900_000,
    });
  })();
  return root.ready;
}

/**
 * Runs a program inside the root, as root or as a numeric `uid:gid` (the root has its own
 * /etc/passwd: host users exist there only by number).
 */
async function runInRoot(
  root: DebianRoot,
  command: string,
  args: readonly string[],
  options: RunOptions & { userspec?: string } = {},
): Promise<RunResult> {
  await ensureRoot(root);
  const how = options.userspec === undefined ? ['run'] : ['runas', options.userspec];
  return runAs(null, 'bash', [root.script, ...how, root.dir, '--', command, ...args], options);
}

/**
 * Executables in `directory`, one per name in `programs`, each running that PostgreSQL program of
 * the root on this host, without chroot: through the root's own dynamic loader and libraries (its
 * glibc is newer than this Debian 12's), so that they take host paths and run as any user. For
 * options naming a directory of PostgreSQL programs (restore_drill_bin_path, path_prefix): they
 * take the same arguments as the programs themselves.
 */
async function rootProgramDirectory(
  root: DebianRoot,
  directory: string,
  programs: readonly string[],
): Promise<void> {
  await ensureRoot(root);
  const libraries = [`${root.dir}/usr/lib/x86_64-linux-gnu`, `${root.dir}/lib/x86_64-linux-gnu`];
  const loader = `${libraries[0]}/ld-linux-x86-64.so.2`;
  mkdirSync(directory, { recursive: true, mode: 0o755 });
  for (const program of programs) {
    const target = `${root.dir}${root.pgTools}/${program}`;
    assert.ok(existsSync(target), `${target} is missing from the ${root.name} root`);
    writeFileSync(
      join(directory, program),
      `#!/bin/sh\nexec '${loader}' --library-path '${libraries.join(':')}' '${target}' "$@"\n`,
      { mode: 0o755 },
    );
  }
}

export const ensureDebian13Root = () => ensureRoot(DEBIAN13);
export const ensureDebianForkyRoot = () => ensureRoot(FORKY);

/** Runs a program inside the Debian 13 root (PG17 tools, Barman 3.13, pgBackRest, moto_server). */
export const runInDebian13 = (
  command: string,
  args: readonly string[],
  options: RunOptions & { userspec?: string } = {},
) => runInRoot(DEBIAN13, command, args, options);

/** Runs a program inside the forky root (PG18 client tools, Barman 3.20). */
export const runInDebianForky = (
  command: string,
  args: readonly string[],
  options: RunOptions & { userspec?: string } = {},
) => runInRoot(FORKY, command, args, options);

/** PostgreSQL 17 programs of the Debian 13 root, runnable on this host (see rootProgramDirectory). */
export const debian13ProgramDirectory = (directory: string, programs: readonly string[]) =>
  rootProgramDirectory(DEBIAN13, directory, programs);

/** PostgreSQL 18 programs of the forky root, runnable on this host (see rootProgramDirectory). */
export const debianForkyProgramDirectory = (directory: string, programs: readonly string[]) =>
  rootProgramDirectory(FORKY, directory, programs);

/**
 * A PostgreSQL client program of major version `major` (pg_basebackup, pg_combinebackup,
 * pg_verifybackup…) run inside the root that has it: 17 in the Debian 13 root, 18 in forky's.
 * The reference tool for a server of that version (an older pg_verifybackup rejects a newer
 * pg_control).
 */
export function runPgClientTool(
  major: 17 | 18,
  program: string,
  args: readonly string[],
  options: RunOptions & { userspec?: string } = {},
): Promise<RunResult> {
  const root = major === 17 ? DEBIAN13 : FORKY;
  return runInRoot(root, `${root.pgTools}/${program}`, args, options);
}

/**
 * The command line that runs `program` of major version `major` in its root (as runPgClientTool
 * does), for a caller that runs it itself (a benchmark timing it). The root must be ready
 * (ensureDebian13Root, ensureDebianForkyRoot).
 */
export function pgClientToolCommand(major: 17 | 18, program: string): string[] {
  const root = major === 17 ? DEBIAN13 : FORKY;
  return ['bash', root.script, 'run', root.dir, '--', `${root.pgTools}/${program}`];
}
