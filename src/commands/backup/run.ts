/**
 * backup: the lifecycle around an executor. EMPTY -> STARTED -> WAITING_FOR_WALS -> DONE, or
 * FAILED with the error in backup.info. The backup lock keeps one backup per server at a time;
 * a backup that dies (even kill -9) stays STARTED with no process holding the lock, which
 * listings show and the next backup reports as failed.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupInfo } from '../../catalog/backup-info.js';
import { emptyBackupInfo, formatBackupInfo } from '../../catalog/backup-info.js';
import { loadBackups, statusOf, updateBackupInfo } from '../../catalog/backups.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { readIdentity, writeIdentity } from '../../catalog/identity.js';
import type { ServerLayout } from '../../catalog/layout.js';
import { serverLayout } from '../../catalog/layout.js';
import type { ServerEntry } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { executorFor, forceCheckpointOnPrimary } from '../../executors/index.js';
import type { BackupHookInfo } from '../../hooks/index.js';
import { archiveHooks, backupHookEnv, HookRunner } from '../../hooks/index.js';
import type { BackupRequest } from '../../executors/index.js';
import { acquireLock, serverLockPath } from '../../locks/index.js';
import { prettySize } from '../../output/format.js';
import type { Reporter } from '../../output/reporter.js';
import { InfoRedirectingReporter } from '../../output/reporter.js';
import { humanDuration } from '../../output/time.js';
import * as postgres from '../../postgres/index.js';
import { writeFileDurably } from '../../storage/posix.js';
import { runArchiveWal } from '../../wal/archive-service.js';
import { segmentsBetween } from '../../wal/names.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { loadServerCatalog } from '../shared/backup-catalog.js';
import { removeLeftoverBackups } from '../shared/delete-backup.js';
import { selectServers } from '../shared/select-servers.js';
import { removeWalsBefore } from '../shared/wal-cleanup.js';
import { isFirstBackup } from '../../retention/policy.js';
import { backupToCloud } from './cloud.js';
import { withOverrides } from '../shared/overrides.js';
import type { BackupOutcome } from './common.js';
import { backupIdNow, preBackupCheck } from './common.js';

export default defineCommandModule<BackupOutcome[]>({
  async run(ctx, input) {
    const servers = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    });
    const outcomes: BackupOutcome[] = [];
    for (const server of servers)
      outcomes.push(await backupServer(ctx, server, input.options, input.overrides));
    return outcomes;
  },
  renderConsole: () => [],
  renderJson: (outcomes) => Object.fromEntries(outcomes.map((outcome) => [outcome.server, outcome])),
  exitCode: (outcomes) => (outcomes.some((outcome) => outcome.status === 'FAILED') ? 1 : 0),
});

async function backupServer(
  ctx: CommandContext,
  server: ServerEntry,
  options: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, unknown>>,
): Promise<BackupOutcome> {
  const config = server.config;
  const refused = refuseCopyFlags(ctx, config.backup_method, overrides);
  if (refused) return { server: config.name, backupId: null, status: 'FAILED', error: refused };
  if (config.backup_method === 'local-to-cloud')
    return backupToCloud(ctx, { ...server, config: withOverrides(config, overrides) }, options);
  const layout = serverLayout(config);
  for (const directory of [
    layout.lockDirectory,
    layout.basebackupsDirectory,
    layout.walsDirectory,
    layout.incomingDirectory,
    layout.errorsDirectory,
    layout.streamingDirectory,
  ]) {
    await mkdir(directory, { recursive: true });
  }
  const lock = await acquireLock(serverLockPath(layout.lockDirectory, config.name, 'backup'), {
    busyMessage: 'Another backup process is running',
  });
  const hooks = HookRunner.forServer(ctx, config);
  const blocking = await preBackupCheck(ctx, server);
  if (blocking.length > 0) {
    lock.release();
    for (const result of blocking)
      ctx.log.warning(`check failed before backup: ${result.name}${result.hint ? ` (${result.hint})` : ''}`);
    ctx.report.error(
      `Impossible to start the backup: ${blocking.map((result) => `${result.name}${result.hint ? ` (${result.hint})` : ''}`).join(', ')}. ` +
        `Run 'barman check ${config.name}' for details`,
    );
    return { server: config.name, backupId: null, status: 'FAILED', error: 'pre-backup check failed' };
  }
  let hookInfo: BackupHookInfo | null = null;
  let info: BackupInfo | null = null;
  let backupId: string | null = null;
  let step = 'starting backup';
  let fromStandby = false;
  try {
    const executor = executorFor(config);
    await checkIdentity(config.conninfo, layout.identityFile);
    const backups = await loadBackups(layout);
    await markAbandoned(ctx, layout, backups);
    await removeLeftoverBackups(layout, ctx.report);
    backupId = backupIdNow();
    // A directory without backup.info (a backup killed as it began) is not in the catalogue.
    while (
      backups.some((other) => other.id === backupId) ||
      existsSync(join(layout.basebackupsDirectory, backupId))
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      backupId = backupIdNow();
    }
    const backupDirectory = join(layout.basebackupsDirectory, backupId);
    await mkdir(backupDirectory, { recursive: true });
    const infoFile = join(backupDirectory, 'backup.info');
    info = emptyBackupInfo(config.name, {
      mode: executor.mode,
      backup_name: typeof options.name === 'string' ? options.name : null,
      systemid: (await readIdentity(layout.identityFile))?.systemid ?? null,
    });
    await writeFileDurably(infoFile, formatBackupInfo(info));
    const save = async (fields: Partial<BackupInfo>) => {
      info = { ...info!, ...fields };
      await writeFileDurably(infoFile, formatBackupInfo(info));
    };
    const previous = [...backups].reverse().find((other) => statusOf(other) === 'DONE');
    const reuse = (overrides.reuse_backup ?? config.reuse_backup ?? 'off') as 'off' | 'copy' | 'link';
    const request: BackupRequest = {
      config,
      layout,
      backupId,
      backupDirectory,
      previous: previous
        ? {
            id: previous.id,
            directory: previous.directory,
            beginTimeMs: previous.info?.begin_time?.epochMs ?? null,
          }
        : null,
      options: {
        immediateCheckpoint: (overrides.immediate_checkpoint ?? config.immediate_checkpoint) as boolean,
        reuse,
        jobs: (overrides.parallel_jobs ?? config.parallel_jobs) as number,
        bandwidthLimit: (overrides.bandwidth_limit ?? config.bandwidth_limit) as number | null,
        tablespaceBandwidthLimit: config.tablespace_bandwidth_limit,
        startBatch: {
          size: (overrides.parallel_jobs_start_batch_size ?? config.parallel_jobs_start_batch_size) as number,
          periodSeconds: (overrides.parallel_jobs_start_batch_period ??
            config.parallel_jobs_start_batch_period) as number,
        },
        retryTimes:
          options.retry === false
            ? 0
            : ((overrides.basebackup_retry_times ?? config.basebackup_retry_times) as number),
        retrySleepSeconds: (overrides.basebackup_retry_sleep ?? config.basebackup_retry_sleep) as number,
      },
      report: ctx.report,
      log: ctx.log.child({ server: config.name, backup: backupId }),
      setStep: (name) => {
        step = name;
      },
      save,
    };
    const started = Date.now();
    ctx.report.info(
      `Starting backup using ${executor.mode} method for server ${config.name} in ${backupDirectory}`,
    );
    hookInfo = {
      backupId,
      backupDir: backupDirectory,
      backupInfoPath: infoFile,
      status: 'EMPTY',
      previousId: previous?.id ?? null,
      nextId: null,
      error: null,
    };
    step = 'running the pre_backup scripts';
    await hooks.run('backup', 'pre', backupHookEnv(hookInfo));
    const outcome = await executor.run(request);
    fromStandby = outcome.fromStandby;

    step = 'calculating backup size';
    const { size, deduplicated } = await measure(backupDirectory);
    await save({ size, deduplicated_size: deduplicated, status: 'WAITING_FOR_WALS' });
    ctx.report.info(
      reuse === 'link' && config.backup_method !== 'postgres'
        ? `Backup size: ${prettySize(size)}. Actual size on disk: ${prettySize(deduplicated)} (-${(size > 0 ? (1 - deduplicated / size) * 100 : 0).toFixed(2)}% deduplication ratio).`
        : `Backup size: ${prettySize(size)}`,
    );
    const final: BackupInfo = info;
    ctx.report.info(
      `Backup end at LSN: ${final.end_xlog} (${final.end_wal}, ${(final.end_offset ?? 0).toString(16).toUpperCase().padStart(8, '0')})`,
    );
    ctx.report.info(
      `Backup completed (start time: ${new Date(started).toISOString().replace('T', ' ').replace('Z', '')}, elapsed time: ${humanDuration((Date.now() - started) / 1000)})`,
    );
  } catch (error) {
    const full = isNoSpace(error);
    if (info && backupId) {
      const directory = join(layout.basebackupsDirectory, backupId);
      // A full disk: the partial copy is useless and takes the room every later run needs
      // (backup.info, archive-wal, the next backup).
      if (full) await removePartialCopy(ctx, directory);
      const message = describeError(error).split('\n')[0]!;
      const failed: BackupInfo = { ...info, status: 'FAILED', error: `failure ${step} (${message})` };
      await writeFileDurably(join(directory, 'backup.info'), formatBackupInfo(failed)).catch(
        (writeError: unknown) =>
          ctx.report.warning(`cannot mark backup ${backupId} FAILED: ${describeError(writeError)}`),
      );
    }
    ctx.report.error(`Backup failed ${step}.\nDETAILS: ${describeError(error)}`);
    if (full && backupId) {
      ctx.report.error(
        `No space left on the device of ${layout.basebackupsDirectory}: ` +
          `the partial copy of backup ${backupId} was removed (its backup.info is kept, FAILED)`,
      );
    }
    if (hookInfo) {
      await hooks.run(
        'backup',
        'post',
        backupHookEnv({ ...hookInfo, status: 'FAILED', error: describeError(error) }),
      );
    }
    return { server: config.name, backupId, status: 'FAILED', error: describeError(error) };
  } finally {
    lock.release();
  }

  const status = await finishWithWal(ctx, server, backupId, options, hooks, fromStandby);
  await hooks.run('backup', 'post', backupHookEnv({ ...hookInfo, status }));
  return { server: config.name, backupId, status, error: null };
}

/**
 * Command-line flags a method cannot honour: pg_basebackup and local-to-cloud copy no file by
 * file, so `--reuse-backup copy|link` is refused (as `reuse_backup` is in the configuration);
 * pg_basebackup streams over one connection, so `--jobs` has no effect there.
 */
