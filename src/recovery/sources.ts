/**
 * Where a recovery reads from: a backup's files and the archived WAL files, through the Storage
 * of basebackups_directory and of wals_directory, whatever the driver (a directory or a bucket)
 * and whichever layout (layout.ts) holds them. Everything is handed out as streams, so tar
 * extraction and WAL decompression are the same code for every source; nothing is read whole.
 */
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { isSystemError } from '../errors/system.js';
import type { Storage } from '../storage/index.js';
import { storageFor } from '../storage/index.js';
import type { WalArchive } from '../wal/archive.js';
import { openWalArchive } from '../wal/archive.js';
import type { CompressionName } from '../transfer/compression/index.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import type { BackupLayout } from './layout.js';
import { backupLayoutFor } from './layout.js';
import { archiveCompression } from '../transfer/tar-archives.js';
import { decryptStream, GPG_ENCRYPTION } from '../transfer/gpg.js';
import { noPassphraseCommand, passphraseSourceOf, type PassphraseSource } from '../transfer/passphrase.js';

const ENCRYPTED_SUFFIX = `.${GPG_ENCRYPTION}`;

export interface BackupArchive {
  /** File or object name, e.g. `base.tar.gz`, `data_0001.tar`, `16385.tar.lz4`. */
  name: string;
  /** `base` / `data` for PGDATA, a tablespace oid otherwise. */
  base: string;
  compression: CompressionName | null;
  /** Where it is, for messages. */
  location: string;
  /** Stored as `<name>.gpg` (`encryption = gpg`): decrypted as it is read. */
  encrypted?: boolean;
}

export interface BackupArchives {
  /** Where the backup is, for messages: a directory or an s3:// URL. */
  readonly location: string;
  /** Where its archives and backup_manifest are (`<id>/data` in Barman's layout), for messages. */
  readonly archiveLocation: string;
  /** The base name of the PGDATA archive in this layout (`base` or `data`). */
  readonly pgdataArchive: string;
  list(): Promise<BackupArchive[]>;
  open(archive: BackupArchive): Promise<Readable>;
  /** The backup's backup_manifest text, or null when it has none. */
  manifest(): Promise<string | null>;
  /**
   * A plain backup's copy of PGDATA (`data`) or of a tablespace (its oid) as a local directory,
   * for the programs that copy it (rsync, the native tree copy); refused where there is none.
   */
  plainCopy(part: string): string;
}

/** Opens an archived WAL file, decompressed. */
export type WalOpener = (entry: XlogDbEntry) => Promise<Readable>;

/** `location/path`, naming a file of a storage in messages. */
export function placeOf(storage: Storage, path: string): string {
  return path ? `${storage.location}/${path}` : storage.location;
}

/** The files of backup `backupId` in `storage` (the basebackups_directory), laid out as `layout`. */
export function archives(
  storage: Storage,
  layout: BackupLayout,
  backupId: string,
  passphrase: PassphraseSource | null = null,
): BackupArchives {
  const directory = layout.archiveDirectory(backupId);
  return {
    location: placeOf(storage, backupId),
    archiveLocation: placeOf(storage, directory),
    pgdataArchive: layout.pgdataArchive,
    async list() {
      return (await storage.list(directory)).flatMap((entry) => {
        if (entry.kind === 'directory') return []; // annotations/ and the like
        // Barman 3.14+ names an encrypted archive `<archive>.gpg`.
        const encrypted = entry.name.endsWith(ENCRYPTED_SUFFIX);
        const parsed = archiveCompression(
          encrypted ? entry.name.slice(0, -ENCRYPTED_SUFFIX.length) : entry.name,
        );
        const location = placeOf(storage, `${directory}/${entry.name}`);
        return parsed ? [{ name: entry.name, ...parsed, location, ...(encrypted ? { encrypted } : {}) }] : [];
      });
    },
    async open(archive) {
      const raw = await storage.openRead(`${directory}/${archive.name}`);
      if (!archive.encrypted) return raw;
      const what = `the encrypted backup archive ${archive.location}`;
      if (!passphrase) {
        raw.destroy();
        throw noPassphraseCommand(what);
      }
      return decryptStream(raw, await passphrase(what), archive.location);
    },
    // pg_basebackup and local-to-cloud write one; barman-cloud-backup does not.
    async manifest() {
      const path = `${directory}/backup_manifest`;
      if ((await storage.stat(path))?.kind !== 'file') return null;
      return (await storage.readFile(path)).toString('utf8');
    },
    plainCopy(part) {
      const path = layout.plainDirectory(backupId, part);
      if (path === null || !storage.features.localFiles || !storage.localPath) {
        throw new BarmanError(
          'backup-not-local',
          `backup ${backupId} in ${storage.location} is a plain copy that local programs cannot read: recovering it needs its files in a local directory`,
        );
      }
      return storage.localPath(path);
    },
  };
}

/**
 * The WAL files of the server's archive, decompressed (wal/archive.ts reads both layouts). A
 * file xlog.db lists but the archive lacks is named with the fix.
 */
export function walOpener(archive: WalArchive): WalOpener {
  return async (entry) => {
    try {
      return await archive.openEntry(entry);
    } catch (error) {
      if (archive.layout === 'barman' && isSystemError(error) && error.code === 'ENOENT') {
        throw new BarmanError(
          'wal-missing',
          `WAL file ${entry.name} is in xlog.db but not in ${archive.location}`,
          { hint: "Run 'barman rebuild-xlogdb' to make xlog.db match the archive." },
        );
      }
      throw error;
    }
  };
}

/** The Storage of a server's backups and of its WAL archive, and how each is laid out. */
export interface RecoverySources {
  backups: Storage;
  backupLayout: BackupLayout;
  wals: WalArchive;
  archives: BackupArchives;
  openWal: WalOpener;
  close(): void;
}

export async function openSources(config: ServerConfig, backupId: string): Promise<RecoverySources> {
  const base = config.basebackups_directory;
  const walsLocation = config.wals_directory;
  // A barman-cloud backup's WAL comes from a listing of barman-cloud's WAL archive (there is no
  // xlog.db beside it): the catalogue has no WAL list for it in a local archive.
  if (base.kind === 's3' && walsLocation.kind !== 's3') {
    throw new BarmanError(
      'cloud-layout-unsupported',
      `server '${config.name}': recovering a cloud backup needs both basebackups_directory and wals_directory in object storage`,
    );
  }
  const backupLayout = backupLayoutFor(base);
  const backups = await storageFor(config, base);
  let wals: WalArchive;
  try {
    wals = await openWalArchive(config);
  } catch (error) {
    backups.close();
    throw error;
  }
  return {
    backups,
    backupLayout,
    wals,
    archives: archives(backups, backupLayout, backupId, passphraseSourceOf(config)),
    openWal: walOpener(wals),
    close: () => {
      backups.close();
      wals.close();
    },
  };
}
