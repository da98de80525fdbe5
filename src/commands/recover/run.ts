/**
 * recover (alias restore): validate the request, catalogue fresh WALs, build the plan (pure),
 * then apply it with the recovery hooks around it, and explain what was changed.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, isAbsolute } from 'node:path';
import type { CatalogBackup } from '../../catalog/backups.js';
import { resolveBackup, statusOf } from '../../catalog/backups.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError, UsageError } from '../../errors/index.js';
import { archiveHooks, backupHookInfo, HookRunner, recoveryHookEnv } from '../../hooks/index.js';
import { backupLockPath, tryAcquireSharedLock } from '../../locks/index.js';
import { humanDuration } from '../../output/time.js';
import { runProgramUnchecked } from '../../process/index.js';
import { findProgram } from '../../process/postgres-tools.js';
import { shellQuote } from '../../process/spawn.js';
import type { ApplyResult } from '../../recovery/apply.js';
import { applyRecoveryPlan } from '../../recovery/apply.js';
import type { RecoveryDestination } from '../../recovery/destination.js';
import { LocalDestination, RemoteDestination } from '../../recovery/destination.js';
import type { RecoveryPlan } from '../../recovery/plan.js';
import type { CatalogueArea, RecoveryPlace } from '../../recovery/protected-paths.js';
import { catalogueAreas, refuseCatalogueOverlap } from '../../recovery/protected-paths.js';
import { buildRecoveryPlan, checkRecoveryRequest, describePlan } from '../../recovery/plan.js';
import type { BackupInfo } from '../../catalog/backup-info.js';
import { formatBackupInfo, formatTimestamp } from '../../catalog/backup-info.js';
import type { BackupArchives, WalOpener } from '../../recovery/sources.js';
import {
  checkLocalSources,
  cloudArchives,
  cloudWals,
  localArchives,
  localWals,
} from '../../recovery/sources.js';
import type { RecoveryTargets } from '../../recovery/targets.js';
import { parseRecoveryTargets } from '../../recovery/targets.js';
import { runArchiveWal, walWaiting } from '../../wal/archive-service.js';
import { customWalCompression } from '../../wal/custom-compression.js';
import type { TimelineSwitch } from '../../wal/history.js';
import { parseTimelineHistory } from '../../wal/history.js';
import { formatLsn, parseLsn, parseWalName } from '../../wal/names.js';
import type { CommandContext, CommandInput } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import { hasCloudCatalog } from '../shared/cloud-catalog.js';
import { selectServers } from '../shared/select-servers.js';
import { withOverrides } from '../shared/overrides.js';

interface RecoverResult {
  server: string;
  backupId: string;
  destination: string;
  dryRun: boolean;
  planLines: string[];
  pitr: boolean;
  getWal: boolean;
  result: ApplyResult | null;
  startedAt: Date;
  elapsedSeconds: number;
  externalConfigFiles: string[];
}

export default defineCommandModule<RecoverResult>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) throw new BarmanError('server-disabled', `Server '${serverName}' cannot be used`);
    // --jobs, --bwlimit, --retry-times, --network-compression … win over the configuration.
    const config = withOverrides(server.config, {
      ...input.overrides,
      ...(input.options.retry === false ? { basebackup_retry_times: 0 } : {}),
    });
    const options = input.options;
    const targets = parseRecoveryTargets({
      targetTime: options.targetTime as string | undefined,
      targetXid: options.targetXid as string | undefined,
      targetLsn: options.targetLsn as string | undefined,
      targetName: options.targetName as string | undefined,
      targetImmediate: options.targetImmediate === true,
      targetTli: options.targetTli as string | undefined,
      exclusive: options.exclusive === true,
      targetAction: options.targetAction as string | undefined,
      standbyMode: options.standbyMode === true,
    });
    const remoteCommand = (options.remoteSshCommand as string | undefined)?.trim() || null;
    if (input.overrides.network_compression === true && !remoteCommand) {
      throw new UsageError('--network-compression needs --remote-ssh-command');
    }
    const getWal =
      options.getWal === false
        ? false
        : options.getWal === true || config.recovery_options.includes('get-wal');
    const delta =
      options.deltaRestore === false
        ? false
        : options.deltaRestore === true || config.recovery_options.includes('delta-restore');
    const destinationPath = input.args.destination_directory as string;
    const dryRun = options.dryRun === true;
    const staging = stagingRoot(config, options.recoveryStagingPath as string | undefined);
    // Before anything is written (archive-wal would sweep a copy made in incoming/).
    const areas = catalogueAreas(ctx.config);
    if (!remoteCommand) {
      // A relative path or '/' itself is refused later as a usage error (exit 2), as Barman does.
      const places = [
        { path: destinationPath, what: 'recovery destination' },
        ...relocations(options.tablespace),
      ];
      refuseCatalogueOverlap(
        places.filter((place) => place.path.startsWith('/') && place.path !== '/'),
        areas,
        DESTINATION_RULE,
      );
    }
    refuseCatalogueOverlap(
      [{ path: staging.path, what: 'recovery staging directory', origin: staging.origin }],
      areas.filter((area) => area.holdsFiles),
      STAGING_RULE,
    );

    const cloud = hasCloudCatalog(config);
    // WALs still in incoming/ or streaming/ may be the ones the target needs.
    if (!dryRun && !cloud && (await walWaiting(config))) {
      try {
        await runArchiveWal(config, ctx.report, ctx.log, {
          hooks: archiveHooks(HookRunner.forServer(ctx, config)),
        });
      } catch (error) {
        ctx.report.warning(`archive-wal before recovery failed: ${describeError(error)}`);
      }
    }
    const catalog = await loadAnyServerCatalog(config, ctx.report);
    const backup = chooseBackup(catalog, input.args.backup_id as string, targets);
    if (!backup.info) {
      throw new BarmanError(
        'backup-unreadable',
        `backup '${backup.id}' has an unreadable backup.info: ${backup.unreadable}`,
      );
    }
    // Refused requests stop here, before any lock file or directory is created.
    checkRecoveryRequest(config.name, backup.id, backup.info, destinationPath);
    // A shared hold on the backup's lock: `barman delete` (ours or Barman's) takes it exclusively,
    // so the backup cannot be deleted under a running recovery, nor recovered while being deleted.
    await mkdir(config.barman_lock_directory, { recursive: true });
    const backupLock = tryAcquireSharedLock(
      backupLockPath(config.barman_lock_directory, config.name, backup.id),
    );
    if (!backupLock) {
      throw new BarmanError(
        'backup-locked',
        `backup ${backup.id} of server ${config.name} is locked by another process (being deleted?)`,
        { hint: 'try again once it is released' },
      );
    }
    // Deleted between the catalogue read and the lock: say so now rather than fail half-way.
    if (!cloud && !existsSync(backup.infoFile)) {
      backupLock.release();
      throw new BarmanError('backup-gone', `backup ${backup.id} of server ${config.name} was just deleted`);
    }
    let sources: Awaited<ReturnType<typeof openSources>>;
    try {
      sources = await openSources(config, catalog, backup, cloud);
    } catch (error) {
      backupLock.release();
      throw error;
    }
    try {
      return await recoverWithSources(ctx, input, {
        config,
        catalog,
        backup: { ...backup, info: backup.info },
        targets,
        remoteCommand,
        getWal,
        delta,
        destinationPath,
        dryRun,
        sources,
        cloud,
        stagingPath: staging.path,
        areas,
      });
    } finally {
      sources.close();
      backupLock.release();
    }
  },

  renderConsole(data) {
    if (data.dryRun) return data.planLines;
    const lines: string[] = [];
    const result = data.result!;
    if (result.modified.length > 0) {
      lines.push(
        '',
        'IMPORTANT',
        'These settings have been modified to prevent data losses',
        '',
        ...result.modified,
      );
    }
    if (result.review.length > 0) {
      lines.push(
        '',
        'WARNING',
        'You are required to review the following options as potentially dangerous',
        '',
        ...result.review,
      );
    }
    if (data.externalConfigFiles.length > 0) {
      lines.push(
        '',
        'WARNING',
        'The following configuration files have not been saved during backup, hence they have not been restored.',
        'You need to manually restore them in order to start the recovered PostgreSQL instance:',
        '',
        ...data.externalConfigFiles.map((file) => `    ${file}`),
      );
    }
    if (data.getWal) {
      lines.push(
        '',
        "WARNING: 'get-wal' is in the specified 'recovery_options'.",
        'Before you start up the PostgreSQL server, please review the postgresql.auto.conf file',
        "inside the target directory. Make sure that 'restore_command' can be executed by the PostgreSQL user.",
      );
    }
    const elapsed = data.elapsedSeconds < 1 ? 'less than one second' : humanDuration(data.elapsedSeconds);
    lines.push(
      '',
      `Recovery completed (start time: ${formatTimestamp(data.startedAt, -data.startedAt.getTimezoneOffset())}, elapsed time: ${elapsed})`,
      'Your PostgreSQL server has been successfully prepared for recovery!',
    );
    return lines;
  },

  renderJson(data) {
    if (data.dryRun) return { server: data.server, backup_id: data.backupId, plan: data.planLines };
    const result = data.result!;
    return {
      server: data.server,
      backup_id: data.backupId,
      destination: data.destination,
      pitr: data.pitr,
      get_wal: data.getWal,
      files: result.files,
      bytes: result.bytes,
      reused_files: result.reusedFiles,
      wal_files: result.walFiles,
      changes: result.modified,
      warnings: result.review,
      missing_files: data.externalConfigFiles,
      start_time: data.startedAt.toISOString(),
      elapsed_seconds: data.elapsedSeconds,
    };
  },
});

interface RecoverRequest {
  config: ServerConfig;
  catalog: ServerCatalog;
  backup: CatalogBackup & { info: BackupInfo };
  targets: RecoveryTargets;
  remoteCommand: string | null;
  getWal: boolean;
  delta: boolean;
  destinationPath: string;
  dryRun: boolean;
  sources: RecoverySources;
  cloud: boolean;
  stagingPath: string;
  areas: CatalogueArea[];
}

const DESTINATION_RULE = {
  mayContain: false,
  hint: 'Recover into a directory outside barman_home, barman_lock_directory and the directories of every configured server.',
};
const STAGING_RULE = {
  mayContain: true,
  hint:
    "Stage outside the backups and WAL directories (the default is the server's backup_directory): " +
    'set --recovery-staging-path, staging_path or recovery_staging_path.',
};

async function recoverWithSources(
  ctx: CommandContext,
  input: CommandInput,
  request: RecoverRequest,
): Promise<RecoverResult> {
  const { config, catalog, backup, targets, remoteCommand, getWal, delta, destinationPath, dryRun, sources } =
    request;
  const options = input.options;
  const histories = await readHistories(catalog, sources.openWal);
  const plan = buildRecoveryPlan({
    server: config.name,
    backup: { id: backup.id, directory: backup.directory, info: backup.info },
    destination: destinationPath,
    remoteCommand,
    tablespaceRules: (options.tablespace as string[] | undefined) ?? [],
    targets,
    getWal,
    getWalCommand: getWal ? await getWalRestoreCommand(ctx, config, remoteCommand, targets) : null,
    delta,
    tarArchives: request.cloud,
    entries: catalog.xlog,
    histories,
  });
  if (!remoteCommand) {
    refuseCatalogueOverlap(
      plan.tablespaces.map((tablespace) => ({
        path: tablespace.location,
        what: `tablespace '${tablespace.name}' location`,
      })),
      request.areas,
      DESTINATION_RULE,
    );
  }
  const externalConfigFiles = outsidePgdata(backup);
  const startedAt = new Date();
  const base: RecoverResult = {
    server: config.name,
    backupId: backup.id,
    destination: plan.destination,
    dryRun,
    planLines: describePlan(plan),
    pitr: plan.pitr,
    getWal,
    result: null,
    startedAt,
    elapsedSeconds: 0,
    externalConfigFiles,
  };
  if (dryRun) return base;
  if (plan.wal.selection.gap) {
    ctx.report.warning(
      `WAL file ${plan.wal.selection.gap.missing} is missing from the archive: recovery cannot replay past ${plan.wal.selection.gap.after}`,
    );
  }

  if (plan.wal.selection.targetTimeBeyondArchive) {
    ctx.report.warning(
      `no archived WAL file was closed after the target time: the archive may end before it (newest: ${plan.wal.selection.lastSegment ?? 'none'}); ` +
        "run 'barman switch-wal --force --archive' on a live server first, or PostgreSQL may stop short of the target",
    );
  }
  ctx.report.info(
    `Starting ${remoteCommand ? 'remote' : 'local'} restore for server ${config.name} using backup ${backup.id}`,
  );
  ctx.report.info(`Destination directory: ${plan.destination}`);
  if (remoteCommand) ctx.report.info(`Remote command: ${remoteCommand}`);
  if (!request.cloud) await checkLocalSources(plan, catalog.layout.walsDirectory);
  const destination = await openDestination(config, remoteCommand);
  await destination.checkReachable();
  if (plan.pitr) ctx.report.info(`Doing PITR. ${plan.targetDescription}`.trimEnd());

  const hooks = HookRunner.forServer(ctx, config);
  const hookEnv = () =>
    recoveryHookEnv({
      ...backupHookInfo(backup, catalog.backups),
      destination: plan.destination,
      tablespaces: Object.fromEntries(
        plan.tablespaces.filter((t) => t.location !== t.original).map((t) => [t.name, t.location]),
      ),
      remoteCommand,
      recoverOptions: hookRecoverOptions(plan, targets),
    });
  if (hooks.has('recovery', 'pre')) await hooks.run('recovery', 'pre', hookEnv());
  let result: ApplyResult;
  // Ctrl-C or a kill stops the copy cleanly: staging removed, the destination reported incomplete.
  const interruption = new AbortController();
  const interrupt = (signal: NodeJS.Signals) =>
    interruption.abort(new BarmanError('interrupted', `recovery interrupted by ${signal}`));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    result = await applyRecoveryPlan({
      signal: interruption.signal,
      plan,
      destination,
      report: ctx.report,
      openWal: sources.openWal,
      archives: sources.archives,
      stagingRoot: request.stagingPath,
      jobs: config.parallel_jobs,
      bandwidthLimit: config.bandwidth_limit || null,
      tablespaceBandwidthLimit: config.tablespace_bandwidth_limit,
      startBatch: {
        size: config.parallel_jobs_start_batch_size,
        periodSeconds: config.parallel_jobs_start_batch_period,
      },
      backupInfoText: formatBackupInfo(backup.info),
    });
  } catch (error) {
    if (hooks.has('recovery', 'post')) {
      await hooks.run('recovery', 'post', { ...hookEnv(), BARMAN_ERROR: describeError(error) });
    }
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (hooks.has('recovery', 'post')) await hooks.run('recovery', 'post', hookEnv());
  return { ...base, result, elapsedSeconds: (Date.now() - startedAt.getTime()) / 1000 };
}

interface RecoverySources {
  archives: BackupArchives;
  openWal: WalOpener;
  close(): void;
}

/** The backup's archives and the WAL archive, local or in object storage. */
async function openSources(
  config: ServerConfig,
  catalog: ServerCatalog,
  backup: CatalogBackup,
  cloud: boolean,
): Promise<RecoverySources> {
  if (!cloud) {
    return {
      archives: localArchives(backup.directory),
      openWal: localWals(catalog.layout.walsDirectory, customWalCompression(config)),
      close: () => {},
    };
  }
  // The SDK loads only for cloud servers.
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const base = config.basebackups_directory;
  const wals = config.wals_directory;
  if (base.kind !== 's3' || wals.kind !== 's3') {
    throw new BarmanError(
      'cloud-layout-unsupported',
      `server '${config.name}': recovering a cloud backup needs both basebackups_directory and wals_directory in object storage`,
    );
  }
  const backupStorage = new S3Storage(s3SettingsFor(config, base));
  const walStorage = new S3Storage(s3SettingsFor(config, wals));
  return {
    archives: cloudArchives(backupStorage, backup.id),
    openWal: cloudWals(walStorage),
    close: () => {
      backupStorage.destroy();
      walStorage.destroy();
    },
  };
}

