/**
 * The combined data directory on the local disk (the recovery destination): files created
 * exclusively with PostgreSQL's modes, their checksum and size counted as the bytes go out,
 * written in batches and synced only once whole (`syncFile`, by the combine's worker once the
 * file is placed; a sync after each write made the writes small and serial), directories last
 * (`syncPaths`). The result's manifest checksums what the combine writes with CRC32C,
 * pg_combinebackup's and pg_basebackup's default: on the CPU's CRC instruction it costs a
 * fraction of SHA-256, which was a tenth of a chain's recovery.
 */
import { mkdir, open, readdir, readlink, rm, rmdir, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BarmanError } from '../../errors/index.js';
import { fsyncFile } from '../../transfer/copy-tree.js';
import { runWorkers } from '../../util/workers.js';
import { withPath } from '../../errors/system.js';
import type { ManifestChecksum } from '../../catalog/backup-manifest.js';
import { manifestHasher, type ManifestHasher } from '../../catalog/manifest-checksum.js';

export const FILE_MODE = 0o600;
export const DIRECTORY_MODE = 0o700;
/** The manifest algorithm of the files the combine writes (see the top of this file). */
export const COMBINE_CHECKSUM = 'CRC32C';

/** A fresh hasher of COMBINE_CHECKSUM. */
export function combineHasher(): { update(chunk: Uint8Array): void; checksum(): ManifestChecksum } {
  const hasher: ManifestHasher = manifestHasher(COMBINE_CHECKSUM)!;
  return {
    update: (chunk) => hasher.update(chunk),
    checksum: () => ({ algorithm: COMBINE_CHECKSUM, value: hasher.digest() }),
  };
}
/** Writes are gathered to this size: fewer system calls than one per block. */
const WRITE_BATCH_BYTES = 1 << 20;

export class OutputFile {
  private readonly hash = combineHasher();
  private batch: Buffer[] = [];
  private batchBytes = 0;
  size = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
  ) {}

  static async create(path: string): Promise<OutputFile> {
    const handle = await open(path, 'wx', FILE_MODE).catch((error: unknown) => {
      throw withPath(error, path);
    });
    return new OutputFile(handle, path);
  }

  async write(data: Buffer): Promise<void> {
    this.hash.update(data);
    this.size += data.length;
    this.batch.push(data);
    this.batchBytes += data.length;
    if (this.batchBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  /** Writes what is gathered and closes (syncPaths syncs it later); the checksum of everything written. */
  async finish(): Promise<ManifestChecksum> {
    try {
      await this.flush();
    } catch (error) {
      throw withPath(error, this.path);
    } finally {
      await this.handle.close();
    }
    return this.hash.checksum();
  }

  /** Closes without syncing (after a failure elsewhere). */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }

  private async flush(): Promise<void> {
    if (this.batchBytes === 0) return;
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    await this.handle.writev(batch).catch((error: unknown) => {
      throw withPath(error, this.path);
    });
  }
}

export async function makeDirectory(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: DIRECTORY_MODE }).catch((error: unknown) => {
    throw withPath(error, path);
  });
}

/** A symbolic link; one already there to the same target (a recovery made it) is kept. */
export async function makeLink(target: string, path: string): Promise<void> {
  try {
    await symlink(target, path);
  } catch (error) {
    const existing = await readlink(path).catch(() => null);
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && existing === target) return;
    throw withPath(error, path);
  }
}

/** fsync of one file or directory, naming it when that fails. */
export async function syncFile(path: string): Promise<void> {
  await fsyncFile(path).catch((error: unknown) => {
    throw withPath(error, path);
  });
}

/** fsync of files, then of directories (so that the names survive a crash too), `jobs` at a time. */
export async function syncPaths(
  files: readonly string[],
  directories: readonly string[],
  jobs: number,
): Promise<void> {
  await runWorkers(jobs, files, syncFile);
  await runWorkers(jobs, directories, syncFile);
}

/** A destination root of the combine, and whether it was there (empty) before. */
export interface CreatedRoot {
  path: string;
  existed: boolean;
}

/** True when `path` is an empty directory, false when missing; refuses anything else. */
export async function requireEmptyOrMissing(path: string): Promise<boolean> {
  try {
    const entries = await readdir(path);
    if (entries.length > 0)
      throw new BarmanError('combine-destination', `destination ${path} is not empty`, {
        hint: 'combine into a new or empty directory',
      });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw withPath(error, path);
  }
}

/** After a failure: what the combine wrote goes, roots that existed stay (empty). */
export async function removeCreated(roots: readonly CreatedRoot[]): Promise<void> {
  for (const root of roots) {
    if (!root.existed) {
      await rm(root.path, { recursive: true, force: true });
      continue;
    }
    const entries = await readdir(root.path).catch(() => [] as string[]);
    for (const entry of entries) await rm(join(root.path, entry), { recursive: true, force: true });
  }
}

/**
 * Removes files of a data directory the combine replaces or drops (its full backup was extracted
 * there), then those of their directories left empty, deepest first, except `keep`.
 */
export async function removeReplaced(files: readonly string[], keep: ReadonlySet<string>): Promise<void> {
  const parents = new Set<string>();
  for (const file of files) {
    await removeFile(file);
    parents.add(dirname(file));
  }
  for (const directory of [...parents].sort((a, b) => b.length - a.length)) {
    if (keep.has(directory)) continue;
    // Not empty (or gone): it stays as it is.
    await rmdir(directory).catch(() => undefined);
  }
}

/** Removes one file (a missing one is not an error). */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true }).catch((error: unknown) => {
    throw withPath(error, path);
  });
}
