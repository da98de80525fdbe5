/**
 * What `cron` does for a mirror (`mirror_of = SOURCE`) instead of archiving: copy the source's
 * DONE backups the mirror lacks (newest first, so the mirror's own retention policy can decline
 * older ones before they are copied, as a passive node does), then the WAL files the mirror's
 * oldest backup needs onwards. The source is only read: its backups are read under their shared
 * lock (as a recovery reads them), so its deletion of a backup being copied waits for the next
 * run; nothing is written in its catalogue.
 *
 * A copy is never listed DONE early: the mirror's backup.info says SYNCING while the files are
 * copied and DONE only once they are all stored; a copy killed or failed is started again by the
 * next run (or purged when the source no longer has the backup). WAL files go through the
 * mirror's own archiver: written decompressed into its incoming directory (atomic, durable),
 * then archive-wal stores them in the mirror's layout and compression, with its xlog.db or its
 * object listing as the index.
 */
import type { BackupInfo } from '../../../catalog/backup-info.js';
import type { CatalogBackup } from '../../../catalog/backups.js';
import { loadBackups, removeBackupFiles, saveBackupInfo, statusOf } from '../../../catalog/backups.js';
import { catalogLayout } from '../../../catalog/layout.js';
import type { BackupStore } from '../../../catalog/store.js';
import { withBackupStore } from '../../../catalog/store.js';
import type { BarmanConfig, ServerConfig } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import {
  backupLockPath,
  ensureLockDirectory,
  tryAcquireLock,
  tryAcquireSharedLock,
} from '../../../locks/index.js';
import type { Logger } from '../../../log/index.js';
import type { Reporter } from '../../../output/reporter.js';
import { PosixStorage } from '../../../storage/index.js';
import { openWalArchive } from '../../../wal/archive.js';
import { runArchiveWal } from '../../../wal/archive-service.js';
import { readWalIndex } from '../../../wal/wal-index.js';
import { locallyObsolete } from '../passive/sync-backup.js';
import { conversionProblem, copyBackupFiles } from './copy-backup.js';
import type { MirrorConfig } from './state.js';
import { mirrorSource } from './state.js';

export interface MirrorSyncOutcome {
  /** Backups now DONE in the mirror. */
  backups: string[];
  /** Backups the mirror cannot hold (conversion refused) or whose copy failed. */
  failed: string[];
  wals: number;
}

export async function syncMirror(
  barman: BarmanConfig,
  config: MirrorConfig,
  report: Reporter,
  log: Logger,
): Promise<MirrorSyncOutcome> {
  const source = mirrorSource(barman, config);
  const outcome: MirrorSyncOutcome = { backups: [], failed: [], wals: 0 };
  await ensureLockDirectory(config.barman_lock_directory);
  await withBackupStore(source, (sourceStore) =>
    withBackupStore(config, async (mirrorStore) => {
      const sourceDone = (await loadBackups(sourceStore)).filter(
        (backup) => backup.info && statusOf(backup) === 'DONE',
      );
      const wanted = new Set(sourceDone.map((backup) => backup.id));
      for (const backup of [...sourceDone].reverse()) {
        const mirrored = await loadBackups(mirrorStore);
        const mine = mirrored.find((candidate) => candidate.id === backup.id) ?? null;
        if (mine && statusOf(mine) === 'DONE') continue;
        if (locallyObsolete(config, mirrored, backup.id, backup.info!)) continue;
        const result = await copyOne(source, sourceStore, config, mirrorStore, backup, mine, report);
        if (result === 'synced') outcome.backups.push(backup.id);
        if (result === 'failed') outcome.failed.push(backup.id);
      }
      // Unfinished copies of backups the source no longer has can never complete.
      for (const backup of await loadBackups(mirrorStore)) {
        if (statusOf(backup) !== 'SYNCING' && statusOf(backup) !== 'FAILED') continue;
        if (wanted.has(backup.id)) continue;
        const lock = tryAcquireLock(backupLockPath(config.barman_lock_directory, config.name, backup.id));
        if (!lock) continue;
        try {
          report.warning(
            `Backup ${backup.id} is no longer on server ${source.name} and is incomplete in mirror ${config.name}: purging it`,
          );
          await removeBackupFiles(mirrorStore, backup);
        } finally {
          lock.removeAndRelease();
        }
      }
      if (outcome.backups.length === 0 && outcome.failed.length === 0)
        report.info(`No backup synchronisation required for mirror ${config.name}`);
    }),
  );
  outcome.wals = await syncWals(source, config, report, log);
  return outcome;
}

type CopyResult = 'synced' | 'failed' | 'skipped';

