/**
 * backup: one script of named phases for every backup_method, each in its own file —
 * checks (checks.ts; incremental.ts for --incremental) → start (start.ts: identity, interrupted backups, a new backup.info) → the
 * executor's start, copy and stop (executors/, chosen by executorFor) → finish (finish.ts: data
 * page checksums (page-check.ts), size, status) → WAL wait (wal-wait.ts) → retention (retention.ts). Status goes EMPTY -> STARTED ->
 * WAITING_FOR_WALS -> DONE (a local-to-cloud backup is DONE once stored, as barman-cloud-backup's),
 * or FAILED with the error in backup.info; every backup.info change goes through the catalogue
 * (catalog/backup-location.ts). The backup lock keeps one backup per server at a time; a backup
 * that dies (even kill -9) stays STARTED with no process holding the lock, which listings show
 * and the next backup reports as failed.
 */
import type { BackupLocation } from '../../catalog/backup-location.js';
import { openBackupLocation } from '../../catalog/backup-location.js';
import type { BackupInfo } from '../../catalog/backup-info.js';
import { parseBackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import type { ServerConfig, ServerEntry } from '../../config/index.js';
import { cloudStagingOf } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import type { BackupExecutor, BackupRequest, ExecutorOutcome } from '../../executors/index.js';
import { executorFor } from '../../executors/index.js';
import type { BackupHookInfo } from '../../hooks/index.js';
import { backupHookEnv, HookRunner } from '../../hooks/index.js';
import { acquireLock, serverLockPath } from '../../locks/index.js';
import type { CloudStaging } from '../../storage/index.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { backupInfoJson } from '../shared/backup-info-json.js';
import { withOverrides } from '../shared/overrides.js';
import { selectServers } from '../shared/select-servers.js';
import { isPassive } from '../shared/passive/state.js';
import { isMirror } from '../shared/mirror/state.js';
import { SharedConnection } from '../../postgres/index.js';
import { passesPreBackupCheck, refuseCopyFlags, refuseStagingFlags } from './checks.js';
import type { BackupOutcome } from './common.js';
import { failBackup, finishBackup } from './finish.js';
import { planPageCheck } from './page-check.js';
import type { IncrementalParent } from './incremental.js';
import { checkIncremental, INCREMENTAL_INFO_KEYS, linkToParent } from './incremental.js';
import { BackupRun, prepareDirectories, startBackup } from './start.js';
import { waitForWal } from './wal-wait.js';

export default defineCommandModule<BackupOutcome[]>({
  async run(ctx, input) {
    const servers = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    });
    const outcomes: BackupOutcome[] = [];
    for (const server of servers) {
      // As Barman: a passive node copies its backups from the primary (sync-backup), never takes one.
      if (isPassive(server.config)) {
        ctx.report.info(`Skipping passive server '${server.name}'`);
        continue;
      }
      // A mirror's backups are copies of its source server's (cron), never its own.
      if (isMirror(server.config)) {
        ctx.report.info(`Skipping mirror server '${server.name}' (a copy of '${server.config.mirror_of}')`);
        continue;
      }
      outcomes.push(await backupServer(ctx, server, input.options, input.overrides));
    }
    return outcomes;
  },
  renderConsole: () => [],
  // Barman 3.4's document is the backup's backup.info (to_dict); with several servers, one per server.
  renderJson: (outcomes) => {
    const stored = outcomes.flatMap((outcome) =>
      outcome.backupId && outcome.info
        ? [[outcome.server, backupInfoJson(outcome.backupId, outcome.info, 'ctime')] as const]
        : [],
    );
    if (outcomes.length === 1) return stored[0]?.[1] ?? null;
    return Object.fromEntries(stored);
  },
  exitCode: (outcomes) =>
    outcomes.some((outcome) => outcome.status === 'FAILED' || (outcome.corruptPages ?? 0) > 0) ? 1 : 0,
});

async function backupServer(
  ctx: CommandContext,
  server: ServerEntry,
  options: Readonly<Record<string, unknown>>,
  overrides: Readonly<Record<string, unknown>>,
): Promise<BackupOutcome> {
  const config = withOverrides(server.config, overrides);
  const refused =
    refuseCopyFlags(ctx, config.backup_method, overrides) ?? refuseStagingFlags(ctx, config, overrides);
  if (refused) return { server: config.name, backupId: null, status: 'FAILED', error: refused, info: null };
  const staging = cloudStagingOf(config, server.sources, overrides);
  const location = await openBackupLocation(config);
  try {
    const outcome = await backupAt(ctx, server, config, location, options, staging);
    return { ...outcome, info: outcome.backupId ? await storedInfo(location, outcome.backupId) : null };
  } finally {
    location.close();
  }
}

/** The backup.info a run left, for the JSON document; null when it cannot be read back. */
async function storedInfo(location: BackupLocation, id: string): Promise<BackupInfo | null> {
  const file = `${location.directoryOf(id)}/backup.info`;
  try {
    return parseBackupInfo((await location.storage.readFile(`${id}/backup.info`)).toString('utf8'), file);
  } catch {
    return null;
  }
}

