/**
 * Copies a directory tree on the local file system with a pool of parallel copies
 * (copy_file_range through fs.copyFile), preserving modes and modification times, optionally
 * reusing unchanged files of a previous backup (hard link or local copy), and fsyncing
 * everything before returning. Used by local-rsync backups and local recovery.
 *
 * "Unchanged" means same size and same nanosecond mtime as the previous backup's copy (which
 * was given the source's mtime). A data file changed during the backup is repaired by WAL
 * replay from the backup's start, as for any online backup.
 */
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
} from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { isOpenMode, privateMode } from '../util/private-files.js';
import { createRateLimiter } from '../util/throttle.js';
import type { StartLimiter } from '../util/throttle.js';
import { runWorkers } from '../util/workers.js';

export interface CopyOptions {
  /** Relative paths (from the tree root, '/'-separated) to skip; a trailing '/*' keeps the directory but not its content. */
  exclude: (relativePath: string, isDirectory: boolean) => 'skip' | 'empty' | 'copy';
  /** Previous copy of the same tree, for reuse. */
  reuseFrom?: string | null;
  reuse?: 'off' | 'copy' | 'link';
  jobs: number;
  /** KB/s shared by all copies; null/0 = unlimited. */
  bandwidthLimit?: number | null;
  /**
   * Delta mode (recovery into a used directory): a file already at the target with the same
   * size and the same bytes is kept instead of copied.
   */
  reuseExisting?: boolean;
  /** A file or directory vanishing from the source is an error (restores), not a dropped table (backups). */
  strict?: boolean;
  /**
   * Copies into the catalogue (backups): group and other permissions are dropped from the
   * source's modes, so a group-readable PGDATA is kept private to barman_user.
   */
  privateModes?: boolean;
  /** Stops the copy (between files) with the signal's reason. */
  signal?: AbortSignal;
  /** parallel_jobs_start_batch_*: each copy worker waits its turn to start. */
  startLimiter?: StartLimiter;
  /** Called once the tree is listed (nothing done yet), then after each file, with the running totals. */
  onProgress?: (done: { bytes: number; files: number }, total: { bytes: number; files: number }) => void;
}

export interface CopyStats {
  files: number;
  bytes: number;
  linked: number;
  reused: number;
}

interface FileTask {
  source: string;
  target: string;
  relative: string;
  size: number;
}

export async function copyTree(
  sourceRoot: string,
  targetRoot: string,
  options: CopyOptions,
): Promise<CopyStats> {
  const stats: CopyStats = { files: 0, bytes: 0, linked: 0, reused: 0 };
  const files: FileTask[] = [];
  const directories: Array<{ path: string; mode: number; mtime: Date; atime: Date }> = [];
  await mkdir(targetRoot, { recursive: true, mode: 0o700 });

  async function walk(relative: string): Promise<void> {
    const sourceDir = relative ? join(sourceRoot, relative) : sourceRoot;
    let entries;
    try {
      entries = await readdir(sourceDir, { withFileTypes: true });
    } catch (error) {
      // A directory dropped during the backup (e.g. a dropped database) is not an error.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !options.strict) return;
      throw error;
    }
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
      const source = join(sourceRoot, childRelative);
      const target = join(targetRoot, childRelative);
      const decision = options.exclude(childRelative, entry.isDirectory());
      if (decision === 'skip') continue;
      if (decision === 'empty' && !entry.isDirectory()) {
        // e.g. pg_wal as a link to another disk: an empty directory here, never a link to theirs.
        if (options.reuseExisting) await rm(target, { recursive: true, force: true });
        await mkdir(target, { recursive: true, mode: 0o700 });
      } else if (entry.isDirectory()) {
        const info = await lstat(source).catch(() => null);
        if (!info) continue;
        await mkdir(target, { recursive: true });
        const mode = options.privateModes ? privateMode(info.mode) : info.mode & 0o7777;
        directories.push({ path: target, mode, mtime: info.mtime, atime: info.atime });
        if (decision === 'copy') await walk(childRelative);
      } else if (entry.isSymbolicLink()) {
        const linkTarget = await readlink(source);
        if (options.reuseExisting) await rm(target, { force: true });
        await symlink(linkTarget, target);
      } else if (entry.isFile()) {
        const size = (await lstat(source).catch(() => null))?.size ?? 0;
        files.push({ source, target, relative: childRelative, size });
      }
    }
  }
  await walk('');

  const throttle = createRateLimiter(options.bandwidthLimit ?? null, options.signal);
  const total = { bytes: files.reduce((sum, file) => sum + file.size, 0), files: files.length };
  const done = { bytes: 0, files: 0 };
  options.onProgress?.(done, total);
  await runWorkers(
    options.jobs,
    files,
    async (task) => {
      await copyOne(task, options, stats, throttle);
      done.bytes += task.size;
      done.files += 1;
      options.onProgress?.(done, total);
    },
    options.signal,
    options.startLimiter,
  );
  // Directory times last: creating their entries changed them.
  for (const directory of directories.reverse()) {
    await chmod(directory.path, directory.mode);
    await utimes(directory.path, directory.atime, directory.mtime);
  }
  return stats;
}

