/**
 * Where a recovery finds a backup's files inside the Storage of basebackups_directory: the two
 * layouts barman-ts reads, chosen by the location (a directory holds Barman's, an s3:// URL
 * barman-cloud's). They are data, not code paths: `sources.ts` reads both with the same code.
 * (The WAL archive's two layouts are wal/archive.ts's.)
 *
 * - Barman's: `<id>/data/` (a plain copy of PGDATA, or pg_basebackup's `base.tar*` and
 *   `<oid>.tar*`), `<id>/<oid>/` (a plain tablespace copy).
 * - barman-cloud's: `<id>/data.tar*`, `<id>/<oid>.tar*` and their `_0001` parts only.
 */
import type { Location } from '../config/index.js';

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

export function backupLayoutFor(location: Location): BackupLayout {
  return location.kind === 's3' ? CLOUD_BACKUPS : BARMAN_BACKUPS;
}

/**
 * Where the backups of an incremental chain keep their plain copies, whatever the storage:
 * Barman 3.11+'s `<id>/data/` and `<id>/<tablespace oid>/` (pg_basebackup's plain format).
 */
export function chainBackupDirectory(backupId: string, part: string): string {
  return `${backupId}/${part}`;
}
