/**
 * The Debian 13 root (scripts/debian13-root.sh): PostgreSQL 17's client tools (pg_basebackup 17,
 * pg_combinebackup, pg_verifybackup), Barman 3.13 and pgBackRest 2.55 from Debian's packages,
 * beside this Debian 12 machine. Created on first use (as root: debootstrap and apt), under a
 * lock so that test files running at once build it once; host /tmp is visible at the same path
 * inside, so tools take the tests' temp paths as they are.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, runAs, type RunOptions, type RunResult } from './tmp.js';

export const DEBIAN13_SCRIPT = fileURLToPath(new URL('../../../scripts/debian13-root.sh', import.meta.url));
export const DEBIAN13_ROOT = process.env.DEBIAN13_ROOT ?? '/var/cache/debian13-root';
/** Inside the root. */
export const PG17_TOOLS = '/usr/lib/postgresql/17/bin';
const LOCK = `${DEBIAN13_ROOT}.lock`;

let ready: Promise<void> | undefined;

/** Builds the root when missing (about a minute) and mounts /proc, /dev, /tmp and /var/tmp into it. */
export function ensureDebian13Root(): Promise<void> {
  ready ??= (async () => {
    const built = existsSync(`${DEBIAN13_ROOT}${PG17_TOOLS}/pg_combinebackup`);
    assert.ok(
      isRoot(),
      built
        ? 'the Debian 13 root needs root to mount /tmp into it: run the tests as root'
        : `no Debian 13 root at ${DEBIAN13_ROOT}: run the tests as root (npm test builds it), ` +
            `or build it with: bash scripts/debian13-root.sh create ${DEBIAN13_ROOT}`,
    );
    await runAs(null, 'flock', [LOCK, 'bash', DEBIAN13_SCRIPT, 'create', DEBIAN13_ROOT], {
      timeoutMs: 900_000,
    });
  })();
  return ready;
}

/**
 * Runs a program inside the root, as root or as a numeric `uid:gid` (the root has its own
 * /etc/passwd: host users exist there only by number).
 */
export async function runInDebian13(
  command: string,
  args: readonly string[],
  options: RunOptions & { userspec?: string } = {},
): Promise<RunResult> {
  await ensureDebian13Root();
  const how = options.userspec === undefined ? ['run'] : ['runas', options.userspec];
  return runAs(null, 'bash', [DEBIAN13_SCRIPT, ...how, DEBIAN13_ROOT, '--', command, ...args], options);
}

/**
 * Executables in `directory`, one per name in `programs`, each running that program of the
 * Debian 13 root's PostgreSQL 17 on this host, without chroot: through the root's own dynamic
 * loader and libraries (its glibc is newer than this Debian 12's), so that they take host
 * paths and run as any user. For options naming a directory of PostgreSQL programs
 * (restore_drill_bin_path): they take the same arguments as the programs themselves.
 */
export async function debian13ProgramDirectory(
  directory: string,
  programs: readonly string[],
): Promise<void> {
  await ensureDebian13Root();
  const libraries = [`${DEBIAN13_ROOT}/usr/lib/x86_64-linux-gnu`, `${DEBIAN13_ROOT}/lib/x86_64-linux-gnu`];
  const loader = `${libraries[0]}/ld-linux-x86-64.so.2`;
  mkdirSync(directory, { recursive: true, mode: 0o755 });
  for (const program of programs) {
    const target = `${DEBIAN13_ROOT}${PG17_TOOLS}/${program}`;
    assert.ok(existsSync(target), `${target} is missing from the Debian 13 root`);
    writeFileSync(
      join(directory, program),
      `#!/bin/sh\nexec '${loader}' --library-path '${libraries.join(':')}' '${target}' "$@"\n`,
      { mode: 0o755 },
    );
  }
}