function refuseCopyFlags(
  ctx: CommandContext,
  method: string,
  overrides: Readonly<Record<string, unknown>>,
): string | null {
  if (method !== 'postgres' && method !== 'local-to-cloud') return null;
  if (overrides.reuse_backup === 'copy' || overrides.reuse_backup === 'link') {
    const message = `--reuse-backup ${String(overrides.reuse_backup)} is not supported with backup_method = ${method}: only rsync and local-rsync backups reuse the files of the previous one`;
    ctx.report.error(message);
    return message;
  }
  if (method === 'postgres') {
    for (const [key, flag] of [
      ['parallel_jobs', '--jobs'],
      ['parallel_jobs_start_batch_size', '--jobs-start-batch-size'],
      ['parallel_jobs_start_batch_period', '--jobs-start-batch-period'],
    ] as const) {
      if (overrides[key] !== undefined)
        ctx.report.warning(
          `${flag} has no effect with backup_method = postgres: pg_basebackup copies over one connection`,
        );
    }
  }
  return null;
}

/** The server must still be the cluster the archive belongs to; the first backup records it. */
async function checkIdentity(conninfo: string, identityFile: string): Promise<void> {
  const client = await postgres.PostgresClient.connect(conninfo);
  try {
    const systemid = await postgres.systemIdentifier(client);
    const known = await readIdentity(identityFile);
    if (!known) {
      await writeIdentity(identityFile, { systemid, version: client.majorVersion });
    } else if (known.systemid !== systemid) {
      throw new BarmanError(
        'systemid-mismatch',
        `the PostgreSQL server has system identifier ${systemid}, but this server's archive belongs to ${known.systemid} (${identityFile})`,
        {
          hint: 'conninfo points to another cluster, or the cluster was re-created: use a new server name for it.',
        },
      );
    }
  } finally {
    await client.close();
  }
}