/** A backup id, name or shortcut; `auto` picks the newest backup that can reach the target. */
function chooseBackup(catalog: ServerCatalog, reference: string, targets: RecoveryTargets): CatalogBackup {
  if (reference !== 'auto') return resolveBackup(catalog.backups, catalog.config.name, reference);
  const usable = catalog.backups.filter((backup) => ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup)));
  const { target } = targets;
  if (target.kind === 'xid' || target.kind === 'name') {
    throw new UsageError(
      `backup id 'auto' cannot choose a backup for a --target-${target.kind}: the catalogue does not know which backups precede it`,
      'Give the backup id (see list-backup), or use --target-time / --target-lsn.',
    );
  }
  const candidates = usable.filter((backup) => {
    if (target.kind === 'time') return (backup.info?.end_time?.epochMs ?? Infinity) <= target.epochMs;
    if (target.kind === 'lsn')
      return backup.info?.end_xlog ? parseLsn(backup.info.end_xlog) <= target.lsn : false;
    return true;
  });
  const chosen = candidates.at(-1);
  if (!chosen) {
    throw new BarmanError(
      'backup-unknown',
      `no backup of server '${catalog.config.name}' ends before the recovery target`,
      {
        hint: "See 'barman list-backup'.",
      },
    );
  }
  return chosen;
}

