/**
 * The Debian 13 root (scripts/debian13-root.sh): PostgreSQL 17's client tools (pg_basebackup 17,
 * pg_combinebackup, pg_verifybackup), Barman 3.13 and pgBackRest 2.55 from Debian's packages,
 * beside this Debian 12 machine. Created on first use (as root: debootstrap and apt), under a
 * lock so that test files running at once build it once; host /tmp is visible at the same path
 * inside, so tools take the tests' temp paths as they are.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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