/** Backups left STARTED by a process that died: no backup runs (we hold the lock), so they failed. */
async function markAbandoned(
  ctx: CommandContext,
  layout: ServerLayout,
  backups: CatalogBackup[],
): Promise<void> {
  for (const backup of backups) {
    if (statusOf(backup) !== 'STARTED' && statusOf(backup) !== 'EMPTY') continue;
    const failed = await updateBackupInfo(layout, backup, (info) =>
      info.status === 'STARTED' || info.status === 'EMPTY'
        ? { ...info, status: 'FAILED', error: 'failure: the backup process was interrupted' }
        : null,
    ).catch((error: unknown) => {
      ctx.report.warning(`cannot mark backup ${backup.id} FAILED: ${describeError(error)}`);
      return null;
    });
    if (!failed) continue;
    ctx.report.warning(`backup ${backup.id} was interrupted (status ${statusOf(backup)}); marking it FAILED`);
    backup.info = failed;
  }
}

function isNoSpace(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (
      (cause as NodeJS.ErrnoException).code === 'ENOSPC' ||
      (cause as NodeJS.ErrnoException).code === 'EDQUOT'
    )
      return true;
    if (/no space left on device|disk quota exceeded/i.test(cause.message)) return true;
  }
  return false;
}

/** Everything of a failed backup but its backup.info. */
async function removePartialCopy(ctx: CommandContext, directory: string): Promise<void> {
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    if (name === 'backup.info') continue;
    await rm(join(directory, name), { recursive: true, force: true }).catch((error: unknown) =>
      ctx.log.warning(`cannot remove ${join(directory, name)}: ${describeError(error)}`),
    );
  }
}

