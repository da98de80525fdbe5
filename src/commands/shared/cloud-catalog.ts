/**
 * The backup catalogue of a server whose basebackups_directory is an s3:// URL, in
 * barman-cloud-backup's layout: `<base>/<backup id>/backup.info` (plus data.tar[.gz] and
 * `<oid>.tar` members) and `<base>/<backup id>/annotations/keep`. WAL sizes come from listing
 * the cloud WAL archive (there is no xlog.db in object storage). Listings, keep and delete.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import { parseBackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup, KeepTarget } from '../../catalog/backups.js';
import { statusOf } from '../../catalog/backups.js';
import { WalUsage } from '../../catalog/wal-usage.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import type { Reporter } from '../../output/reporter.js';
import { evaluateRetention, walFilesToRemove } from '../../retention/policy.js';
import { backupLockPath, tryAcquireLock } from '../../locks/index.js';
import { mkdir } from 'node:fs/promises';
import type { CloudCompression } from '../../wal/cloud-layout.js';
import { cloudWalPath, parseCloudWalPath } from '../../wal/cloud-layout.js';
import type { XlogDbEntry } from '../../wal/xlogdb.js';
import type { ServerCatalog } from './backup-catalog.js';
import { backupInfoGaps, requireCompleteCatalog } from './backup-catalog.js';

const BACKUP_ID = /^\d{8}T\d{6}$/;

export function hasCloudCatalog(config: ServerConfig): boolean {
  return config.basebackups_directory.kind === 's3';
}

export async function loadCloudServerCatalog(
  config: ServerConfig,
  report: Reporter,
  nowMs = Date.now(),
): Promise<ServerCatalog> {
  const base = config.basebackups_directory;
  if (base.kind !== 's3')
    throw new BarmanError('not-a-cloud-server', `server '${config.name}' has a local catalogue`);
  // The SDK loads only for cloud servers.
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const storage = new S3Storage(s3SettingsFor(config, base));
  let backups: CatalogBackup[];
  let xlog: XlogDbEntry[] = [];
  try {
    const ids = new Set<string>();
    const kept = new Set<string>();
    for (const object of await storage.listObjects('')) {
      const [id, file, annotation, ...rest] = object.path.split('/');
      if (!id || !BACKUP_ID.test(id)) continue;
      if (file === 'backup.info' && annotation === undefined) ids.add(id);
      if (file === 'annotations' && annotation === 'keep' && rest.length === 0) kept.add(id);
    }
    backups = await Promise.all(
      [...ids].sort().map(async (id): Promise<CatalogBackup> => {
        const infoFile = `${storage.location}/${id}/backup.info`;
        let info: BackupInfo | null = null;
        let unreadable: string | null = null;
        try {
          info = parseBackupInfo((await storage.readFile(`${id}/backup.info`)).toString('utf8'), infoFile);
        } catch (error) {
          unreadable = describeError(error);
          report.warning(`backup ${id} of server ${config.name} is unreadable: ${unreadable}`);
        }
        let keep: KeepTarget | null = null;
        if (kept.has(id)) {
          const target = (await storage.readFile(`${id}/annotations/keep`)).toString('utf8').trim();
          keep = target === 'full' || target === 'standalone' ? target : null;
        }
        return { id, infoFile, directory: `${storage.location}/${id}`, info, unreadable, keep };
      }),
    );
    const wals = config.wals_directory;
    if (wals.kind === 's3') {
      const walStorage = new S3Storage(s3SettingsFor(config, wals));
      try {
        xlog = (await walStorage.listObjects(''))
          .flatMap((object) => {
            const parsed = parseCloudWalPath(object.path);
            return parsed
              ? [
                  {
                    name: parsed.name,
                    size: object.size,
                    mtime: object.mtimeMs / 1000,
                    compression: parsed.compression,
                    encryption: null,
                  },
                ]
              : [];
          })
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      } finally {
        walStorage.destroy();
      }
    }
  } finally {
    storage.destroy();
  }
  const retention = evaluateRetention(
    backups.map((backup) => ({
      id: backup.id,
      status: statusOf(backup),
      endTimeMs: backup.info?.end_time?.epochMs ?? null,
      keep: backup.keep,
    })),
    config.retention_policy,
    config.minimum_redundancy,
    nowMs,
  );
  const location = (value: ServerConfig['wals_directory']) => (value.kind === 's3' ? value.url : value.path);
  return {
    config,
    // Names for messages only: nothing writes through this layout (cloud catalogues are read-only).
    layout: {
      server: config.name,
      backupDirectory: config.backup_directory,
      basebackupsDirectory: base.url,
      walsDirectory: location(config.wals_directory),
      incomingDirectory: config.incoming_wals_directory,
      streamingDirectory: config.streaming_wals_directory,
      errorsDirectory: config.errors_directory,
      lockDirectory: config.barman_lock_directory,
      identityFile: `${config.backup_directory}/identity.json`,
      xlogDbFile: `${location(config.wals_directory)} (listing)`,
      metaDirectory: `${config.backup_directory}/meta`,
    },
    backups,
    xlog,
    usage: new WalUsage(xlog),
    retention,
    unreadable: backupInfoGaps(
      backups,
      (backup) =>
        `repair ${backup.infoFile}, or delete the objects of ${backup.directory}/ if that backup is lost`,
    ),
  };
}

/** The s3:// URL of every object of a cloud backup (backup.info, tar archives, annotations), sorted. */
export async function cloudBackupObjects(config: ServerConfig, backupId: string): Promise<string[]> {
  const base = config.basebackups_directory;
  if (base.kind !== 's3')
    throw new BarmanError('not-a-cloud-server', `server '${config.name}' has a local catalogue`);
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const storage = new S3Storage(s3SettingsFor(config, base));
  try {
    return (await storage.listObjects(backupId))
      .map((object) => `${storage.location}/${object.path}`)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } finally {
    storage.destroy();
  }
}

