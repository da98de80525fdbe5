/**
 * Where a recovery finds a backup's files and the archived WAL inside their Storage: the two
 * layouts barman-ts reads, chosen by the location (a directory holds Barman's, an s3:// URL
 * barman-cloud's). They are data, not code paths: `sources.ts` reads both with the same code.
 *
 * - Barman's: `<id>/data/` (a plain copy of PGDATA, or pg_basebackup's `base.tar*` and
 *   `<oid>.tar*`), `<id>/<oid>/` (a plain tablespace copy); WAL in `<hash>/<name>`, its
 *   compression found by magic bytes, listed by xlog.db.
 * - barman-cloud's: `<id>/data.tar*`, `<id>/<oid>.tar*` and their `_0001` parts only; WAL in
 *   `<hash>/<name><.gz|.bz2|…>`, the compression named by the extension, listed by the listing.
 */
import type { Location } from '../config/index.js';
import type { CloudCompression } from '../wal/cloud-layout.js';
import { cloudWalPath } from '../wal/cloud-layout.js';
import { hashDir } from '../wal/names.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';

export interface BackupLayout {
  /** The directory of a backup's tar archives and backup_manifest, below basebackups_directory. */
  archiveDirectory(backupId: string): string;
  /**
   * The directory of a plain backup's copy of PGDATA (`data`) or of a tablespace (its oid);
   * null when the layout holds tar archives only.
   */
  plainDirectory(backupId: string, part: string): string | null;
  /** The base name of the PGDATA archive: pg_basebackup's `base`, barman-cloud's `data`. */
  pgdataArchive: 'base' | 'data';
}

export interface WalLayout {
  /** The path of an archived WAL file below wals_directory. */
  path(entry: XlogDbEntry): string;
  /** The compression is the name's (an extension); otherwise the file's first bytes say it. */
  compressionInName: boolean;
  /**
   * The index that lists the archive and can disagree with its files (xlog.db), so the files a
   * recovery needs are checked before anything is written; null when the listing is the index.
   */
  index: string | null;
}

const BARMAN_BACKUPS: BackupLayout = {
  archiveDirectory: (backupId) => `${backupId}/data`,
  plainDirectory: (backupId, part) => `${backupId}/${part}`,
  pgdataArchive: 'base',
};

const CLOUD_BACKUPS: BackupLayout = {
  archiveDirectory: (backupId) => backupId,
  plainDirectory: () => null,
  pgdataArchive: 'data',
};

const BARMAN_WALS: WalLayout = {
  path: (entry) => {
    const directory = hashDir(entry.name);
    return directory ? `${directory}/${entry.name}` : entry.name;
  },
  compressionInName: false,
  index: 'xlog.db',
};

const CLOUD_WALS: WalLayout = {
  path: (entry) => cloudWalPath(entry.name, entry.compression as CloudCompression | null),
  compressionInName: true,
  index: null,
};

export function backupLayoutFor(location: Location): BackupLayout {
  return location.kind === 's3' ? CLOUD_BACKUPS : BARMAN_BACKUPS;
}

export function walLayoutFor(location: Location): WalLayout {
  return location.kind === 's3' ? CLOUD_WALS : BARMAN_WALS;
}
