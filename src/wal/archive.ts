/**
 * A server's WAL archive on its Storage, in the layout its location calls for, written once for
 * both: Barman's on a directory (`<hash>/<name>`, compression found by magic bytes, xlog.db as
 * the index, see xlogdb-file.ts) and barman-cloud's on an object store (`<hash>/<name><ext>`,
 * the extension naming the compression, no xlog.db: the listing is the index). Finding, opening,
 * listing, rebuilding the index and removing files go through here; storing is the archiver's
 * (archive-store.ts: a directory with its batched xlog.db commits, or an object store through
 * cloud-archive.ts).
 * No codec and no AWS SDK is loaded by this module itself.
 */
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/index.js';
import type { Storage, StorageOptions } from '../storage/index.js';
import { PosixStorage, storageFor } from '../storage/index.js';
import type { CloudCompression } from './cloud-layout.js';
import { cloudWalPath, parseCloudWalPath } from './cloud-layout.js';
import type { CustomCompression } from '../transfer/compression/types.js';
import type { PassphraseSource } from '../transfer/passphrase.js';
import { passphraseSourceOf } from '../transfer/passphrase.js';
import { customWalCompression } from './custom-compression.js';
import { hashDir, parseWalName } from './names.js';
import type { XlogDbEntry } from './xlogdb.js';

/** `barman`: a directory in Barman's layout; `barman-cloud`: an object store in barman-cloud's. */
export type WalLayout = 'barman' | 'barman-cloud';

/** A file found in the archive. */
export interface ArchivedWal {
  name: string;
  /** Relative to the archive's storage root. */
  path: string;
  size: number;
  /**
   * Known from the object's extension (barman-cloud); `undefined` in Barman's layout, where the
   * file's magic bytes say it when it is opened.
   */
  compression?: CloudCompression | null;
  /** Stored as `<name><ext>.gpg` (barman-cloud's layout with `encryption = gpg`). */
  encrypted?: boolean;
}

export interface RebuildResult {
  entries: XlogDbEntry[];
  counts: { history: number; backupLabels: number; walFiles: number };
  skipped: string[];
}

export class WalArchive {
  constructor(
    readonly storage: Storage,
    readonly layout: WalLayout,
    readonly custom: CustomCompression | null,
    /** The passphrase of encrypted files (`encryption_passphrase_command`), null when unset. */
    readonly passphrase: PassphraseSource | null = null,
  ) {}

  /** Where the archive lives, for messages. */
  get location(): string {
    return this.storage.location;
  }

  /**
   * The path of `name` stored with `compression`, encrypted or not (Barman's layout names
   * neither: its files keep the WAL name).
   */
  pathOf(name: string, compression: CloudCompression | null = null, encrypted = false): string {
    if (this.layout === 'barman-cloud') return cloudWalPath(name, compression, encrypted);
    const directory = hashDir(name);
    return directory ? `${directory}/${name}` : name;
  }

  /** The stored copies of `name`: at most one in Barman's layout, one per extension in barman-cloud's. */
  async find(name: string): Promise<ArchivedWal[]> {
    if (this.layout === 'barman') {
      const path = this.pathOf(name);
      const info = await this.storage.stat(path).catch((error: NodeJS.ErrnoException) => {
        // A hash "directory" that is a file: nothing archived under it.
        if (error.code === 'ENOTDIR') return null;
        throw error;
      });
      return info?.kind === 'file' ? [{ name, path, size: info.size }] : [];
    }
    const objects = await this.storage.listPrefix(this.pathOf(name));
    return objects.flatMap((object) => {
      const parsed = parseCloudWalPath(object.path);
      return parsed?.name === name
        ? [
            {
              name,
              path: object.path,
              size: object.size,
              compression: parsed.compression,
              ...(parsed.encrypted ? { encrypted: true } : {}),
            },
          ]
        : [];
    });
  }

