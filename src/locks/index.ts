/**
 * Named lock files, compatible with Barman's: `<lock dir>/.<server>-<task>.lock`, mode 0600,
 * an exclusive non-blocking flock(), and the holder's pid written into the file once locked.
 * The kernel releases a flock when its holder dies, so a kill -9 never leaves a stale lock,
 * and Barman and barman-ts exclude each other on a shared catalogue. The only importer of fs-ext.
 */
import { flockSync } from 'fs-ext';
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';

/** Tasks that take a per-server lock (Barman's names). */
export type LockTask =
  'backup' | 'cron' | 'archive-wal' | 'receive-wal' | 'xlogdb' | 'sync-wal' | `backup-${string}`;

export function serverLockPath(lockDirectory: string, server: string, task: string): string {
  return join(lockDirectory, `.${server}-${task}.lock`);
}

/** Lock file of one backup (delete, check-backup): `.<server>-<backup id>.lock`. */
export function backupLockPath(lockDirectory: string, server: string, backupId: string): string {
  return join(lockDirectory, `.${server}-${backupId}.lock`);
}

export class LockBusyError extends BarmanError {
  constructor(
    readonly path: string,
    readonly holderPid: number | null,
    message: string,
  ) {
    super('lock-busy', message);
    this.name = 'LockBusyError';
  }
}

export interface HeldLock {
  readonly path: string;
  /** Unlocks and closes; the file stays (as Barman leaves it). Safe to call twice. */
  release(): void;
}

export interface AcquireOptions {
  /** Wait up to this long for the lock (polling); 0 = fail at once when busy. */
  waitMs?: number;
  /** Message of the LockBusyError when the lock stays busy. */
  busyMessage?: string;
}

/** Takes the lock or throws LockBusyError. */
export async function acquireLock(path: string, options: AcquireOptions = {}): Promise<HeldLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    const lock = tryAcquireLock(path);
    if (lock) return lock;
    if (Date.now() >= deadline) {
      const holder = readHolderPid(path);
      throw new LockBusyError(
        path,
        holder,
        options.busyMessage ?? `lock ${path} is held by another process${holder ? ` (pid ${holder})` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Takes the lock if it is free; null when another process holds it. */
export function tryAcquireLock(path: string): HeldLock | null {
  return tryFlock(path, 'exnb');
}

/**
 * Takes a shared hold on the lock: any number of shared holders, but no exclusive one (a backup
 * being recovered cannot be deleted, and the reverse). Null while another process holds it
 * exclusively. Shared holders do not write their pid: the file's pid is the last exclusive holder's.
 */
export function tryAcquireSharedLock(path: string): HeldLock | null {
  return tryFlock(path, 'shnb');
}

function tryFlock(path: string, mode: 'exnb' | 'shnb'): HeldLock | null {
  let fd: number;
  try {
    fd = openSync(path, 'a+', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Usually a lock file left by another user (root running barman without barman_user).
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new BarmanError('lock-unwritable', `cannot open the lock file ${path} (${code})`, {
        hint: 'run barman as barman_user, and give that user the lock files and barman_lock_directory',
        cause: error,
      });
    }
    throw error;
  }
  try {
    flockSync(fd, mode);
  } catch (error) {
    closeSync(fd);
    if (
      (error as NodeJS.ErrnoException).code === 'EAGAIN' ||
      (error as NodeJS.ErrnoException).code === 'EWOULDBLOCK'
    )
      return null;
    throw error;
  }
  if (mode === 'exnb') {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        flockSync(fd, 'un');
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** Pid of the process holding `path`, or null when the lock is free (or the file is missing). */
export function lockHolder(path: string): number | null {
  let probe: HeldLock | null;
  try {
    probe = tryAcquireLock(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (probe) {
    probe.release();
    return null;
  }
  return readHolderPid(path);
}

function readHolderPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Runs `work` while holding the lock at `path`; always releases it. */
export async function withLock<T>(path: string, options: AcquireOptions, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await work();
  } finally {
    lock.release();
  }
}
