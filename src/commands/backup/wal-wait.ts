import { updateBackupInfo } from '../../catalog/backups.js';
import { withBackupStore } from '../../catalog/store.js';
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { forceCheckpointOnPrimary } from '../../executors/index.js';
import type { HookRunner } from '../../hooks/index.js';
import { archiveHooks } from '../../hooks/index.js';
import type { Reporter } from '../../output/reporter.js';
import { InfoRedirectingReporter } from '../../output/reporter.js';
import { runArchiveWal } from '../../wal/archive-service.js';
import { segmentsBetween } from '../../wal/names.js';
import type { CommandContext } from '../definition.js';
import { loadServerCatalog } from '../shared/backup-catalog.js';
import { removeWalBeforeFirstBackup } from './retention.js';

/**
 * Phase 5 of a backup, WAL wait (without the backup lock): archives WAL, then DONE when every
 * WAL file from begin_wal to end_wal is archived (waiting for it with --wait), then the
 * retention phase (retention.ts). A backup of a standby with primary_conninfo and
 * primary_checkpoint_timeout waits that long for its last WAL file, then forces a CHECKPOINT
 * and a WAL switch on the primary, and waits that long again.
 */
export async function waitForWal(
  ctx: CommandContext,
  config: ServerConfig,
  backupId: string,
  options: Readonly<Record<string, unknown>>,
  hooks: HookRunner,
  fromStandby: boolean,
): Promise<string> {
  const wait = options.wait === true;
  const timeoutSeconds = options.waitTimeout !== undefined ? Number(options.waitTimeout) : null;
  const deadline = timeoutSeconds === null ? Infinity : Date.now() + timeoutSeconds * 1000;
  const primaryConninfo = config.primary_conninfo;
  const checkpointTimeoutMs = config.primary_checkpoint_timeout * 1000;
  const standbyWait = fromStandby && primaryConninfo !== null && checkpointTimeoutMs > 0;
  let checkpointAt = standbyWait ? Date.now() + checkpointTimeoutMs : null;
  let standbyDeadline = checkpointAt;
  let announced = false;
  for (;;) {
    await runArchiveWal(config, quiet(ctx), ctx.log, { hooks: archiveHooks(hooks) }).catch((error: unknown) =>
      ctx.log.warning(`archive-wal: ${describeError(error)}`),
    );
    const catalog = await loadServerCatalog(config, quiet(ctx));
    const backup = catalog.backups.find((other) => other.id === backupId);
    const info = backup?.info;
    if (!backup) {
      ctx.report.error(
        `backup ${backupId} of server ${config.name} was deleted while it waited for its WAL files`,
      );
      return 'FAILED';
    }
    if (!info?.begin_wal || !info.end_wal) {
      ctx.report.error(`backup ${backupId} has no begin or end WAL file: it cannot become DONE`);
      return 'FAILED';
    }
    const needed = segmentsBetween(info.begin_wal, info.end_wal, info.xlog_segment_size);
    if (needed.every((name) => catalog.usage.has(name))) {
      // Through the catalogue's store: backup.info may be an object (an s3:// basebackups_directory).
      const done = await withBackupStore(config, (store) =>
        updateBackupInfo(store, backup, (current) =>
          current.status === 'WAITING_FOR_WALS' || current.status === 'DONE'
            ? { ...current, status: 'DONE' }
            : null,
        ),
      );
      if (!done) {
        ctx.report.error(
          `backup ${backupId} of server ${config.name} was deleted or is being deleted: it cannot become DONE`,
        );
        return 'FAILED';
      }
      // An object WAL archive keeps what precedes the first backup, as barman-cloud does;
      // retention and deletions trim it.
      if (config.wals_directory.kind === 'posix')
        await removeWalBeforeFirstBackup(ctx, catalog, backupId, info.begin_wal, hooks);
      return 'DONE';
    }
    if (checkpointAt !== null && Date.now() >= checkpointAt && primaryConninfo) {
      ctx.report.warning(
        `The WAL file ${info.end_wal} has not been received in ${config.primary_checkpoint_timeout} seconds: ` +
          'forcing a CHECKPOINT and a WAL switch on the primary (primary_checkpoint_timeout)',
      );
      await forceCheckpointOnPrimary({ log: ctx.log }, primaryConninfo).catch((error: unknown) =>
        ctx.report.warning(`cannot force a CHECKPOINT on the primary: ${describeError(error)}`),
      );
      checkpointAt = null;
      standbyDeadline = Date.now() + checkpointTimeoutMs;
    }
    const standbyWaiting = standbyDeadline !== null && Date.now() < standbyDeadline;
    if ((!wait && !standbyWaiting) || Date.now() > deadline) {
      if (wait)
        ctx.report.error(`The WAL file ${info.end_wal} has not been received in ${timeoutSeconds} seconds`);
      ctx.report.warning(
        'IMPORTANT: this backup is classified as WAITING_FOR_WALS, meaning that barman-ts has not received yet all the required WAL files for the backup consistency.\n' +
          'This is a common behaviour in concurrent backup scenarios, and barman-ts automatically sets the backup as DONE once all the required WAL files have been archived (barman cron).\n' +
          "Hint: execute the backup command with '--wait'",
      );
      return 'WAITING_FOR_WALS';
    }
    if (!announced) {
      ctx.report.info(`Waiting for the WAL file ${info.end_wal} from server '${config.name}'`);
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The archiver's per-file lines are noise inside a backup: they go to the log only. */
function quiet(ctx: CommandContext): Reporter {
  return new InfoRedirectingReporter(ctx.report, (message) => ctx.log.info(message));
}
