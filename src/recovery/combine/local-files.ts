/**
 * The fast paths of a combine whose backups are in a local directory (a Storage with
 * `localPath`, as the recovery tree copy uses): whole files copied by the kernel
 * (copy_file_range through fs.copyFile), cloned (FICLONE) or hard-linked as `combine_mode`
 * asks, and the blocks of a reconstructed file read at their offsets (pread) instead of
 * streamed from the file's start. An object store's backups take the streaming paths.
 */
import { randomBytes } from 'node:crypto';
import { constants, readSync, type BigIntStats } from 'node:fs';
import { copyFile, link, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BarmanError } from '../../errors/index.js';
import { withPath } from '../../errors/system.js';
import type { ManifestChecksum } from '../../catalog/backup-manifest.js';
import { combineHasher } from './output.js';

/** How a whole file reaches the destination: `copy` and `copy-file-range` are kernel copies. */
export type WholeFileMode = 'copy' | 'copy-file-range' | 'clone' | 'link';

/** Reads while hashing a patched file. */
const HASH_READ_BYTES = 4 << 20;

const UNSUPPORTED = new Set(['EXDEV', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EMLINK', 'ENOSYS', 'EINVAL']);

/** A mode the file systems cannot do is refused by name, never replaced by a copy. */
function refuseMode(mode: WholeFileMode, source: string, target: string, error: unknown): BarmanError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  const what =
    mode === 'link'
      ? 'hard-link files of the backups into it (different file systems?)'
      : 'clone files of the backups into it (cloning needs one file system with reflinks: XFS, Btrfs …)';
  return new BarmanError(
    'combine-mode-unsupported',
    `combine_mode = ${mode}: the file system of ${target} cannot ${what}: ${code} on ${source}; set combine_mode = copy`,
    { hint: 'set combine_mode = copy (or --combine-mode copy)' },
  );
}

/**
 * Refuses, before a recovery writes anything, a `link` or `clone` mode the file system of
 * `destination` (a directory that may not exist yet) cannot do with `source`, a file of a
 * backup: one probe file placed in its nearest existing directory, then removed. Other errors
 * (a directory the user cannot write …) are not the mode's: the recovery meets and reports them
 * where they happen.
 */
export async function probeWholeFileMode(
  mode: WholeFileMode,
  source: string,
  destination: string,
): Promise<void> {
  if (mode !== 'link' && mode !== 'clone') return;
  const directory = await nearestExistingDirectory(destination);
  const probe = join(directory, `.barman-combine-probe-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    if (mode === 'link') await link(source, probe);
    else await copyFile(source, probe, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
  } catch (error) {
    if (UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? ''))
      throw refuseMode(mode, source, destination, error);
  } finally {
    await rm(probe, { force: true });
  }
}

async function nearestExistingDirectory(path: string): Promise<string> {
  for (let current = resolve(path); ; current = dirname(current)) {
    const found = await stat(current).catch(() => null);
    if (found?.isDirectory() || current === dirname(current)) return current;
  }
}

/** Copies, clones or links `source` (a backup file) to the new file `target`. */
export async function placeWholeFile(mode: WholeFileMode, source: string, target: string): Promise<void> {
  try {
    if (mode === 'link') await link(source, target);
    else
      await copyFile(
        source,
        target,
        constants.COPYFILE_EXCL | (mode === 'clone' ? constants.COPYFILE_FICLONE_FORCE : 0),
      );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if ((mode === 'link' || mode === 'clone') && UNSUPPORTED.has(code))
      throw refuseMode(mode, source, target, error);
    throw withPath(error, target);
  }
}

/** The size of a placed file (a kernel copy is checked against what the listing said). */
export async function sizeOf(path: string): Promise<number> {
  const info: BigIntStats = await stat(path, { bigint: true }).catch((error: unknown) => {
    throw withPath(error, path);
  });
  return Number(info.size);
}

/** Reads byte ranges of one local backup file at their offsets. */
export class LocalRangeReader {
  private handle: FileHandle | null = null;

  constructor(
    private readonly path: string,
    /** For messages: `<backup>: <file>`. */
    private readonly label: string,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    this.handle ??= await open(this.path, 'r').catch((error: unknown) => {
      throw withPath(error, this.path);
    });
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0)
        throw new Error(
          `${this.label} ends at byte ${offset + done}, before the ${length} bytes expected at offset ${offset}`,
        );
      done += bytesRead;
    }
    return buffer;
  }

  close(): void {
    const handle = this.handle;
    this.handle = null;
    void handle?.close().catch(() => undefined);
  }
}

/** A placed file whose blocks are overwritten at their offsets, then hashed whole. */
export async function openForPatch(path: string) {
  const handle = await open(path, 'r+').catch((error: unknown) => {
    throw withPath(error, path);
  });
  let size = 0;
  /** The length it was cut or extended to: what the checksum reads back. */
  let length = 0;
  const fail = (error: unknown) => {
    throw withPath(error, path);
  };
  return {
    get size() {
      return size;
    },
    /** Its size as placed, before any change. */
    placedSize: () =>
      handle.stat().then(
        (info) => info.size,
        (error: unknown) => fail(error),
      ),
    truncate: (to: number) => {
      length = to;
      return handle.truncate(to).catch(fail);
    },
    async write(data: Buffer, position: number): Promise<void> {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle
          .write(data, done, data.length - done, position + done)
          .catch(fail);
        done += bytesWritten;
      }
    },
    /**
     * Reads `length` bytes at `position` into `buffer` (the file's current content there), on
     * the calling thread: the bytes a run overwrites are a few KiB the kernel copy just put in the
     * page cache, and a chain's ~6,000 runs each through the thread pool cost more round trips
     * than reading (as PosixStorage.readHead's descriptor reads).
     */
    read(buffer: Buffer, length: number, position: number): Buffer {
      let done = 0;
      while (done < length) {
        let bytesRead: number;
        try {
          bytesRead = readSync(handle.fd, buffer, done, length - done, position + done);
        } catch (error) {
          throw withPath(error, path);
        }
        if (bytesRead === 0) throw withPath(new Error(`ends before byte ${position + length}`), path);
        done += bytesRead;
      }
      return buffer.subarray(0, length);
    },
    /** Closes it, its checksum known otherwise (crc32c-combine.ts). */
    close: () => handle.close(),
    /** Checksum of the whole file (from the page cache: it was just written), then closed. */
    async finish(): Promise<ManifestChecksum> {
      try {
        const hash = combineHasher();
        // No bigger than the file: most relation segments are a few blocks, and a 4 MiB buffer
        // for each of them was gigabytes of garbage for a chain's recovery.
        const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(HASH_READ_BYTES, length)));
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, size).catch(fail);
          if (bytesRead === 0) break;
          hash.update(buffer.subarray(0, bytesRead));
          size += bytesRead;
        }
        return hash.checksum();
      } finally {
        await handle.close();
      }
    },
    abandon: () => handle.close().catch(() => undefined),
  };
}