  /**
   * Opens an archived file, decompressed unless `raw`. A file that does not decompress fails
   * the stream with an error naming it (the codecs load only for a compressed file).
   */
  async open(file: ArchivedWal, options: { raw?: boolean } = {}): Promise<Readable> {
    const { openArchivedWal } = await import('./archive-read.js');
    return openArchivedWal(this, file, options);
  }

  /** Opens the archived file of an index entry (recovery): its compression says which object. */
  async openEntry(entry: XlogDbEntry): Promise<Readable> {
    const compression =
      this.layout === 'barman-cloud' ? (entry.compression as CloudCompression | null) : undefined;
    const encrypted = this.layout === 'barman-cloud' && entry.encryption !== null;
    return this.open({
      name: entry.name,
      path: this.pathOf(entry.name, compression ?? null, encrypted),
      size: entry.size,
      compression,
      ...(encrypted ? { encrypted } : {}),
    });
  }

  /**
   * Every archived file, as xlog.db lines: what `rebuild-xlogdb` writes (Barman's layout) and
   * the index itself (barman-cloud's). History files first, then the hash directories' files
   * in name order (Barman's order); `.partial` and strangers are skipped and reported.
   */
  async scan(): Promise<RebuildResult> {
    const { scanWalArchive } = await import('./rebuild.js');
    return scanWalArchive(this);
  }

  /**
   * Removes archived files. `each`, when given, runs around each removal (wal_delete hook
   * scripts) with the file's path for messages; without it an object store deletes in batches.
   * Hash directories left empty go too (Barman's layout).
   */
  async remove(
    files: ReadonlyArray<{ name: string; compression?: string | null; encryption?: string | null }>,
    each?: (file: { name: string; path: string }, remove: () => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const paths = await Promise.all(
      files.map(async (file) => {
        if (this.layout === 'barman') return [this.pathOf(file.name)];
        if (file.compression !== undefined && file.encryption !== undefined)
          return [
            this.pathOf(file.name, file.compression as CloudCompression | null, file.encryption !== null),
          ];
        return (await this.find(file.name)).map((found) => found.path);
      }),
    );
    if (each) {
      for (const [index, file] of files.entries()) {
        for (const path of paths[index]!) {
          const shown = this.storage.localPath ? this.storage.localPath(path) : `${this.location}/${path}`;
          await each({ name: file.name, path: shown }, () => this.storage.remove(path));
        }
      }
    } else {
      await this.storage.removeMany(paths.flat());
    }
    if (!this.storage.removeEmptyDirectory) return;
    const directories = new Set(
      paths.flat().flatMap((path) => (path.includes('/') ? [path.slice(0, path.lastIndexOf('/'))] : [])),
    );
    for (const directory of directories)
      await this.storage.removeEmptyDirectory(directory).catch(() => false);
  }

  close(): void {
    this.storage.close();
  }
}

/** The layout a location calls for. */
export function walLayoutOf(config: ServerConfig): WalLayout {
  return config.wals_directory.kind === 's3' ? 'barman-cloud' : 'barman';
}

/** The server's WAL archive (the AWS SDK loads only for an s3:// wals_directory). */
export async function openWalArchive(
  config: ServerConfig,
  options: StorageOptions = {},
): Promise<WalArchive> {
  const storage = await storageFor(config, config.wals_directory, options);
  return new WalArchive(
    storage,
    walLayoutOf(config),
    customWalCompression(config),
    passphraseSourceOf(config),
  );
}

/**
 * A WAL archive in Barman's layout in a local directory (WAL removal, which works from the
 * server's directories): compression is not needed to find or remove its files.
 */
export function localWalArchive(walsDirectory: string, custom: CustomCompression | null = null): WalArchive {
  return new WalArchive(new PosixStorage(walsDirectory), 'barman', custom);
}

/** Whether `name` is a WAL file name an archive holds (segment, partial, backup label, history). */
export function isArchivableName(name: string): boolean {
  const wal = parseWalName(name);
  return wal !== null && wal.name === name;
}
