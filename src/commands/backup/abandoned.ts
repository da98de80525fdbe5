/**
 * Backups left STARTED (or EMPTY) by a process that died: no backup runs (the caller holds the
 * server's backup lock), so they failed. Marked FAILED through the catalogue, which re-reads each
 * under its lock so a backup being deleted is left alone (an interrupted incremental stays in its
 * parent's children_backup_ids, as a failed one does); then the executor tidies up what its
 * method leaves behind (a local-to-cloud backup's unfinished multipart uploads).
 */
import type { BackupLocation } from '../../catalog/backup-location.js';
import { openBackupLocation } from '../../catalog/backup-location.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { statusOf } from '../../catalog/backups.js';
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import type { BackupExecutor } from '../../executors/index.js';
import { executorFor } from '../../executors/index.js';
import { ensureLockDirectory, serverLockPath, tryAcquireLock } from '../../locks/index.js';
import type { CommandContext } from '../definition.js';
import { linkToParent } from './incremental.js';

const UNFINISHED = new Set(['STARTED', 'EMPTY']);

export async function markAbandoned(
  ctx: CommandContext,
  config: ServerConfig,
  location: BackupLocation,
  executor: BackupExecutor,
  backups: CatalogBackup[],
): Promise<void> {
  const failedIds: string[] = [];
  for (const backup of backups) {
    if (!backup.info) {
      ctx.log.warning(`cannot read backup ${backup.id}: ${backup.unreadable}`);
      continue;
    }
    if (!UNFINISHED.has(statusOf(backup))) continue;
    // Where other tools write backups without our locks (barman-cloud-backup in a bucket), one
    // of theirs left STARTED may still be running: only this method's own backups are failed.
    if (location.sharedWithoutLocks && backup.info.mode !== executor.mode) continue;
    const failed = await location
      .updateBackupInfo(backup, (info) =>
        UNFINISHED.has(info.status)
          ? { ...info, status: 'FAILED', error: 'failure: the backup process was interrupted' }
          : null,
      )
      .catch((error: unknown) => {
        ctx.report.warning(`cannot mark backup ${backup.id} FAILED: ${describeError(error)}`);
        return null;
      });
    if (!failed) continue;
    ctx.report.warning(`backup ${backup.id} was interrupted (status ${statusOf(backup)}); marking it FAILED`);
    backup.info = failed;
    failedIds.push(backup.id);
    // Killed between its backup.info and its parent's update: its parent lists it from now on.
    const parent = backups.find((other) => other.id === failed.parent_backup_id);
    if (parent) {
      await linkToParent(location, parent, backup.id).catch((error: unknown) =>
        ctx.report.warning(
          `cannot record backup ${backup.id} as a child of ${parent.id}: ${describeError(error)}`,
        ),
      );
    }
  }
  await executor.cleanUpInterrupted?.({ config, storage: location.storage, log: ctx.log }, failedIds);
}

/**
 * Marks FAILED, at once, the backup a stopped `barman backup` of this server left unfinished (the
 * daemon stopping its runs on SIGTERM), as the next backup would: under the backup lock, so a
 * backup another process is running is left alone.
 */
export async function failInterruptedBackups(ctx: CommandContext, config: ServerConfig): Promise<void> {
  const location = await openBackupLocation(config);
  try {
    await ensureLockDirectory(location.lockDirectory);
    const lock = tryAcquireLock(serverLockPath(location.lockDirectory, config.name, 'backup'));
    if (!lock) return;
    try {
      await markAbandoned(ctx, config, location, executorFor(config), await location.loadBackups());
    } finally {
      lock.release();
    }
  } finally {
    location.close();
  }
}
