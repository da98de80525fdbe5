/**
 * A whole recovery, whatever holds the backup and the WAL (a directory or a bucket): refuse
 * places in the catalogue, catalogue fresh WALs, choose the backup and hold its lock, open its
 * sources, plan (pure), check the sources, then apply the plan on the destination between the
 * recovery hooks. The command turns options into a RecoveryRequest and renders the outcome.
 */
import { noPassphraseCommand, passphraseSourceOf } from '../transfer/passphrase.js';
import { formatBackupInfo } from '../catalog/backup-info.js';
import type { CatalogBackup } from '../catalog/backups.js';
import type { ServerConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { backupLockPath, ensureLockDirectory, tryAcquireSharedLock } from '../locks/index.js';
import type { Reporter } from '../output/reporter.js';
import { findProgram } from '../process/postgres-tools.js';
import { runArchiveWal, walWaiting } from '../wal/archive-service.js';
import type { ArchiveHooks } from '../wal/archiver.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import type { ApplyResult } from './apply.js';
import type { ReadableBackup } from './chain.js';
import { resolveChain } from './chain.js';
import { archivedChain, chainBackups } from './chain-sources.js';
import { checkCombineMode, prepareCombine } from './combine/combine.js';
import { applyRecoveryPlan } from './apply.js';
import type { RecoveryDestination } from './destination.js';
import { LocalDestination } from './destination.js';
import { RemoteDestination } from './remote-destination.js';
import type { RecoveryPlan } from './plan.js';
import { buildRecoveryPlan, checkRecoveryRequest } from './plan.js';
import type { CatalogueArea } from './protected-paths.js';
import {
  chooseBackup,
  outsidePgdata,
  readHistories,
  refuseCataloguePlaces,
  refuseCatalogueTablespaces,
} from './request.js';
import type { RemoteStaging } from './remote-staging.js';
import { checkRecoveryHostTools, remoteStagingFor } from './remote-staging.js';
import { checkSources, entryKind } from './source-checks.js';
import type { BackupArchive, RecoverySources } from './sources.js';
import { archives, openSources } from './sources.js';
import type { RecoveryTargets } from './targets.js';

export interface RecoveryRequest {
  /** The server's configuration, command-line overrides applied. */
  config: ServerConfig;
  /** A backup id, name or shortcut, or `auto`. */
  backupReference: string;
  destination: string;
  remoteCommand: string | null;
  /** --tablespace NAME:LOCATION rules. */
  tablespaceRules: readonly string[];
  targets: RecoveryTargets;
  getWal: boolean;
  delta: boolean;
  dryRun: boolean;
  staging: { path: string; origin: string };
  /** --staging-wal-directory: where a PITR's WAL copies go on the destination host (absolute). */
  stagingWalDirectory?: string | null;
  /** --recovery-conf-filename: the PGDATA file the recovery settings are written to (PG 12+). */
  recoveryConfFilename?: string | null;
  /** Where no recovery may write: barman_home, the lock directory, every server's directories. */
  areas: CatalogueArea[];
}

/** What a recovery needs of the server's catalogue. */
export interface RecoveryCatalog {
  backups: CatalogBackup[];
  xlog: XlogDbEntry[];
}

/** What the hooks are told about a recovery. */
export interface RecoveryEvent {
  backup: CatalogBackup;
  backups: readonly CatalogBackup[];
  plan: RecoveryPlan;
}

export interface RecoveryDeps {
  report: Reporter;
  log: Logger;
  /** The server's catalogue, read once waiting WAL files are archived. */
  loadCatalog(): Promise<RecoveryCatalog>;
  /** archive-wal's hooks, for the WAL files archived before the recovery. */
  archiveHooks: ArchiveHooks | undefined;
  /** restore_command (and its comment) for --get-wal. */
  getWalCommand(): Promise<{ command: string; comment: string }>;
  /** pre_recovery scripts; post_recovery scripts, told the error when the recovery failed. */
  preRecovery(event: RecoveryEvent): Promise<void>;
  postRecovery(event: RecoveryEvent, error: unknown): Promise<void>;
}

export interface RecoveryOutcome {
  backupId: string;
  plan: RecoveryPlan;
  /** null for --dry-run. */
  result: ApplyResult | null;
  startedAt: Date;
  elapsedSeconds: number;
  /** Configuration files outside PGDATA the backup does not hold. */
  externalConfigFiles: string[];
}

export async function recover(request: RecoveryRequest, deps: RecoveryDeps): Promise<RecoveryOutcome> {
  const { config } = request;
  refuseCataloguePlaces(request, request.areas);
  // WALs still in incoming/ or streaming/ may be the ones the target needs. archive-wal only
  // archives into a local catalogue yet.
  const localCatalogue =
    config.basebackups_directory.kind === 'posix' && config.wals_directory.kind === 'posix';
  if (!request.dryRun && localCatalogue && (await walWaiting(config))) {
    try {
      await runArchiveWal(config, deps.report, deps.log, { hooks: deps.archiveHooks });
    } catch (error) {
      deps.report.warning(`archive-wal before recovery failed: ${describeError(error)}`);
    }
  }
  const catalog = await deps.loadCatalog();
  const backup = chooseBackup(catalog.backups, config.name, request.backupReference, request.targets);
  if (!backup.info) {
    throw new BarmanError(
      'backup-unreadable',
      `backup '${backup.id}' has an unreadable backup.info: ${backup.unreadable}`,
    );
  }
  // Refused requests stop here, before any lock file or directory is created.
  checkRecoveryRequest(config.name, backup.id, backup.info, request.destination);
  const target = { ...backup, info: backup.info };
  const chain = resolveChain(config.name, catalog.backups, target);
  if (chain.length > 1) refuseCombineMode(config, request);
  // A shared hold on the lock of the backup and of every backup of its chain: `barman delete`
  // (ours or Barman's) takes it exclusively, so none can be deleted under a running recovery,
  // nor recovered while being deleted.
  await ensureLockDirectory(config.barman_lock_directory);
  const locks: Array<{ release(): void }> = [];
  try {
    for (const member of chain) {
      const lock = tryAcquireSharedLock(backupLockPath(config.barman_lock_directory, config.name, member.id));
      if (!lock) {
        throw new BarmanError(
          'backup-locked',
          `backup ${member.id} of server ${config.name} is locked by another process (being deleted?)`,
          { hint: 'try again once it is released' },
        );
      }
      locks.push(lock);
    }
    let sources: RecoverySources | undefined;
    try {
      sources = await openSources(config, backup.id);
      // Deleted between the catalogue read and the lock: say so now rather than fail half-way.
      for (const member of chain) {
        if ((await entryKind(sources.backups, member.id)) === null) {
          throw new BarmanError(
            'backup-gone',
            `backup ${member.id} of server ${config.name} was just deleted`,
          );
        }
      }
      return await recoverFrom(request, deps, catalog, target, chain, sources);
    } finally {
      sources?.close();
    }
  } finally {
    for (const lock of locks) lock.release();
  }
}

/** combine_mode = link into a local destination would let PostgreSQL write into the backups. */
function refuseCombineMode(config: ServerConfig, request: RecoveryRequest): void {
  if (config.combine_mode !== 'link' || request.remoteCommand !== null || request.delta) return;
  throw new BarmanError(
    'combine-mode-unsafe',
    'combine_mode = link cannot be used for a local recovery: the recovered files would be hard links to ' +
      "the backups' files, and PostgreSQL would write into the backups",
    {
      hint: 'use combine_mode = copy or clone (or --combine-mode); link is for remote and --delta-restore recoveries, which copy the combined directory',
    },
  );
}

async function recoverFrom(
  request: RecoveryRequest,
  deps: RecoveryDeps,
  catalog: RecoveryCatalog,
  backup: ReadableBackup,
  chain: readonly ReadableBackup[],
  sources: RecoverySources,
): Promise<RecoveryOutcome> {
  const { config, remoteCommand } = request;
  const { report } = deps;
  const histories = await readHistories(config.name, catalog.xlog, sources.openWal);
  const archived = archivedChain(config, chain, sources);
  const plan = buildRecoveryPlan({
    server: config.name,
    backup: { id: backup.id, directory: sources.archives.location, info: backup.info },
    destination: request.destination,
    remoteCommand,
    tablespaceRules: request.tablespaceRules,
    targets: request.targets,
    getWal: request.getWal,
    getWalCommand: request.getWal ? await deps.getWalCommand() : null,
    delta: request.delta,
    tarArchives: sources.backupLayout.plainDirectory(backup.id, 'data') === null || archived !== null,
    chain: chain.map((member) => member.id),
    entries: catalog.xlog,
    walTimesAreCloseTimes: config.wals_directory.kind === 'posix',
    histories,
    stagingWalDirectory: request.stagingWalDirectory ?? null,
    recoveryConfFilename: request.recoveryConfFilename ?? null,
  });
  if (!remoteCommand) refuseCatalogueTablespaces(plan.tablespaces, request.areas);
  const outcome: RecoveryOutcome = {
    backupId: backup.id,
    plan,
    result: null,
    startedAt: new Date(),
    elapsedSeconds: 0,
    externalConfigFiles: outsidePgdata(backup),
  };
  if (request.dryRun) return outcome;
  const { selection } = plan.wal;
  if (selection.gap) {
    report.warning(
      `WAL file ${selection.gap.missing} is missing from the archive: recovery cannot replay past ${selection.gap.after}`,
    );
  }
  if (selection.targetTimeBeyondArchive) {
    report.warning(
      `no archived WAL file was closed after the target time: the archive may end before it (newest: ${selection.lastSegment ?? 'none'}); ` +
        "run 'barman switch-wal --force --archive' on a live server first, or PostgreSQL may stop short of the target",
    );
  }
  report.info(
    `Starting ${remoteCommand ? 'remote' : 'local'} restore for server ${config.name} using backup ${backup.id}`,
  );
  report.info(`Destination directory: ${plan.destination}`);
  if (remoteCommand) report.info(`Remote command: ${remoteCommand}`);
  await checkSources(plan, sources, archived);
  const remoteStaging = await remoteStagingOf(config, plan, backup.id, sources);
  await requirePassphrase(config, chain, plan.wal.selection.files, sources);
  // The chain's backups are read and checked here — labels, manifests, and from the manifests
  // which backup supplies each file: a chain with a backup or a file missing is refused before
  // the destination, the staging directory or the hooks see anything. Each INCREMENTAL file's
  // header is read as the combine writes that file (combine/scan.ts): a damaged one stops the
  // recovery there, naming it, as a damaged file of a full backup stops its copy. A chain stored
  // as tar archives is checked for them here, and read and checked as it is extracted (apply-chain.ts).
  const prepared = plan.chain && !archived ? await prepareCombine(chainBackups(chain, sources)) : null;
  if (archived && config.combine_mode !== 'copy' && config.combine_mode !== 'copy-file-range')
    throw new BarmanError(
      'combine-mode-unsupported',
      `combine_mode = ${config.combine_mode}: the chain of backup ${backup.id} is stored as tar archives in ${sources.backups.location}, whose files are extracted, not linked or cloned`,
      { hint: 'set combine_mode = copy (or --combine-mode copy)' },
    );
  // combine_mode clone or link, probed where the chain will be written (staging when remote or delta).
  if (prepared) {
    const direct = remoteCommand === null && !plan.delta;
    const roots = direct
      ? [plan.destination, ...plan.tablespaces.map((tablespace) => tablespace.location)]
      : [request.staging.path];
    await checkCombineMode(prepared, config.combine_mode, roots);
  }
  const destination = await openDestination(config, remoteCommand);
  await destination.checkReachable();
  if (remoteStaging)
    await checkRecoveryHostTools(remoteCommand!, remoteStaging.staging, remoteStaging.archives);
  if (plan.pitr) report.info(`Doing PITR. ${plan.targetDescription}`.trimEnd());

  const event: RecoveryEvent = { backup, backups: catalog.backups, plan };
  await deps.preRecovery(event);
  // Ctrl-C or a kill stops the copy cleanly: staging removed, the destination reported incomplete.
  const interruption = new AbortController();
  const interrupt = (signal: NodeJS.Signals) =>
    interruption.abort(new BarmanError('interrupted', `recovery interrupted by ${signal}`));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let result: ApplyResult;
  try {
    result = await applyRecoveryPlan({
      signal: interruption.signal,
      plan,
      destination,
      report,
      openWal: sources.openWal,
      archives: sources.archives,
      stagingRoot: request.staging.path,
      jobs: config.parallel_jobs,
      bandwidthLimit: config.bandwidth_limit || null,
      tablespaceBandwidthLimit: config.tablespace_bandwidth_limit,
      startBatch: {
        size: config.parallel_jobs_start_batch_size,
        periodSeconds: config.parallel_jobs_start_batch_period,
      },
      backupInfoText: formatBackupInfo(backup.info),
      remoteStaging: remoteStaging?.staging ?? null,
      ...(prepared ? { chain: { prepared, mode: config.combine_mode } } : {}),
      ...(archived ? { chain: { archived, mode: config.combine_mode } } : {}),
    });
  } catch (error) {
    await deps.postRecovery(event, error);
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  await deps.postRecovery(event, null);
  return { ...outcome, result, elapsedSeconds: (Date.now() - outcome.startedAt.getTime()) / 1000 };
}

/** staging_location = remote (remote-staging.ts): the staging on the recovery host, or null. */
async function remoteStagingOf(
  config: ServerConfig,
  plan: RecoveryPlan,
  backupId: string,
  sources: RecoverySources,
): Promise<{ staging: RemoteStaging; archives: BackupArchive[] } | null> {
  if (config.staging_location !== 'remote' || plan.remoteCommand === null) return null;
  const archives = plan.format === 'tar' ? await sources.archives.list() : [];
  const storage = sources.backups;
  const staging = remoteStagingFor({
    stagingLocation: config.staging_location,
    stagingPath: config.staging_path,
    plan,
    localArchives:
      storage.features.localFiles && storage.localPath
        ? storage.localPath(sources.backupLayout.archiveDirectory(backupId))
        : null,
    archives,
  });
  return staging ? { staging, archives } : null;
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

/**
 * An encrypted backup or WAL file needs the passphrase: asked now (then kept for the process)
 * and tried on the first encrypted file, so a missing, failing or empty
 * `encryption_passphrase_command`, a wrong passphrase or a missing private key stop the recovery
 * before the destination, the staging directory or the hooks see anything.
 */
async function requirePassphrase(
  config: ServerConfig,
  chain: readonly ReadableBackup[],
  wals: readonly XlogDbEntry[],
  sources: RecoverySources,
): Promise<void> {
  const backup = chain.find(
    (member) => member.info.encryption !== null && member.info.encryption !== undefined,
  );
  const wal = wals.find((entry) => entry.encryption !== null);
  if (!backup && !wal) return;
  const what = backup
    ? `backup ${backup.id} of server ${config.name}`
    : `WAL file ${wal!.name} of server ${config.name}`;
  const source = passphraseSourceOf(config);
  if (!source) throw noPassphraseCommand(what);
  await source(what);
  // gpg checks the passphrase and the key before it gives its first byte. The encrypted backup
  // may be an older one of the chain (a chain in a bucket may mix encrypted and plain backups).
  const stored = backup ? archives(sources.backups, sources.backupLayout, backup.id, source) : null;
  const archive = stored ? (await stored.list()).find((entry) => entry.encrypted) : undefined;
  if (!archive && !wal) return;
  const sample = archive ? await stored!.open(archive) : await sources.openWal(wal!);
  try {
    for await (const chunk of sample) if ((chunk as Buffer).length > 0) break;
  } finally {
    sample.destroy();
  }
}
