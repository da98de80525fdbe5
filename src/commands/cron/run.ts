/**
 * cron: for each active server, under its cron lock (so two crons never work on one server):
 * archive WAL, mark WAITING_FOR_WALS backups DONE once their WAL is archived, and apply the
 * retention policy (never on a catalogue it could not read completely). Unlike Barman 3.4,
 * archive-wal runs in this process instead of a detached child: cron finishes when the work is
 * done, and its exit code tells whether it succeeded.
 * A failure on one server is reported and the next server is processed. At the end, unused lock
 * files are removed (lock_directory_cleanup).
 */
import { loadBackups, statusOf, updateBackupInfo } from '../../catalog/backups.js';
import { catalogLayout } from '../../catalog/layout.js';
import { withBackupStore } from '../../catalog/store.js';
import { describeError, isBarmanError } from '../../errors/index.js';
import { IMMUTABLE_ERROR } from '../../storage/immutable.js';
import { archiveHooks, HookRunner } from '../../hooks/index.js';
import { ensureLockDirectory, LockBusyError, serverLockPath, tryAcquireLock } from '../../locks/index.js';
import { runArchiveWal } from '../../wal/archive-service.js';
import { segmentsBetween } from '../../wal/names.js';
import type { ServerConfig } from '../../config/index.js';
import { spooledWals } from '../../wal/cloud-spool.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { startCloudUploader } from '../shared/cloud-uploader.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import { loadServerCatalog, requireCompleteCatalog, retentionEnforced } from '../shared/backup-catalog.js';
import { deleteBackup } from '../shared/delete-backup.js';
import { processConfigChanges, reloadConfig, restartServerProcesses } from '../shared/config-changes.js';
import { cleanLockDirectory } from '../shared/lock-cleanup.js';
import { finishInterruptedWalRemoval } from '../shared/wal-cleanup.js';
import { superviseReceiveWal } from '../receive-wal/supervise.js';
import { isPassive, requirePassive } from '../shared/passive/state.js';
import { isMirror } from '../shared/mirror/state.js';
import { syncMirror } from '../shared/mirror/sync.js';
import { syncFromPrimary } from '../shared/passive/sync-cron.js';

type Result = Record<string, { archived: number; completed: string[]; deleted: string[]; skipped?: string }>;