async function backupAt(
  ctx: CommandContext,
  server: ServerEntry,
  config: ServerConfig,
  location: BackupLocation,
  options: Readonly<Record<string, unknown>>,
  staging: CloudStaging | null,
): Promise<BackupOutcome> {
  await prepareDirectories(config, location);
  const lock = await acquireLock(serverLockPath(location.lockDirectory, config.name, 'backup'), {
    busyMessage: 'Another backup process is running',
  });
  const hooks = HookRunner.forServer(ctx, config);
  // One PostgreSQL session for the whole run (checks, start, executor, finish), closed below.
  const run = new BackupRun(location, new SharedConnection(config.conninfo));
  let executor: BackupExecutor;
  let hookInfo: BackupHookInfo | null = null;
  let outcome: ExecutorOutcome;
  let corruptPages = 0;
  try {
    let parent: IncrementalParent | null = null;
    if (typeof options.incremental === 'string') {
      // Like Barman: validated before the pre-backup check, nothing written when refused.
      try {
        parent = await checkIncremental(config, location, options.incremental, run.connection);
      } catch (error) {
        const message = `failed to start backup: ${describeError(error)}`;
        ctx.report.error(message);
        return { server: config.name, backupId: null, status: 'FAILED', error: message };
      }
    }
    if (!(await passesPreBackupCheck(ctx, { ...server, config }, run.connection, parent !== null)))
      return { server: config.name, backupId: null, status: 'FAILED', error: 'pre-backup check failed' };
    try {
      executor = executorFor(config);
      const name = typeof options.name === 'string' ? options.name : null;
      const previous = await startBackup(
        ctx,
        config,
        executor,
        run,
        name,
        parent ? { parent_backup_id: parent.backup.id, laterKeysPresent: [...INCREMENTAL_INFO_KEYS] } : {},
      );
      if (parent) await linkToParent(location, parent.backup, run.backupId!);
      const directory = location.directoryOf(run.backupId!);
      const started = Date.now();
      ctx.report.info(
        `Starting backup using ${executor.mode} method for server ${config.name} in ${directory}`,
      );
      hookInfo = {
        backupId: run.backupId!,
        backupDir: directory,
        backupInfoPath: `${directory}/backup.info`,
        status: 'EMPTY',
        previousId: previous?.id ?? null,
        nextId: null,
        error: null,
      };
      run.step = 'running the pre_backup scripts';
      await hooks.run('backup', 'pre', backupHookEnv(hookInfo));
      const pageCheck = await planPageCheck(ctx, config, run);
      outcome = await executor.run({
        ...backupRequest(ctx, config, location, run, options, previous, staging),
        incremental: parent ? { parentId: parent.backup.id, manifest: parent.manifest } : null,
        pageCheck,
      });
      ({ corruptPages } = await finishBackup(ctx, config, executor, run, outcome, started, pageCheck));
    } catch (error) {
      // Ends at once whatever the failed copy left running on the server (a concurrent backup).
      await run.connection.close();
      await failBackup(ctx, config, run, error);
      if (hookInfo) {
        await hooks.run(
          'backup',
          'post',
          backupHookEnv({ ...hookInfo, status: 'FAILED', error: describeError(error) }),
        );
      }
      return { server: config.name, backupId: run.backupId, status: 'FAILED', error: describeError(error) };
    }
  } finally {
    await run.connection.close();
    lock.release();
  }
  // Without the backup lock: the WAL may take long to arrive.
  const status = executor.doneWithoutWal
    ? 'DONE'
    : await waitForWal(ctx, config, run.backupId!, options, hooks, outcome.fromStandby);
  await hooks.run('backup', 'post', backupHookEnv({ ...hookInfo, status }));
  return { server: config.name, backupId: run.backupId, status, error: null, corruptPages };
}

/** What the executor gets: the backup, where it goes, and the effective options. */
function backupRequest(
  ctx: CommandContext,
  config: ServerConfig,
  location: BackupLocation,
  run: BackupRun,
  options: Readonly<Record<string, unknown>>,
  previous: CatalogBackup | undefined,
  cloudStaging: CloudStaging | null,
): BackupRequest {
  const backupId = run.backupId!;
  return {
    config,
    storage: location.storage,
    backupId,
    backupDirectory: location.directoryOf(backupId),
    previous: previous
      ? {
          id: previous.id,
          directory: previous.directory,
          beginTimeMs: previous.info?.begin_time?.epochMs ?? null,
        }
      : null,
    options: {
      immediateCheckpoint: config.immediate_checkpoint,
      reuse: config.reuse_backup ?? 'off',
      jobs: config.parallel_jobs,
      bandwidthLimit: config.bandwidth_limit,
      tablespaceBandwidthLimit: config.tablespace_bandwidth_limit,
      startBatch: {
        size: config.parallel_jobs_start_batch_size,
        periodSeconds: config.parallel_jobs_start_batch_period,
      },
      retryTimes: options.retry === false ? 0 : config.basebackup_retry_times,
      retrySleepSeconds: config.basebackup_retry_sleep,
      cloudStaging,
    },
    connection: run.connection,
    report: ctx.report,
    log: ctx.log.child({ server: config.name, backup: backupId }),
    setStep: (name) => {
      run.step = name;
    },
    save: (fields) => run.save(fields),
  };
}
