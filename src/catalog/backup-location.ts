/**
 * Where a server's new backups go, as the backup lifecycle sees it: the basebackups_directory as
 * a Storage (a directory in Barman's layout, or an s3:// location in barman-cloud-backup's), and
 * the catalogue operations taking a backup needs there. A backup's backup.info is
 * `<id>/backup.info` in both layouts, so it is written by one piece of code; listing backups and
 * re-reading one under its lock are the only places the layouts still differ here (until the
 * whole catalogue works on any Storage).
 */
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { describeError } from '../errors/index.js';
import { backupLockPath, ensureLockDirectory, tryAcquireSharedLock } from '../locks/index.js';
import type { Storage } from '../storage/index.js';
import { storageFor } from '../storage/index.js';
import type { BackupInfo } from './backup-info.js';
import { formatBackupInfo, parseBackupInfo } from './backup-info.js';
import { BACKUP_ID } from './backup-reference.js';
import type { CatalogBackup } from './backups.js';
import { loadBackups, updateBackupInfo, writeNewBackupInfo } from './backups.js';
import type { ServerLayout } from './layout.js';
import { catalogLayout } from './layout.js';

export interface BackupLocation {
  /** The basebackups_directory. */
  readonly storage: Storage;
  /**
   * Barman's local layout (identity.json, incoming/…; its WAL archive may be an s3:// one); null
   * for backups in an object store.
   */
  readonly layout: ServerLayout | null;
  readonly server: string;
  readonly lockDirectory: string;
  /**
   * Other tools write backups here without taking barman-ts's locks (barman-cloud-backup in a
   * bucket): a backup left STARTED there may still be running.
   */
  readonly sharedWithoutLocks: boolean;
  /** The basebackups_directory, for messages. */
  readonly directory: string;
  /** `<basebackups_directory>/<id>`, for messages and hook scripts. */
  directoryOf(id: string): string;
  /** The backups stored there, oldest first; unreadable ones carry the reason. */
  loadBackups(): Promise<CatalogBackup[]>;
  /** True when nothing is stored under `id` yet (not even a directory without backup.info). */
  isFree(id: string): Promise<boolean>;
  /** Writes a backup's backup.info (atomically, durably). */
  writeBackupInfo(id: string, info: BackupInfo): Promise<void>;
  /**
   * Rewrites a stored backup's backup.info with `change` applied to what it holds now, under the
   * backup's shared lock (see updateBackupInfo): null when declined, locked or gone.
   */
  updateBackupInfo(
    backup: CatalogBackup,
    change: (info: BackupInfo) => BackupInfo | null,
  ): Promise<BackupInfo | null>;
  /** Releases the storage's connections. */
  close(): void;
}

const INFO = 'backup.info';

export async function openBackupLocation(config: ServerConfig): Promise<BackupLocation> {
  const base = config.basebackups_directory;
  const storage = await storageFor(config, base);
  const location = storage.location.replace(/\/+$/, '');
  const common = {
    storage,
    server: config.name,
    lockDirectory: config.barman_lock_directory,
    directory: location,
    directoryOf: (id: string) => `${location}/${id}`,
    isFree: async (id: string) => (await storage.stat(id)) === null,
    writeBackupInfo: (id: string, info: BackupInfo) =>
      storage.writeFile(`${id}/${INFO}`, formatBackupInfo(info)),
    close: () => storage.close(),
  };
  if (base.kind === 'posix') {
    // Barman's layout, whatever holds the WAL archive (a local one, or an s3:// wals_directory).
    const layout = await catalogLayout(config);
    return {
      ...common,
      layout,
      directory: layout.basebackupsDirectory,
      directoryOf: (id: string) => join(layout.basebackupsDirectory, id),
      sharedWithoutLocks: false,
      writeBackupInfo: (id: string, info: BackupInfo) => writeNewBackupInfo(layout, id, info),
      loadBackups: () => loadBackups(layout),
      updateBackupInfo: (backup, change) => updateBackupInfo(layout, backup, change),
    };
  }
  return {
    ...common,
    layout: null,
    sharedWithoutLocks: true,
    loadBackups: () => loadStoredBackups(storage, location),
    updateBackupInfo: async (backup, change) => {
      await ensureLockDirectory(config.barman_lock_directory);
      const lock = tryAcquireSharedLock(backupLockPath(config.barman_lock_directory, config.name, backup.id));
      if (!lock) return null;
      try {
        const path = `${backup.id}/${INFO}`;
        if ((await storage.stat(path)) === null) return null;
        const next = change(
          parseBackupInfo((await storage.readFile(path)).toString('utf8'), backup.infoFile),
        );
        if (next) await storage.writeFile(path, formatBackupInfo(next));
        return next;
      } finally {
        lock.release();
      }
    },
  };
}

/** barman-cloud-backup's layout: `<id>/backup.info` beside the backup's archives. */
async function loadStoredBackups(storage: Storage, location: string): Promise<CatalogBackup[]> {
  const ids = new Set<string>();
  for (const object of await storage.listTree('')) {
    const [id, file, more] = object.path.split('/');
    if (id && BACKUP_ID.test(id) && file === INFO && more === undefined) ids.add(id);
  }
  return Promise.all(
    [...ids].sort().map(async (id): Promise<CatalogBackup> => {
      const infoFile = `${location}/${id}/${INFO}`;
      let info: BackupInfo | null = null;
      let unreadable: string | null = null;
      try {
        info = parseBackupInfo((await storage.readFile(`${id}/${INFO}`)).toString('utf8'), infoFile);
      } catch (error) {
        unreadable = describeError(error);
      }
      return { id, infoFile, directory: `${location}/${id}`, info, unreadable, keep: null };
    }),
  );
}