async function copyOne(
  task: FileTask,
  options: CopyOptions,
  stats: CopyStats,
  throttle: (bytes: number) => Promise<void>,
): Promise<void> {
  const source = await stat(task.source, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' && !options.strict) return null; // removed during the backup (e.g. a dropped table)
    throw error;
  });
  if (!source) return;
  stats.files += 1;
  stats.bytes += Number(source.size);
  if (options.reuseFrom && options.reuse && options.reuse !== 'off') {
    const previousPath = join(options.reuseFrom, task.relative);
    const previous = await stat(previousPath, { bigint: true }).catch(() => null);
    if (previous && previous.size === source.size && sameMtime(previous.mtimeNs, source.mtimeNs)) {
      // A link shares the previous copy's mode: an older backup's file open to other users is
      // copied instead, and left as it is (nothing writes inside a stored backup).
      if (options.reuse === 'link' && !(options.privateModes && isOpenMode(Number(previous.mode)))) {
        await link(previousPath, task.target);
        stats.linked += 1;
        return;
      }
      await copyFile(previousPath, task.target);
      stats.reused += 1;
      await finish(task.target, source, options.privateModes);
      return;
    }
  }
  if (options.reuseExisting) {
    const existing = await lstat(task.target).catch(() => null);
    // Never write through a link (or over a directory) left in a reused destination.
    if (existing && !existing.isFile()) await rm(task.target, { recursive: true, force: true });
    else if (existing && (await sameContent(task.source, task.target, source.size))) {
      stats.reused += 1;
      await finish(task.target, source, options.privateModes);
      return;
    }
  }
  await throttle(Number(source.size));
  try {
    await copyFile(task.source, task.target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !options.strict) return;
    throw error;
  }
  await finish(task.target, source, options.privateModes);
}

/** True when `target` exists with the size and the exact bytes of `source`. */
async function sameContent(source: string, target: string, size: bigint): Promise<boolean> {
  const existing = await lstat(target).catch(() => null);
  if (!existing?.isFile() || BigInt(existing.size) !== size) return false;
  const a = await open(source, 'r');
  const b = await open(target, 'r').catch(async (error: unknown) => {
    await a.close();
    throw error;
  });
  try {
    const chunk = 1 << 20;
    const left = Buffer.allocUnsafe(chunk);
    const right = Buffer.allocUnsafe(chunk);
    for (let position = 0; ; position += chunk) {
      const [x, y] = await Promise.all([a.read(left, 0, chunk, position), b.read(right, 0, chunk, position)]);
      if (x.bytesRead !== y.bytesRead) return false;
      if (x.bytesRead === 0) return true;
      if (!left.subarray(0, x.bytesRead).equals(right.subarray(0, y.bytesRead))) return false;
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

/**
 * A copy's mtime is set through utimes(), which takes float seconds (~0.25 µs of rounding at
 * today's epoch) and which libuv truncates to whole microseconds: it can differ from its
 * source's by up to ~1.3 µs, so 1 µs of tolerance made reuse fail now and then.
 */
function sameMtime(a: bigint, b: bigint): boolean {
  const delta = a > b ? a - b : b - a;
  return delta < 2000n;
}

/** Same mode (or its private part) and mtime as the source (what reuse compares), then fsync. */
async function finish(target: string, source: BigIntStats, privateModes = false): Promise<void> {
  // Read-only: the owner may set times and fsync, and a 0400 file (server.key) stays readable.
  const handle = await open(target, 'r');
  try {
    await handle.utimes(Number(source.atimeNs) / 1e9, Number(source.mtimeNs) / 1e9);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const mode = Number(source.mode);
  await chmod(target, privateModes ? privateMode(mode) : mode & 0o7777);
}

/** One file, mode (or its private part, see CopyOptions.privateModes) and mtime kept, fsynced. */
export async function copyFileDurably(
  source: string,
  target: string,
  options: Pick<CopyOptions, 'privateModes'> = {},
): Promise<void> {
  const info = await stat(source, { bigint: true });
  await copyFile(source, target);
  await finish(target, info, options.privateModes);
}

/** fsyncs every file and directory under `root` (files copied by another program, e.g. rsync). */
export async function fsyncTree(root: string, jobs: number): Promise<void> {
  const files: string[] = [];
  const directories: string[] = [root];
  for (let index = 0; index < directories.length; index += 1) {
    for (const entry of await readdir(directories[index]!, { withFileTypes: true })) {
      const path = join(directories[index]!, entry.name);
      if (entry.isDirectory()) directories.push(path);
      else if (entry.isFile()) files.push(path);
    }
  }
  let next = 0;
  const worker = async () => {
    while (next < files.length) await fsyncFile(files[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(2, jobs) }, worker));
  for (const directory of directories.reverse()) await fsyncFile(directory);
}

/** fsync of one file or directory. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