async function readHistories(
  catalog: ServerCatalog,
  openWal: WalOpener,
): Promise<Map<number, TimelineSwitch[]>> {
  const histories = new Map<number, TimelineSwitch[]>();
  for (const entry of catalog.xlog) {
    const wal = parseWalName(entry.name);
    if (!wal || wal.kind !== 'history') continue;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await openWal(entry)) chunks.push(chunk as Buffer);
      histories.set(wal.timeline, parseTimelineHistory(Buffer.concat(chunks).toString('utf8')));
    } catch (error) {
      throw new BarmanError(
        'history-unreadable',
        `cannot read timeline history file ${entry.name} of server '${catalog.config.name}': ${describeError(error)}`,
      );
    }
  }
  return histories;
}

/** restore_command for --get-wal: `barman get-wal` locally, barman-wal-restore from another host. */
async function getWalRestoreCommand(
  ctx: CommandContext,
  config: ServerConfig,
  remoteCommand: string | null,
  targets: RecoveryTargets,
): Promise<{ command: string; comment: string }> {
  const partial = targets.standbyMode ? [] : ['-P'];
  const q = (words: string[]) => words.map(shellQuote).join(' ');
  if (remoteCommand) {
    // The recovered host reaches back to this one by name, as Barman's getfqdn().
    const fqdn =
      (await runProgramUnchecked('hostname', ['-f']).catch(() => null))?.stdout.trim() || hostname();
    return {
      comment: "The 'barman-wal-restore' command is provided by barman-ts (or Barman's 'barman-cli' package)",
      command: `barman-wal-restore ${q([...partial, '-U', ctx.config.global.barman_user, '-c', ctx.config.configFile, fqdn, config.name])} %f %p`,
    };
  }
  return {
    comment: `The 'barman get-wal' command must run as the '${ctx.config.global.barman_user}' user`,
    command: `${q([...barmanCommand(), '-c', ctx.config.configFile, '-q', 'get-wal', ...partial, config.name])} %f > %p`,
  };
}

