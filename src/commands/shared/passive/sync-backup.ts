/**
 * `barman sync-backup SERVER BACKUP_ID` on a passive node: copies one DONE backup of the primary
 * (as primary.info lists it) under `.<server>-<id>-sync-backup.lock`. The local backup.info is
 * written first with status SYNCING, so a copy interrupted at any point is listed as SYNCING
 * (never DONE) and the next sync resumes it; DONE is written only after every file was copied,
 * compared with the primary's by checksum and fsynced. A failed copy is marked FAILED with the
 * reason; a backup the primary no longer has, left unfinished here, is purged.
 */
import { join } from 'node:path';
import type { BackupInfo } from '../../../catalog/backup-info.js';
import { parseBackupInfo } from '../../../catalog/backup-info.js';
import type { CatalogBackup } from '../../../catalog/backups.js';
import { loadBackups, removeBackupFiles, saveBackupInfo, statusOf } from '../../../catalog/backups.js';
import { withBackupStore } from '../../../catalog/store.js';
import type { BackupStore } from '../../../catalog/store.js';
import type { ServerConfig } from '../../../config/index.js';
import { BarmanError, describeError } from '../../../errors/index.js';
import { ensureLockDirectory, serverLockPath, tryAcquireLock } from '../../../locks/index.js';
import type { Reporter } from '../../../output/reporter.js';
import { runRemote } from '../../../process/remote.js';
import { fsyncTree } from '../../../transfer/copy-tree.js';
import { decideRetention } from '../../../retention/policy.js';
import { retentionEnforced } from '../backup-catalog.js';
import { listRemoteTree, pullEntries, verifyPull } from './rsync-pull.js';
import type { PassiveConfig, PrimaryInfo } from './state.js';
import { basebackupsPath, loadPrimaryInfo } from './state.js';

export type SyncBackupOutcome = 'synced' | 'nothing-to-do' | 'purged' | 'failed' | 'busy';

export async function syncBackup(
  config: PassiveConfig,
  backupId: string,
  report: Reporter,
): Promise<SyncBackupOutcome> {
  await ensureLockDirectory(config.barman_lock_directory);
  const lock = tryAcquireLock(
    serverLockPath(config.barman_lock_directory, config.name, `${backupId}-sync-backup`),
  );
  if (!lock) {
    report.error(
      `Another synchronisation process for backup ${backupId} of server ${config.name} is already running.`,
    );
    return 'busy';
  }
  try {
    return await withBackupStore(config, (store) => syncUnderLock(config, store, backupId, report));
  } finally {
    lock.release();
  }
}

async function syncUnderLock(
  config: PassiveConfig,
  store: BackupStore,
  backupId: string,
  report: Reporter,
): Promise<SyncBackupOutcome> {
  const primary = await loadPrimaryInfo(config);
  const backups = await loadBackups(store);
  const local = backups.find((backup) => backup.id === backupId) ?? null;
  const onPrimary = backupId in primary.backups;
  const localStatus = local ? statusOf(local) : null;
  if (!onPrimary && !local)
    throw new BarmanError('sync-unknown-backup', `Backup ${backupId} is absent on ${config.name} server`);
  if (localStatus === 'DONE') {
    report.info(
      onPrimary
        ? `Backup ${backupId} is already synced with ${config.name} server`
        : `Backup ${backupId} is absent on ${config.name} server, but present locally (local copy only)`,
    );
    return 'nothing-to-do';
  }
  if (!onPrimary) {
    // Unfinished here (SYNCING after a kill, FAILED) and gone from the primary: it can never complete.
    report.warning(
      `Backup ${backupId} is absent on ${config.name} server and is incomplete locally, purging local backup`,
    );
    await removeBackupFiles(store, local!);
    return 'purged';
  }
  const info = await primaryBackupInfo(config, primary, backupId);
  if (locallyObsolete(config, backups, backupId, info)) {
    report.info(`Remote backup ${primary.config.name}/${backupId} is obsolete for local retention policies.`);
    return 'nothing-to-do';
  }
  const backup: CatalogBackup = local ?? {
    id: backupId,
    infoFile: join(basebackupsPath(config), backupId, 'backup.info'),
    directory: join(basebackupsPath(config), backupId),
    info: null,
    unreadable: null,
    keep: null,
  };
  await store.base.mkdir(backupId);
  await saveBackupInfo(store, backup, { ...info, status: 'SYNCING', error: null });
  report.info(`Synchronising with server ${config.name} backup ${backupId}`);
  try {
    await copyBackup(config, primary, backupId, info);
  } catch (error) {
    const message = `failure syncing server ${config.name} backup ${backupId}: ${firstLine(describeError(error))}`;
    await saveBackupInfo(store, backup, { ...info, status: 'FAILED', error: message });
    report.error(message);
    return 'failed';
  }
  await saveBackupInfo(store, backup, { ...info, status: 'DONE' });
  report.info(`Backup ${backupId} of server ${config.name} synchronised`);
  return 'synced';
}

