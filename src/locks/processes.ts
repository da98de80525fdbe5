/**
 * The processes of a server, as Barman 3.14 finds them (list-processes, terminate-process,
 * receive-wal --stop): every task that runs as a process holds a lock file
 * `.<server>-<task>.lock` in barman_lock_directory and writes its pid into it, so a held lock
 * file names a running process. Nothing else is tracked: a process killed with -9 loses its
 * flock with its life, so the list can never name a dead task.
 *
 * Before a signal is sent, the pid is checked against the kernel's own table of flock holders
 * (/proc/locks): the pid in a file is only what the last holder wrote, and a pid that no longer
 * holds the lock may by now belong to an unrelated process.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BarmanError, describeError } from '../errors/index.js';
import { isLockHeld, readHolderPid } from './index.js';

/**
 * The tasks a server runs as processes, in Barman's order. `sync-backup` locks are per backup
 * (`.<server>-<backup id>-sync-backup.lock`); `cloud-wal-upload` is barman-ts's own background
 * uploader of `cloud-wal-archive --async` (Barman has none).
 */
export const PROCESS_TASKS = [
  'receive-wal',
  'sync-backup',
  'backup',
  'cron',
  'archive-wal',
  'sync-wal',
  'cloud-wal-upload',
] as const;

export type ProcessTask = (typeof PROCESS_TASKS)[number];

export function isProcessTask(task: string): task is ProcessTask {
  return (PROCESS_TASKS as readonly string[]).includes(task);
}

export interface ServerProcess {
  pid: number;
  task: ProcessTask;
  /** The lock file the process holds. */
  lockFile: string;
}

/** Barman's backup ids (sync-backup lock names carry one). */
const BACKUP_ID = /^\d{8}T\d{6}$/;

/**
 * The task of a lock file name of `server`, or null when the name is not one of its process
 * locks. Exact names, so that server `pg` never claims the locks of a server `pg-2`.
 */
export function taskOfLockName(server: string, name: string): ProcessTask | null {
  const prefix = `.${server}-`;
  if (!name.startsWith(prefix) || !name.endsWith('.lock')) return null;
  const rest = name.slice(prefix.length, -'.lock'.length);
  if (rest.endsWith('-sync-backup') && BACKUP_ID.test(rest.slice(0, -'-sync-backup'.length))) {
    return 'sync-backup';
  }
  return isProcessTask(rest) && rest !== 'sync-backup' ? rest : null;
}

export interface ListedProcesses {
  processes: ServerProcess[];
  /** Held lock files whose pid cannot be read (Barman skips them with a warning too). */
  unreadable: Array<{ task: ProcessTask; lockFile: string }>;
}

/** The running processes of `server`: the holders of its task lock files, in task order. */
export function listServerProcesses(lockDirectory: string, server: string): ListedProcesses {
  let names: string[];
  try {
    names = readdirSync(lockDirectory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { processes: [], unreadable: [] };
    throw error;
  }
  const processes: ServerProcess[] = [];
  const unreadable: ListedProcesses['unreadable'] = [];
  for (const name of names.sort()) {
    const task = taskOfLockName(server, name);
    if (!task) continue;
    const lockFile = join(lockDirectory, name);
    if (!isLockHeld(lockFile)) continue;
    const pid = readHolderPid(lockFile);
    if (pid === null) unreadable.push({ task, lockFile });
    else processes.push({ pid, task, lockFile });
  }
  const rank = (task: ProcessTask) => PROCESS_TASKS.indexOf(task);
  return { processes: processes.sort((a, b) => rank(a.task) - rank(b.task)), unreadable };
}

/**
 * Pids holding a flock on the file at `path` according to the kernel (none when the lock is free,
 * or on a file system whose locks the table lists under another device), or null without a table.
 */
export function flockHolders(path: string): number[] | null {
  let table: string;
  let device: { major: bigint; minor: bigint; inode: bigint };
  try {
    table = readFileSync('/proc/locks', 'utf8');
    const stats = statSync(path, { bigint: true });
    // glibc's dev_t layout: major in bits 8-19 and 32+, minor in bits 0-7 and 20-31.
    device = {
      major: ((stats.dev >> 8n) & 0xfffn) | ((stats.dev >> 32n) & ~0xfffn),
      minor: (stats.dev & 0xffn) | ((stats.dev >> 12n) & ~0xffn),
      inode: stats.ino,
    };
  } catch {
    return null;
  }
  const holders: number[] = [];
  for (const line of table.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2146333 0 EOF"; waiters have "->" before the type.
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== 'FLOCK') continue;
    const [major, minor, inode] = (fields[5] ?? '').split(':');
    if (!major || !minor || !inode) continue;
    if (
      BigInt(`0x${major}`) === device.major &&
      BigInt(`0x${minor}`) === device.minor &&
      BigInt(inode) === device.inode
    ) {
      holders.push(Number(fields[4]));
    }
  }
  return holders;
}

export type StopOutcome =
  /** The lock was free when looked at again, or the process ended before the signal. */
  { kind: 'ended' } | { kind: 'stopped'; pid: number } | { kind: 'still-running'; pid: number };

/**
 * Sends `signal` (Barman sends SIGINT; every barman-ts task stops cleanly on it and passes it
 * on to its children) to the process holding the lock file, then waits until the lock is free.
 * The pid is signalled only while the kernel says that very pid holds the lock.
 */
export async function stopLockHolder(
  lockFile: string,
  options: { waitMs: number; signal?: NodeJS.Signals; task: string },
): Promise<StopOutcome> {
  const pid = await verifiedHolder(lockFile, options.task);
  if (pid === null) return { kind: 'ended' };
  try {
    process.kill(pid, options.signal ?? 'SIGINT');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return { kind: 'ended' };
    throw new BarmanError(
      'process-stop-failed',
      `Cannot terminate process ${options.task}(${pid}): ${describeError(error)}`,
      { hint: 'run barman as the user that runs the process (barman_user)', cause: error },
    );
  }
  const deadline = Date.now() + options.waitMs;
  while (isLockHeld(lockFile)) {
    if (Date.now() >= deadline) return { kind: 'still-running', pid };
    await sleep(100);
  }
  return { kind: 'stopped', pid };
}

/**
 * The pid holding `lockFile`, checked against the kernel's flock table, or null once the lock is
 * free. A holder that has just taken the lock writes its pid right after: the file is read again
 * for a moment before giving up.
 */
async function verifiedHolder(lockFile: string, task: string): Promise<number | null> {
  for (let attempt = 0; ; attempt++) {
    if (!isLockHeld(lockFile)) return null;
    const pid = readHolderPid(lockFile);
    const holders = flockHolders(lockFile);
    if (pid !== null && holders?.includes(pid)) return pid;
    // No table, or one that keeps not listing a lock that stays held (overlay file systems):
    // the held lock and its pid are all there is to go on.
    if (pid !== null && (holders === null || (holders.length === 0 && attempt >= 2))) return pid;
    if (attempt >= 20) {
      throw new BarmanError(
        'process-holder-mismatch',
        `Cannot terminate process ${task}: its lock file ${lockFile} names ${pid === null ? 'no pid' : `pid ${pid}`}, ` +
          `but ${holders?.length ? `pid ${holders.join(', ')} holds it` : 'another process holds it'}`,
        {
          hint: 'nothing was signalled; run the command again, or stop the holder by hand after checking it',
        },
      );
    }
    await sleep(50);
  }
}