/** Sets (`full`/`standalone`) or clears (null) the keep annotation of a cloud backup. */
export async function cloudKeepAnnotation(
  config: ServerConfig,
  backupId: string,
  target: KeepTarget | null,
): Promise<KeepTarget | null> {
  const base = config.basebackups_directory;
  if (base.kind !== 's3')
    throw new BarmanError('not-a-cloud-server', `server '${config.name}' has a local catalogue`);
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const storage = new S3Storage(s3SettingsFor(config, base));
  const path = `${backupId}/annotations/keep`;
  try {
    if (target === null) {
      await storage.remove(path);
      return null;
    }
    // barman-cloud's annotation: the target word alone.
    await storage.writeFile(path, target);
    return target;
  } finally {
    storage.destroy();
  }
}

/**
 * Deletes a cloud backup and the WAL files only it needed (Barman's rules, as for a local
 * catalogue). backup.info goes first, so an interrupted deletion leaves unlisted objects at
 * worst, never a listed backup with missing data; then the backup's other objects, then the WAL.
 */
export async function deleteCloudBackup(
  catalog: ServerCatalog,
  backup: CatalogBackup,
  report: Reporter,
  options: { fromRetention: boolean } = { fromRetention: false },
): Promise<{ deleted: boolean; removedWals: string[] }> {
  const { config } = catalog;
  const server = config.name;
  const base = config.basebackups_directory;
  if (base.kind !== 's3')
    throw new BarmanError('not-a-cloud-server', `server '${server}' has a local catalogue`);
  requireCompleteCatalog(catalog, `backup ${backup.id} of server '${server}' not deleted`);
  if (backup.keep !== null) {
    report.warning(
      `Skipping delete of backup ${backup.id} for server ${server} as it has a current keep request. ` +
        'If you really want to delete this backup please remove the keep and try again.',
    );
    throw new BarmanError('backup-kept', `Cannot delete backup ${backup.id} of server ${server}: it is kept`);
  }
  const done = catalog.backups.filter((other) => statusOf(other) === 'DONE').length;
  if (statusOf(backup) === 'DONE' && config.minimum_redundancy >= done) {
    report.warning(
      `Skipping delete of backup ${backup.id} for server ${server} due to minimum redundancy requirements ` +
        `(minimum redundancy = ${config.minimum_redundancy}, current redundancy = ${done})`,
    );
    throw new BarmanError('minimum-redundancy', `Cannot delete backup ${backup.id} of server ${server}`);
  }
  await mkdir(config.barman_lock_directory, { recursive: true });
  const lock = tryAcquireLock(backupLockPath(config.barman_lock_directory, server, backup.id));
  if (!lock) {
    throw new BarmanError(
      'backup-locked',
      `Another process is holding the lock for backup ${backup.id} of server ${server}.`,
    );
  }
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const storage = new S3Storage(s3SettingsFor(config, base));
  const wals = config.wals_directory;
  const walStorage = wals.kind === 's3' ? new S3Storage(s3SettingsFor(config, wals)) : null;
  try {
    report.info(`Deleting backup ${backup.id} for server ${server}`);
    const removable = walFilesToRemove(
      catalog.backups.map((other) => ({
        id: other.id,
        status: statusOf(other),
        beginWal: other.info?.begin_wal ?? null,
        endWal: other.info?.end_wal ?? null,
        keep: other.keep,
      })),
      backup.id,
      catalog.xlog.map((entry) => entry.name),
      options,
    );
    await storage.remove(`${backup.id}/backup.info`);
    await storage.removeKeys((await storage.listObjects(backup.id)).map((object) => object.key));
    const removedWals: string[] = [];
    if (walStorage && removable.length > 0) {
      const compressionOf = new Map(catalog.xlog.map((entry) => [entry.name, entry.compression]));
      const keys = removable.map((name) =>
        walStorage.key(cloudWalPath(name, (compressionOf.get(name) ?? null) as CloudCompression | null)),
      );
      await walStorage.removeKeys(keys);
      removedWals.push(...removable);
      report.info('Delete associated WAL segments:');
      for (const name of removedWals) report.info(`\t${name}`);
    }
    report.info(`Deleted backup ${backup.id} of server ${server}`);
    return { deleted: true, removedWals };
  } finally {
    storage.destroy();
    walStorage?.destroy();
    lock.release();
  }
}