/**
 * The primary's own backup.info (exact times, offsets and label, which sync-info's ctime() times
 * lose), from base/<id>/ or Barman 3.13.2+'s meta/<id>-backup.info.
 */
async function primaryBackupInfo(
  config: PassiveConfig,
  primary: PrimaryInfo,
  backupId: string,
): Promise<BackupInfo> {
  const candidates = [`${primary.config.basebackups_directory}/${backupId}/backup.info`];
  if (primary.config.backup_directory)
    candidates.push(`${primary.config.backup_directory}/meta/${backupId}-backup.info`);
  for (const path of candidates) {
    const result = await runRemote(config.primary_ssh_command, ['cat', path], 120_000);
    if (result.exitCode === 0) return parseBackupInfo(result.stdout, `${config.name} primary:${path}`);
  }
  throw new BarmanError(
    'sync-backup-vanished',
    `backup ${backupId} has no backup.info on the primary any more (deleted there?)`,
  );
}

async function copyBackup(
  config: PassiveConfig,
  primary: PrimaryInfo,
  backupId: string,
  info: BackupInfo,
): Promise<void> {
  const source = `${primary.config.basebackups_directory}/${backupId}`;
  const destination = join(basebackupsPath(config), backupId);
  // The primary's metadata and lock stay its own; pg_tblspc links are recreated by recovery.
  const excludes = [
    '/backup.info',
    '/.backup.lock',
    ...(info.tablespaces ?? []).map((t) => `/data/pg_tblspc/${t.oid}`),
  ];
  const entries = await listRemoteTree(config, source, excludes);
  if (entries === null)
    throw new BarmanError(
      'sync-backup-vanished',
      `backup ${backupId} was deleted on the primary during the sync`,
    );
  const request = { config, source, destination, entries };
  await pullEntries(request);
  const differing = await verifyPull(request);
  if (differing.length > 0)
    throw new BarmanError(
      'sync-backup-mismatch',
      `${differing.length} file(s) differ from the primary after the copy (first: ${differing[0]})`,
    );
  // The primary may have deleted the backup while its files were being read.
  if ((await runRemote(config.primary_ssh_command, ['test', '-d', source], 120_000)).exitCode !== 0)
    throw new BarmanError(
      'sync-backup-vanished',
      `backup ${backupId} was deleted on the primary during the sync`,
    );
  await fsyncTree(destination, config.parallel_jobs);
}

/**
 * Barman's rule (retention_policy_mode = auto): a backup the local retention policy would mark
 * OBSOLETE as soon as it arrived is not copied (passive nodes and mirrors).
 */
export function locallyObsolete(
  config: ServerConfig,
  local: readonly CatalogBackup[],
  backupId: string,
  info: BackupInfo,
): boolean {
  if (!retentionEnforced(config) || config.retention_policy_mode !== 'auto') return false;
  const inputs = local
    .filter((backup) => backup.id !== backupId && backup.info)
    .map((backup) => ({
      id: backup.id,
      status: statusOf(backup),
      endTimeMs: backup.info!.end_time?.epochMs ?? null,
      keep: backup.keep,
      incremental: (backup.info!.parent_backup_id ?? null) !== null,
      descendants: [],
    }));
  inputs.push({
    id: backupId,
    status: 'DONE',
    endTimeMs: info.end_time?.epochMs ?? null,
    keep: null,
    incremental: (info.parent_backup_id ?? null) !== null,
    descendants: [],
  });
  const { statuses } = decideRetention(inputs, {
    policy: config.retention_policy,
    gfs: config.retention_gfs,
    minimumRedundancy: config.minimum_redundancy,
    nowMs: Date.now(),
  });
  return statuses.get(backupId) === 'OBSOLETE';
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? text;
}