/** How this barman-ts was started, usable from PostgreSQL's shell. */
function barmanCommand(): string[] {
  const script = process.argv[1] ?? 'barman';
  if (isAbsolute(script) && basename(script) === 'barman') return [script];
  return isAbsolute(script) ? [process.execPath, script] : ['barman'];
}

async function openDestination(
  config: ServerConfig,
  remoteCommand: string | null,
): Promise<RecoveryDestination> {
  if (!remoteCommand) return new LocalDestination();
  const rsync = await findProgram('rsync', config.path_prefix);
  if (!rsync) {
    throw new BarmanError(
      'rsync-missing',
      'rsync not found in path_prefix or PATH: it is needed for a remote recovery',
    );
  }
  return new RemoteDestination(remoteCommand, {
    program: rsync,
    compress: config.network_compression,
    retryTimes: config.basebackup_retry_times,
    retrySleepSeconds: config.basebackup_retry_sleep,
  });
}

/** The locations of --tablespace NAME:LOCATION rules (the plan reports malformed ones). */
function relocations(rules: unknown): RecoveryPlace[] {
  return ((rules as string[] | undefined) ?? []).flatMap((rule) => {
    const colon = rule.indexOf(':');
    return colon > 0 && rule.length > colon + 1
      ? [{ path: rule.slice(colon + 1), what: `tablespace '${rule.slice(0, colon)}' location` }]
      : [];
  });
}

