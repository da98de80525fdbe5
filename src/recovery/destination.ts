/**
 * Where a recovery writes: a local directory (here), or a directory on another host reached with
 * the user's --remote-ssh-command (remote-destination.ts). Both offer the same operations so
 * apply.ts does not care which it has.
 */
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { CopyStats } from '../transfer/copy-tree.js';
import { copyTree } from '../transfer/copy-tree.js';
import type { StartLimiter } from '../util/throttle.js';
import { isProcessAlive } from '../util/process-alive.js';

export type DirectoryState = (
  | { kind: 'missing' }
  | { kind: 'not-directory' }
  | { kind: 'empty' }
  | { kind: 'used'; entries: string[] }
  | { kind: 'running'; pid: number }
) & {
  /** Set when the path itself is a symbolic link: where it points. */
  linkTarget?: string;
};

export interface TreeCopyOptions {
  /** Relative path ('/'-separated) -> what to do with it. */
  exclude: (relative: string, isDirectory: boolean) => 'skip' | 'empty' | 'copy';
  jobs: number;
  bandwidthLimit: number | null;
  /** Keep identical files already there, remove files the source does not have. */
  delta: boolean;
  /** Relative paths delta mode must never remove (e.g. pg_tblspc links, the WAL directory). */
  protect?: (relative: string) => boolean;
  onProgress?: (done: { bytes: number; files: number }, total: { bytes: number; files: number }) => void;
  signal?: AbortSignal;
  /** parallel_jobs_start_batch_*: each copy worker (rsync process, copy loop) waits its turn. */
  startLimiter?: StartLimiter;
}

export interface RecoveryDestination {
  readonly remoteCommand: string | null;
  /** Fails with a clear error when the destination host cannot be reached. */
  checkReachable(): Promise<void>;
  /** The state of each path (one round trip for a remote host). */
  inspect(paths: readonly string[]): Promise<DirectoryState[]>;
  /** Creates the directories (mode 0700) then the symbolic links (replacing what is there). */
  createLayout(
    directories: readonly string[],
    links: ReadonlyArray<{ target: string; path: string }>,
  ): Promise<void>;
  /** Copies a local directory tree into `path` (created when missing). */
  copyTree(source: string, path: string, options: TreeCopyOptions): Promise<CopyStats>;
  /** The content of each file, null when it does not exist. */
  readFiles(paths: readonly string[]): Promise<Array<string | null>>;
  /** Writes small files (mode 0600). */
  writeFiles(files: ReadonlyArray<{ path: string; content: string }>): Promise<void>;
  /** Renames when `from` exists; no-op otherwise. */
  renameIfExists(from: string, to: string): Promise<boolean>;
}

/** Local directory entries that exist but are not user data (ignored when checking emptiness). */
export const IGNORABLE = new Set(['lost+found']);

export class LocalDestination implements RecoveryDestination {
  readonly remoteCommand = null;

  checkReachable(): Promise<void> {
    return Promise.resolve();
  }

  async inspect(paths: readonly string[]): Promise<DirectoryState[]> {
    return Promise.all(paths.map((path) => inspectLocal(path)));
  }

