/**
 * Process control (list-processes, terminate-process): a task name that is no task, a task that
 * is not running, and a lock held by something that wrote no pid in it (flock(1), as a damaged
 * or foreign lock file would be). Nothing is signalled and nothing on disk changes. Unknown
 * servers, 'all' and argument counts are in the cli table.
 */
import { holdingLock } from './concurrency.js';
import type { CaseTable } from './world.js';

export const processesTable: CaseTable = {
  title: 'process control',
  cases: [
    {
      name: 'terminate-process of a task name that is no task',
      args: ['terminate-process', 'pg', 'backups'],
      exit: 1,
      stderr: [
        'ERROR: Termination of backups failed: no such process for server pg',
        "HINT: 'backups' is not a task barman runs as a process; the tasks are receive-wal, sync-backup, backup, cron, archive-wal, sync-wal, cloud-wal-upload",
      ],
    },
    {
      name: 'terminate-process of a task that is not running',
      args: ['terminate-process', 'pg', 'backup'],
      exit: 1,
      stderr: ['ERROR: Termination of backup failed: no such process for server pg'],
    },
    {
      name: 'terminate-process of a task whose held lock names no pid',
      during: holdingLock('.pg-cron.lock'),
      args: ['terminate-process', 'pg', 'cron'],
      exit: 1,
      stderr: [
        'ERROR: Cannot terminate process cron: its lock file {home}/.pg-cron.lock is held but names no pid',
        'HINT: nothing was signalled',
      ],
    },
    {
      name: 'list-processes with a held lock naming no pid',
      during: holdingLock('.pg-cron.lock'),
      args: ['list-processes', 'pg'],
      exit: 0,
      stderr: [
        'WARNING: Skipping the cron process of server pg: no pid in its lock file {home}/.pg-cron.lock',
      ],
      stdout: ['No active subprocesses found for server pg.'],
    },
  ],
};