/** Where tar archives and WAL files are staged, and which setting chose it. */
function stagingRoot(
  config: ServerConfig,
  fromCommandLine: string | undefined,
): { path: string; origin: string } {
  if (fromCommandLine) return { path: fromCommandLine, origin: '--recovery-staging-path' };
  for (const option of ['staging_path', 'recovery_staging_path', 'local_staging_path'] as const) {
    const path = config[option];
    if (path) return { path, origin: option };
  }
  // Not /tmp (often a small tmpfs): a tar backup may be extracted here whole.
  return { path: config.backup_directory, origin: 'backup_directory' };
}

function hookRecoverOptions(plan: RecoveryPlan, targets: RecoveryTargets): Record<string, unknown> {
  const { target } = targets;
  return {
    target_time: target.kind === 'time' ? target.text : null,
    target_xid: target.kind === 'xid' ? target.xid : null,
    target_lsn: target.kind === 'lsn' ? formatLsn(target.lsn) : null,
    target_name: target.kind === 'name' ? target.name : null,
    target_immediate: target.kind === 'immediate',
    target_tli: targets.timeline ? plan.wal.selection.targetTimeline : null,
    exclusive: targets.exclusive,
    target_action: targets.action,
    standby_mode: targets.standbyMode,
    get_wal: plan.wal.mode === 'get-wal',
    delta_restore: plan.delta,
  };
}

/** Config files recorded in backup.info that lie outside PGDATA (not part of the backup). */
function outsidePgdata(backup: CatalogBackup): string[] {
  const info = backup.info;
  if (!info?.pgdata) return [];
  return [info.config_file, info.hba_file, info.ident_file, ...(info.included_files ?? [])].filter(
    (file): file is string => !!file && !file.startsWith(`${info.pgdata}/`),
  );
}