/** size = every file; deduplicated = files not hard-linked to another backup. */
async function measure(directory: string): Promise<{ size: number; deduplicated: number }> {
  let size = 0;
  let deduplicated = 0;
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        const info = await stat(child);
        size += info.size;
        if (info.nlink === 1) deduplicated += info.size;
      }
    }
  };
  await walk(directory);
  return { size, deduplicated };
}

/**
 * Archives WAL, then DONE when every WAL file from begin_wal to end_wal is archived (waiting
 * for it with --wait). The first backup of a server removes the WAL archived before it, which
 * no backup can use (Barman does the same). A backup of a standby with primary_conninfo and
 * primary_checkpoint_timeout waits that long for its last WAL file, then forces a CHECKPOINT
 * and a WAL switch on the primary, and waits that long again.
 */
async function finishWithWal(
  ctx: CommandContext,
  server: ServerEntry,
  backupId: string,
  options: Readonly<Record<string, unknown>>,
  hooks: HookRunner,
  fromStandby: boolean,
): Promise<string> {
  const config = server.config;
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
      const done = await updateBackupInfo(catalog.layout, backup, (current) =>
        current.status === 'WAITING_FOR_WALS' || current.status === 'DONE'
          ? { ...current, status: 'DONE' }
          : null,
      );
      if (!done) {
        ctx.report.error(
          `backup ${backupId} of server ${config.name} was deleted or is being deleted: it cannot become DONE`,
        );
        return 'FAILED';
      }
      const views = catalog.backups.map((other) => ({ id: other.id, status: statusOf(other) }));
      const first = isFirstBackup(views, backupId);
      const [unreadable] = catalog.unreadable;
      if (first && unreadable) {
        // An unreadable backup.info may be an older backup that needs that WAL.
        ctx.report.warning(
          `WAL files older than this backup are kept: the catalogue could not be read completely: ${unreadable.detail}`,
        );
      } else if (first) {
        const removed = await removeWalsBefore(catalog, info.begin_wal, hooks);
        if (removed.length > 0) {
          ctx.report.info(`This is the first backup for server ${config.name}`);
          ctx.report.info('WAL segments preceding the current backup have been found:');
          for (const name of removed)
            ctx.report.info(`\t${name} from server ${config.name} has been removed`);
        }
      }
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