  async createLayout(
    directories: readonly string[],
    links: ReadonlyArray<{ target: string; path: string }>,
  ): Promise<void> {
    // What this call creates goes again when a later step fails (a tablespace location that
    // cannot be created): a refused recovery leaves no empty destination behind.
    const created: string[] = [];
    try {
      for (const directory of directories) {
        const first = await mkdir(directory, { recursive: true, mode: 0o700 });
        if (first !== undefined) created.push(first);
        await chmod(directory, 0o700); // PostgreSQL refuses a data directory open to others
      }
      for (const link of links) {
        await rm(link.path, { recursive: true, force: true });
        await symlink(link.target, link.path);
      }
    } catch (error) {
      for (const directory of created.reverse()) await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  async copyTree(source: string, path: string, options: TreeCopyOptions): Promise<CopyStats> {
    if (options.delta) await removeExtraneousLocal(source, path, options);
    return copyTree(source, path, {
      exclude: options.exclude,
      jobs: options.jobs,
      bandwidthLimit: options.bandwidthLimit,
      reuseExisting: options.delta,
      strict: true,
      ...(options.startLimiter ? { startLimiter: options.startLimiter } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async readFiles(paths: readonly string[]): Promise<Array<string | null>> {
    return Promise.all(paths.map((path) => readFile(path, 'utf8').catch(() => null)));
  }

  async writeFiles(files: ReadonlyArray<{ path: string; content: string }>): Promise<void> {
    for (const file of files) {
      // Never write through a link (e.g. postgresql.conf pointing into /etc).
      if ((await lstat(file.path).catch(() => null))?.isSymbolicLink()) await unlink(file.path);
      await writeFile(file.path, file.content, { mode: 0o600 });
    }
  }

  async renameIfExists(from: string, to: string): Promise<boolean> {
    if (!(await lstat(from).catch(() => null))) return false;
    await rename(from, to);
    return true;
  }
}

async function inspectLocal(path: string): Promise<DirectoryState> {
  const linkTarget = (await lstat(path).catch(() => null))?.isSymbolicLink()
    ? await readlink(path)
    : undefined;
  const link = linkTarget === undefined ? {} : { linkTarget };
  const info = await stat(path).catch(() => null);
  if (!info) return { kind: 'missing', ...link };
  if (!info.isDirectory()) return { kind: 'not-directory', ...link };
  const pid = await readPid(join(path, 'postmaster.pid'));
  if (pid !== null && isProcessAlive(pid)) return { kind: 'running', pid, ...link };
  const entries = (await readdir(path)).filter((name) => !IGNORABLE.has(name));
  return entries.length === 0
    ? { kind: 'empty', ...link }
    : { kind: 'used', entries: entries.sort(), ...link };
}

async function readPid(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Delta mode: removes destination files and links the source does not have. */
async function removeExtraneousLocal(
  source: string,
  target: string,
  options: TreeCopyOptions,
): Promise<void> {
  const walk = async (relative: string): Promise<void> => {
    const directory = relative ? join(target, relative) : target;
    const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
      if (options.protect?.(childRelative)) continue;
      const decision = options.exclude(childRelative, entry.isDirectory());
      const inSource = await lstat(join(source, childRelative)).catch(() => null);
      const targetPath = join(target, childRelative);
      if (decision === 'skip' || !inSource || inSource.isDirectory() !== entry.isDirectory()) {
        await rm(targetPath, { recursive: true, force: true });
      } else if (entry.isDirectory() && decision === 'copy') {
        await walk(childRelative);
      } else if (entry.isDirectory() && decision === 'empty') {
        for (const name of await readdir(targetPath))
          await rm(join(targetPath, name), { recursive: true, force: true });
      }
    }
  };
  if (await lstat(target).catch(() => null)) await walk('');
}

/** Files (with sizes) and directories of a local tree after exclusions, '/'-separated relative paths. */
export async function listLocalTree(
  root: string,
  exclude: TreeCopyOptions['exclude'],
): Promise<{ files: Array<{ path: string; size: number }>; directories: string[] }> {
  const files: Array<{ path: string; size: number }> = [];
  const directories: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await readdir(relative ? join(root, relative) : root, { withFileTypes: true })) {
      const childRelative = relative ? `${relative}/${entry.name}` : entry.name;
      const decision = exclude(childRelative, entry.isDirectory());
      if (decision === 'skip') continue;
      if (decision === 'empty' || entry.isDirectory()) {
        directories.push(childRelative);
        if (decision === 'copy' && entry.isDirectory()) await walk(childRelative);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        const size = entry.isFile() ? (await lstat(join(root, childRelative))).size : 0;
        files.push({ path: childRelative, size });
      }
    }
  };
  await walk('');
  return { files, directories };
}
