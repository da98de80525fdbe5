/**
 * Commands that collide with another one: each case holds the lock another process would hold
 * (Barman's lock files, taken with flock(1) exactly as a running barman or Barman 3.4 holds
 * them) and runs the command beside it. The command refuses, naming what is in the way, and
 * changes nothing. Real concurrent backups, recoveries and archivers run in the postgres table.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRoot, registerExitCleanup } from '../../harness/index.js';
import { LOCK_FILES } from './catalog.js';
import type { CaseTable, World } from './world.js';
import { BACKUPS } from './world.js';

/** Runs flock(1) as barman_user holding `name` in barman_home until the case ends. */
export function holdingLock(
  name: string,
  mode: '-x' | '-s' = '-x',
): (world: World) => Promise<() => Promise<void>> {
  return async (world) => {
    const path = join(world.home, name);
    const asUser = (args: string[]): [string, string[]] =>
      isRoot() && world.user !== 'root'
        ? ['runuser', ['-u', world.user, '--', ...args]]
        : [args[0]!, args.slice(1)];
    const [command, args] = asUser(['flock', mode, path, 'sleep', '600']);
    const holder = spawn(command, args, { detached: true, stdio: 'ignore' });
    const stop = () => {
      try {
        process.kill(-holder.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const unregister = registerExitCleanup(stop);
    // Held once a non-blocking exclusive attempt fails.
    for (let attempt = 0; ; attempt += 1) {
      const [probe, probeArgs] = asUser(['flock', '-n', '-x', path, 'true']);
      if (spawnSync(probe, probeArgs).status === 1) break;
      if (attempt > 100) throw new Error(`flock never took ${path}`);
      await sleep(50);
    }
    return () => {
      stop();
      unregister();
      return Promise.resolve();
    };
  };
}

/** cron would start receive-wal in the background for pg: a process outliving the case. */
const NO_RECEIVE_WAL = { pg: 'streaming_archiver = off\narchiver = on' };

export const concurrencyTable: CaseTable = {
  title: 'concurrent commands (locks held)',
  cases: [
    {
      name: 'backup while another backup runs',
      during: holdingLock('.pg-backup.lock'),
      args: ['backup', 'pg'],
      exit: 1,
      stderr: ['ERROR: Another backup process is running'],
    },
    {
      name: 'archive-wal while another archive-wal runs',
      during: holdingLock('.pg-archive-wal.lock'),
      args: ['archive-wal', 'pg'],
      exit: 1,
      stderr: ['ERROR: Another archive-wal process is already running on server pg'],
    },
    {
      name: 'receive-wal while another receive-wal runs',
      during: holdingLock('.pg-receive-wal.lock'),
      args: ['receive-wal', 'pg'],
      exit: 1,
      stderr: ['ERROR: Another receive-wal process is already running for server pg.'],
    },
    {
      name: 'receive-wal --reset while receive-wal runs',
      during: holdingLock('.pg-receive-wal.lock'),
      args: ['receive-wal', '--reset', 'pg'],
      exit: 1,
      stderr: [
        'ERROR: Unable to reset the status of receive-wal for server pg. Process is still running',
        'HINT: Stop it first: barman receive-wal --stop pg',
      ],
    },
    {
      name: 'delete while another delete of the same backup runs',
      during: holdingLock(`.pg-${BACKUPS.failed}.lock`),
      args: ['delete', 'pg', BACKUPS.failed],
      exit: 1,
      stderr: [`ERROR: Another process is holding the lock for backup ${BACKUPS.failed} of server pg.`],
    },
    {
      name: 'delete of a backup being recovered',
      during: holdingLock(`.pg-${BACKUPS.named}.lock`, '-s'),
      args: ['delete', 'pg', BACKUPS.named],
      exit: 1,
      stderr: [`ERROR: Another process is holding the lock for backup ${BACKUPS.named} of server pg.`],
    },
    {
      name: 'recover of a backup being deleted',
      during: holdingLock(`.pg-${BACKUPS.named}.lock`),
      args: ['recover', 'pg', BACKUPS.named, '{dest}', '--tablespace', 'tbs1:{root}/tbs'],
      exit: 1,
      stderr: [
        `ERROR: backup ${BACKUPS.named} of server pg is locked by another process (being deleted?)`,
        'HINT: try again once it is released',
      ],
    },
    {
      name: 'cron while another cron works on a server (that server is skipped)',
      during: holdingLock('.pg-cron.lock'),
      config: NO_RECEIVE_WAL,
      args: ['cron'],
      exit: 0,
      stderr: [],
      stdout: ['Another cron process is already running on server pg. Skipping to the next server'],
      // pgr is still served; its lock files are removed again (lock_directory_cleanup).
      changes: [],
    },
    {
      name: 'cron while archive-wal works on a server (its archiving is skipped)',
      during: holdingLock('.pg-archive-wal.lock'),
      config: NO_RECEIVE_WAL,
      args: ['cron'],
      exit: 0,
      stderr: [],
      stdout: ['Another archive-wal process is already running on server pg. Skipping to the next server'],
      changes: [],
    },
    {
      name: 'backup all while one server backs up',
      during: holdingLock('.pgr-backup.lock'),
      args: ['backup', 'all'],
      exit: 1,
      stderr: ['ERROR: Another backup process is running', "Run 'barman check pg' for details"],
      changes: [LOCK_FILES],
    },
  ],
};
