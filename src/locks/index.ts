/**
 * Named lock files, compatible with Barman's: `<lock dir>/.<server>-<task>.lock`, mode 0600,
 * an exclusive non-blocking flock(), and the holder's pid written into the file once locked.
 * The kernel releases a flock when its holder dies, so a kill -9 never leaves a stale lock,
 * and Barman and barman-ts exclude each other on a shared catalogue. The only importer of fs-ext.
 */
import { flockSync } from 'fs-ext';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';

/** Tasks that take a per-server lock (Barman's names). */
export type LockTask =
  'backup' | 'cron' | 'archive-wal' | 'receive-wal' | 'xlogdb' | 'sync-wal' | `backup-${string}`;

export function serverLockPath(lockDirectory: string, server: string, task: string): string {
  return join(lockDirectory, `.${server}-${task}.lock`);
}

/** Creates the lock directory (and its parents) if missing, before a lock is taken in it. */
export async function ensureLockDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true });
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
  /**
   * Removes the lock file, then releases: removed while still held, so a process that opens
   * the path meanwhile locks a new file, never one being removed (a per-backup lock, whose file
   * would otherwise stay after the backup is gone).
   */
  removeAndRelease(): void;
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
  // A lock file removed while we were locking it (lock_directory_cleanup, delete) is no lock:
  // whoever opens the path next gets a new file. Retry on the file the path names now.
  for (;;) {
    const fd = lockFile(path, mode);
    if (fd === null) return null;
    if (namesFile(path, fd)) return holding(path, fd, mode);
    flockSync(fd, 'un');
    closeSync(fd);
  }
}

/** A locked descriptor of `path`, or null when the lock is busy. */
function lockFile(path: string, mode: 'exnb' | 'shnb'): number | null {
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
  return fd;
}

/** True while `path` is still the file open as `fd` (not unlinked or replaced). */
function namesFile(path: string, fd: number): boolean {
  const open = fstatSync(fd);
  try {
    const named = statSync(path);
    return named.ino === open.ino && named.dev === open.dev;
  } catch {
    return false;
  }
}

function holding(path: string, fd: number, mode: 'exnb' | 'shnb'): HeldLock {
  if (mode === 'exnb') {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    try {
      flockSync(fd, 'un');
    } finally {
      closeSync(fd);
    }
  };
  return {
    path,
    release,
    removeAndRelease() {
      try {
        if (held && namesFile(path, fd)) unlinkSync(path);
      } catch {
        // already gone: nothing to remove
      } finally {
        release();
      }
    },
  };
}

/**
 * lock_directory_cleanup: removes the lock files (`.*.lock`) of `directory` that nobody holds,
 * each while holding its lock, so a lock in use is never removed; returns the removed paths.
 */
export function removeUnusedLockFiles(directory: string): string[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names.filter((entry) => entry.startsWith('.') && entry.endsWith('.lock')).sort()) {
    const path = join(directory, name);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      continue; // gone meanwhile, or not ours to open
    }
    try {
      flockSync(fd, 'exnb');
    } catch {
      closeSync(fd);
      continue; // held: in use
    }
    try {
      // Still the file we locked (another cleanup may have replaced it): then nobody holds it.
      if (namesFile(path, fd)) {
        unlinkSync(path);
        removed.push(path);
      }
    } catch {
      // removed by someone else meanwhile
    } finally {
      flockSync(fd, 'un');
      closeSync(fd);
    }
  }
  return removed;
}

/** Pid of the process holding `path`, or null when the lock is free (or the file is missing). */
export function lockHolder(path: string): number | null {
  return isLockHeld(path) ? readHolderPid(path) : null;
}

/**
 * Whether a process holds the lock at `path` (false when the file is missing). The probe takes
 * and gives back the lock without writing: the file keeps the pid of its last holder, as
 * Barman's own probe leaves it, and a missing file is not created.
 */
export function isLockHeld(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new BarmanError('lock-unreadable', `cannot open the lock file ${path} (${code})`, {
        hint: 'run barman as barman_user, the owner of the lock files in barman_lock_directory',
        cause: error,
      });
    }
    throw error;
  }
  try {
    flockSync(fd, 'exnb');
  } catch (error) {
    closeSync(fd);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return true;
    throw error;
  }
  flockSync(fd, 'un');
  closeSync(fd);
  return false;
}

/** The pid written in the lock file at `path` (its last exclusive holder), or null. */
export function readHolderPid(path: string): number | null {
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