async function copyOne(
  source: ServerConfig,
  sourceStore: BackupStore,
  config: MirrorConfig,
  mirrorStore: BackupStore,
  backup: CatalogBackup,
  mine: CatalogBackup | null,
  report: Reporter,
): Promise<CopyResult> {
  const id = backup.id;
  const lock = tryAcquireLock(backupLockPath(config.barman_lock_directory, config.name, id));
  if (!lock) {
    report.info(`Backup ${id} of mirror ${config.name} is in use by another process: copied by a later run`);
    return 'skipped';
  }
  // Shared, as a recovery reads a backup: the source's deletion of it waits for the next run.
  const sourceLock = tryAcquireSharedLock(backupLockPath(source.barman_lock_directory, source.name, id));
  if (!sourceLock) {
    lock.release();
    report.info(
      `Backup ${id} of server ${source.name} is being deleted or changed: not copied to ${config.name}`,
    );
    return 'skipped';
  }
  try {
    // Read again under the lock: the backup may have been deleted since the listing.
    const current = (await loadBackups(sourceStore)).find((candidate) => candidate.id === id);
    if (!current?.info || statusOf(current) !== 'DONE') {
      report.info(`Backup ${id} was deleted from server ${source.name} before its copy: skipped`);
      return 'skipped';
    }
    const info = current.info;
    const sides = {
      source: { config: source, storage: sourceStore.base },
      mirror: { config: config as ServerConfig, storage: mirrorStore.base },
    };
    const refused = conversionProblem(sides.source, sides.mirror, id, info);
    if (refused) {
      report.error(`Cannot mirror backup ${id} of server ${source.name} to ${config.name}: ${refused}`);
      return 'failed';
    }
    // What an interrupted or failed copy left is copied again from the start.
    if (mine) await removeBackupFiles(mirrorStore, mine);
    else await mirrorStore.base.removeTree(id);
    const entry: CatalogBackup = {
      id,
      infoFile: `${mirrorStore.base.location}/${id}/backup.info`,
      directory: `${mirrorStore.base.location}/${id}`,
      info: null,
      unreadable: null,
      keep: null,
    };
    await mirrorStore.base.mkdir(id);
    const started: BackupInfo = { ...info, server_name: config.name, status: 'SYNCING', error: null };
    await saveBackupInfo(mirrorStore, entry, started);
    report.info(`Copying backup ${id} of server ${source.name} to mirror ${config.name}`);
    const controller = new AbortController();
    try {
      const fields = await copyBackupFiles(sides.source, sides.mirror, id, info, controller.signal);
      await saveBackupInfo(mirrorStore, entry, { ...started, ...fields, status: 'DONE' });
    } catch (error) {
      const message = `failure copying backup ${id} of server ${source.name} to mirror ${config.name}: ${describeError(error).split('\n')[0]}`;
      await saveBackupInfo(mirrorStore, entry, { ...started, status: 'FAILED', error: message });
      report.error(message);
      return 'failed';
    }
    report.info(`Backup ${id} of server ${source.name} copied to mirror ${config.name}`);
    return 'synced';
  } finally {
    sourceLock.release();
    lock.release();
  }
}

/**
 * The source's archived WAL files the mirror lacks, from the begin WAL of the mirror's oldest
 * DONE backup (older ones serve no backup there; history files always), through its archiver.
 */
async function syncWals(
  source: ServerConfig,
  config: MirrorConfig,
  report: Reporter,
  log: Logger,
): Promise<number> {
  const oldest = (await withBackupStore(config, loadBackups)).find(
    (backup) => backup.info && statusOf(backup) === 'DONE',
  );
  const from = oldest?.info?.begin_wal ?? null;
  if (from === null) {
    report.info(`No backup in mirror ${config.name} yet: no WAL synchronisation`);
    return 0;
  }
  const [sourceIndex, mirrorIndex] = await Promise.all([
    readWalIndex(source, await catalogLayout(source)),
    readWalIndex(config, await catalogLayout(config)),
  ]);
  const present = new Set(mirrorIndex.entries.map((entry) => entry.name));
  const wanted = sourceIndex.entries.filter(
    (entry) =>
      !present.has(entry.name) &&
      !entry.name.endsWith('.partial') &&
      (entry.name.endsWith('.history') || entry.name >= from),
  );
  if (wanted.length === 0) {
    report.info(`No WAL synchronisation required for mirror ${config.name}`);
    return 0;
  }
  const incoming = new PosixStorage(config.incoming_wals_directory);
  await incoming.mkdir('');
  const archive = await openWalArchive(source);
  try {
    for (const entry of wanted)
      await incoming.writeFile(entry.name, await archive.openEntry(entry), { mode: 0o600 });
  } finally {
    archive.close();
  }
  const archived = await runArchiveWal(config, report, log, { sources: ['incoming'] });
  report.info(`Copied ${wanted.length} WAL file(s) of server ${source.name} to mirror ${config.name}`);
  return archived.archived.length;
}
