/**
 * The durable-file recipe of the posix driver, also used where barman-ts writes its own local files
 * (spools, journals, configuration state): write a temp file in the same directory, fsync it,
 * rename it over the target, fsync the directory; durable line appends; files private to
 * barman_user. A crash at any point leaves either the old file or the new one (plus, at worst, a
 * temp file that readers ignore).
 */
import { watch } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { chmod, lstat, open, readdir, rename, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { isSystemError, withPath } from '../errors/system.js';
import { isOpenMode, privateMode } from '../util/private-files.js';
import type { WriteOptions } from './index.js';

/** Prefix of temp files: Barman's readers skip dotfiles and `*.tmp`, so ours are both. */
export const TEMP_SUFFIX = '.tmp';

/**
 * Removes group and other permissions from `path` and everything below it (links excepted: a
 * link's own mode means nothing): for trees another program wrote with its source's modes.
 */
export async function makeTreePrivate(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isSymbolicLink()) return;
  if (isOpenMode(info.mode)) await chmod(path, privateMode(info.mode));
  if (info.isDirectory()) for (const name of await readdir(path)) await makeTreePrivate(join(path, name));
}

/**
 * While a program that gives its files modes of its own runs (pg_receivewal writes 0640 files
 * for a group-readable PGDATA, whatever the umask), removes group and other permissions from
 * every file that appears in `directory` (inotify, through fs.watch), and from what is there
 * when it starts and when it stops. `directory` itself is expected private already, so the
 * moment between a file's creation and its chmod exposes nothing.
 */
export async function keepNewFilesPrivate(directory: string): Promise<{ stop(): Promise<void> }> {
  const tighten = (name: string) =>
    makeTreePrivate(join(directory, name)).catch(() => {
      // Renamed or removed meanwhile (a finished .partial): its new name has an event of its own.
    });
  const sweep = async () => {
    for (const name of await readdir(directory)) await tighten(name);
  };
  const pending = new Set<Promise<void>>();
  // 'rename' is a file created, renamed or removed; 'change' (every write) is left alone.
  const watcher = watch(directory, (event, name) => {
    if (event !== 'rename' || !name) return;
    const work = tighten(name);
    pending.add(work);
    void work.finally(() => pending.delete(work));
  });
  watcher.on('error', () => {
    // The directory went away: nothing left to watch.
  });
  await sweep();
  return {
    async stop() {
      watcher.close();
      await Promise.all(pending);
      await sweep().catch(() => {});
    },
  };
}

let tempCounter = 0;

/**
 * A hex token unique to this process and call: the pid (in the name too) tells processes apart,
 * the counter the calls of one process, the clock a reused pid. No node:crypto: importing it
 * costs every archive_command a few milliseconds of start-up.
 */
function uniqueToken(): string {
  tempCounter += 1;
  return `${(process.hrtime.bigint() & 0xffffffffffn).toString(16)}${tempCounter.toString(16)}`;
}

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${uniqueToken()}${TEMP_SUFFIX}`);
}

const TEMP_TAIL = /^\d+-[0-9a-f]+\.tmp$/;

/**
 * Removes from `directory` the temp files (see tempPathFor) that writes killed before their
 * rename left: those of the file `name` only when given, else every one. Only for a caller that
 * excludes every other writer there (holds its lock).
 */
export async function removeTempFiles(directory: string, name?: string): Promise<void> {
  for (const entry of await readdir(directory).catch(() => [] as string[])) {
    if (!entry.startsWith('.')) continue;
    let rest: string;
    if (name === undefined) {
      // `.<name>.<pid>-<token>.tmp`: the token after the last dot but one.
      const match = /^\..+\.(\d+-[0-9a-f]+\.tmp)$/.exec(entry);
      if (!match) continue;
      rest = match[1]!;
    } else {
      if (!entry.startsWith(`.${name}.`)) continue;
      rest = entry.slice(name.length + 2);
    }
    if (TEMP_TAIL.test(rest)) await unlink(join(directory, entry)).catch(() => {});
  }
}

/** A read buffer a caller keeps across calls, so whole-file reads leave no garbage (see readWholeFile). */
export interface ScratchBuffer {
  buffer: Buffer;
}

/**
 * The whole file at `path` in one buffer (`scratch`'s, grown when too small, or a new one);
 * undefined when it is larger than `maxSize`. A file that shrinks while read gives what is there.
 */
export async function readWholeFile(
  path: string,
  options: { maxSize?: number; scratch?: ScratchBuffer } = {},
): Promise<Buffer | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (options.maxSize !== undefined && size > options.maxSize) return undefined;
    const { scratch } = options;
    if (scratch && scratch.buffer.length < size) scratch.buffer = Buffer.allocUnsafeSlow(size);
    const buffer = scratch ? scratch.buffer : Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } catch (error) {
    throw withPath(error, path);
  } finally {
    await handle.close();
  }
}

export async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch (error) {
    throw withPath(error, directory);
  } finally {
    await handle.close();
  }
}

/**
 * Makes a file just copied or linked from someone else's (pg_wal, pg_receivewal, an archive_command
 * running as postgres) barman_user's alone and durable: copies and links keep the source's mode
 * (0640 for a group-readable PGDATA, 0644 after rsync -a), and the writer may not have synced it.
 */
export async function makeFilePrivateAndDurable(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `path` atomically and durably (temp + fsync + rename + fsync dir). */
export async function writeFileDurably(
  path: string,
  data: Buffer | string | Readable,
  options: WriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  let handle: FileHandle | undefined = await open(temp, 'wx', options.mode ?? 0o600).catch(
    (error: unknown) => {
      throw namingTarget(error, temp, path);
    },
  );
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      await handle.writeFile(data);
    } else {
      for await (const chunk of data) await writeAll(handle, chunk as Buffer);
    }
    if (options.mode !== undefined) await handle.chmod(options.mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (options.mtimeMs !== undefined) await utimes(temp, new Date(), new Date(options.mtimeMs));
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw namingTarget(error, temp, path);
  }
  if (!options.deferDirectorySync) await fsyncDirectory(dirname(path));
}

/** The target names the file for the operator, not the temp file written beside it. */
export function namingTarget(error: unknown, temp: string, path: string): unknown {
  if (isSystemError(error) && error.path === temp) {
    error.path = path;
    delete error.dest;
  }
  return withPath(error, path);
}

/**
 * Writes all of `data` at the handle's position. A single write(2) may write less than asked
 * (a file system that fills up mid-write) without failing; FileHandle.write reports that as a
 * short count, not an error, so the rest must be written, which then fails with ENOSPC.
 */
export async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    if (bytesWritten <= 0) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    offset += bytesWritten;
  }
}

/**
 * Appends text lines and fsyncs: they are on disk when the promise resolves. They start on a
 * fresh line (a line a power cut left without its newline is not glued to them). When the append
 * fails (e.g. the disk is full after part of the data), the file is cut back to its previous size
 * so that no torn line is left for the next append to follow.
 */
export async function appendLinesDurably(path: string, lines: string): Promise<void> {
  const handle = await open(path, 'a+', 0o600).catch((error: unknown) => {
    throw withPath(error, path);
  });
  try {
    const { size } = await handle.stat();
    try {
      let separator = '';
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) separator = '\n';
      }
      await writeAll(handle, Buffer.from(separator + lines));
      await handle.sync();
    } catch (error) {
      await handle.truncate(size).catch(() => {});
      throw withPath(error, path);
    }
  } finally {
    await handle.close();
  }
}