export default defineCommandModule<Result>({
  async run(original) {
    const ctx = await withQueuedConfigChanges(original);
    const result: Result = {};
    for (const server of ctx.config.servers.values()) {
      const name = server.name;
      if (server.disabled) {
        // As Barman: check and show-server say why (configuration errors).
        ctx.report.info(`Skipping temporarily disabled server '${name}'`);
        continue;
      }
      if (!server.config.active) continue;
      try {
        result[name] = await cronServer(ctx, server.config);
      } catch (error) {
        reportServerFailure(ctx, name, error);
        result[name] = { archived: 0, completed: [], deleted: [] };
      }
    }
    if (ctx.config.global.lock_directory_cleanup) cleanLockDirectory(ctx);
    return result;
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});

/**
 * Before any server (Barman 3.10+): writes the changes config-update queued into
 * .barman.auto.conf under the config-update lock, then works with the configuration they make.
 */
async function withQueuedConfigChanges(ctx: CommandContext): Promise<CommandContext> {
  let changed: string[];
  try {
    changed = await processConfigChanges(ctx.config, ctx.report);
  } catch (error) {
    if (error instanceof LockBusyError)
      ctx.report.warning('another process is updating barman configuration files');
    else ctx.report.error(`Cannot apply the queued configuration changes: ${describeError(error)}`);
    return ctx;
  }
  if (changed.length === 0) return ctx;
  const updated = { ...ctx, config: reloadConfig(ctx.config) };
  for (const name of changed) {
    const server = updated.config.servers.get(name);
    if (server && !server.disabled) await restartServerProcesses(updated, server.config);
  }
  return updated;
}

/**
 * One server, wherever its catalogue and WAL archive are (a directory or an s3:// location),
 * under its cron lock. An object WAL archive's incoming/ is also the spool of
 * `cloud-wal-archive --async`: its upload worker (re)started here when files wait there owns it,
 * and archive-wal takes streaming/ (receive-wal's files) only.
 */
async function cronServer(ctx: CommandContext, config: ServerConfig): Promise<Result[string]> {
  const name = config.name;
  await ensureLockDirectory(config.barman_lock_directory);
  const lock = tryAcquireLock(serverLockPath(config.barman_lock_directory, name, 'cron'));
  if (!lock) {
    ctx.report.info(`Another cron process is already running on server ${name}. Skipping to the next server`);
    return { archived: 0, completed: [], deleted: [], skipped: 'cron running' };
  }
  const outcome: Result[string] = { archived: 0, completed: [], deleted: [] };
  const objectWals = config.wals_directory.kind === 's3';
  const hooks = HookRunner.forServer(ctx, config);
  try {
    if (isPassive(config)) {
      // A passive node copies from the primary instead of archiving (Barman's sync cron).
      const synced = await syncFromPrimary(requirePassive(config), ctx.report, ctx.config.configFile);
      outcome.completed = synced.backups;
    } else if (isMirror(config)) {
      // A mirror copies its source server's catalogue through Storage instead of archiving.
      const synced = await syncMirror(ctx.config, config, ctx.report, ctx.log.child({ server: name }));
      outcome.completed = synced.backups;
      outcome.archived = synced.wals;
    } else if (objectWals ? config.streaming_archiver : config.archiver || config.streaming_archiver) {
      ctx.report.info(`Starting WAL archiving for server ${name}`);
      try {
        outcome.archived = (
          await runArchiveWal(config, ctx.report, ctx.log.child({ server: name }), {
            hooks: archiveHooks(hooks),
            ...(objectWals ? { sources: ['streaming' as const] } : {}),
          })
        ).archived.length;
      } catch (error) {
        if (!(error instanceof LockBusyError)) throw error;
        ctx.report.info(
          `Another archive-wal process is already running on server ${name}. Skipping to the next server`,
        );
      }
    }
    // streaming_archiver = on: start a detached receive-wal unless one runs; off: stop a running one.
    if (!isPassive(config) && !isMirror(config)) await superviseReceiveWal(ctx, config);
    if (objectWals) {
      const waiting = await spooledWals(config.incoming_wals_directory);
      if (waiting.length > 0) {
        const pid = await startCloudUploader(config, ctx.config.configFile);
        ctx.report.info(
          pid === null
            ? `Cloud WAL upload for server ${name} is running (${waiting.length} file(s) queued)`
            : `Starting cloud WAL upload for server ${name} (${waiting.length} file(s) queued)`,
        );
      }
    } else {
      // The journal of a WAL removal exists only in Barman's layout (xlog.db).
      await finishInterruptedWalRemoval(await catalogLayout(config), ctx.report);
    }
    // The whole catalogue (with the WAL index: an object archive's listing) only when there is
    // something to do with it: a cloud-wal-archive server whose bucket is down must not hold cron.
    const backups = await withBackupStore(config, loadBackups);
    if (!retentionEnforced(config) && !backups.some((backup) => statusOf(backup) === 'WAITING_FOR_WALS'))
      return outcome;
    let catalog = await loadServerCatalog(config, ctx.report);
    outcome.completed = await completeWaitingBackups(catalog, (id) =>
      ctx.report.info(`Backup ${id} of server ${name} is now DONE: all its WAL files are archived`),
    );
    // Backups that just became DONE count for the retention policy.
    if (outcome.completed.length > 0) catalog = await loadServerCatalog(config, ctx.report);
    if (retentionEnforced(config)) outcome.deleted = await enforceRetention(ctx, catalog, hooks);
  } finally {
    lock.release();
  }
  return outcome;
}

/**
 * Deletes the backups the retention policy made OBSOLETE (never from a catalogue that could not
 * be read completely), each decided again on a freshly loaded catalogue. An obsolete backup goes
 * with its incremental descendants (obsolete too: they share their root's status), deepest
 * first. Resolves with their ids.
 */
async function enforceRetention(
  ctx: CommandContext,
  catalog: ServerCatalog,
  hooks: HookRunner,
): Promise<string[]> {
  const { config } = catalog;
  requireCompleteCatalog(catalog, 'retention policy not applied');
  const deleted: string[] = [];
  for (const backup of catalog.backups) {
    if (catalog.retention.get(backup.id) !== 'OBSOLETE') continue;
    const fresh = await loadServerCatalog(config, ctx.report);
    const current = fresh.backups.find((other) => other.id === backup.id);
    if (!current || fresh.retention.get(backup.id) !== 'OBSOLETE') continue;
    const outcome = await deleteBackup(fresh, current, ctx.report, {
      fromRetention: true,
      hooks,
      announce: (id) =>
        ctx.report.info(`Enforcing retention policy: removing backup ${id} for server ${config.name}`),
    }).catch((error: unknown) => {
      // worm_mode: still protected. Kept, said, and retried by the next cron; newer obsolete
      // backups wait too, so backups always go oldest first.
      if (!isBarmanError(error) || error.code !== IMMUTABLE_ERROR) throw error;
      ctx.report.warning(`Retention policy: obsolete backup ${backup.id} kept for now: ${error.message}`);
      return null;
    });
    if (!outcome) break;
    deleted.push(...outcome.deletedIds);
  }
  return deleted;
}

/** One server's failure: reported (with its hint), and cron goes on with the next server. */
function reportServerFailure(ctx: CommandContext, name: string, error: unknown): void {
  const hint = isBarmanError(error) && error.hint ? `\nHINT: ${error.hint}` : '';
  ctx.report.error(`Unable to run cron on server '${name}': ${describeError(error)}${hint}`);
  if (!isBarmanError(error)) ctx.log.error('cron failure', { server: name, stack: (error as Error).stack });
}

/** WAITING_FOR_WALS -> DONE once every WAL file from begin_wal to end_wal is in xlog.db. */
async function completeWaitingBackups(
  catalog: ServerCatalog,
  announce: (id: string) => void,
): Promise<string[]> {
  const completed: string[] = [];
  for (const backup of catalog.backups) {
    const info = backup.info;
    if (statusOf(backup) !== 'WAITING_FOR_WALS' || !info?.begin_wal || !info.end_wal) continue;
    const needed = segmentsBetween(info.begin_wal, info.end_wal, info.xlog_segment_size);
    if (!needed.every((name) => catalog.usage.has(name))) continue;
    // Through the catalogue's store: backup.info may be an object (an s3:// basebackups_directory).
    const saved = await withBackupStore(catalog.config, (store) =>
      updateBackupInfo(store, backup, (current) =>
        current.status === 'WAITING_FOR_WALS' ? { ...current, status: 'DONE' } : null,
      ),
    );
    if (!saved) continue;
    announce(backup.id);
    completed.push(backup.id);
  }
  return completed;
}
