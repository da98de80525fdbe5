/**
 * What `cron` does for a passive server instead of archiving WAL: fetch the primary's status
 * (sync-info from the position sync-wals.info recorded), copy each primary backup that is not
 * DONE here, oldest first, then the WAL files. Unlike Barman, which starts detached
 * `sync-backup`/`sync-wals` processes and copies one backup per cron run, the copies run in this
 * process (cron's exit code tells whether they worked) and every missing backup is copied; each
 * still takes its own lock, so a `sync-backup` run by hand and cron never copy the same backup.
 */
import { loadBackups, statusOf } from '../../../catalog/backups.js';
import { withBackupStore } from '../../../catalog/store.js';
import type { Reporter } from '../../../output/reporter.js';
import type { PassiveConfig } from './state.js';
import { fetchPrimaryInfo, loadSyncWalsPosition } from './state.js';
import { syncBackup } from './sync-backup.js';
import { syncWals } from './sync-wals.js';

export interface SyncCronOutcome {
  backups: string[];
  wals: number;
}

export async function syncFromPrimary(
  config: PassiveConfig,
  report: Reporter,
  configFile: string,
): Promise<SyncCronOutcome> {
  const primary = await fetchPrimaryInfo(config, await loadSyncWalsPosition(config), report, configFile);
  const outcome: SyncCronOutcome = { backups: [], wals: 0 };
  const local = await withBackupStore(config, loadBackups);
  const localStatus = new Map(local.map((backup) => [backup.id, statusOf(backup)]));
  // Backups to copy, and unfinished local copies of backups the primary no longer has (purged).
  const candidates = new Set(Object.keys(primary.backups));
  for (const backup of local) if (statusOf(backup) !== 'DONE') candidates.add(backup.id);
  const toSync = [...candidates].filter((id) => localStatus.get(id) !== 'DONE').sort();
  if (toSync.length === 0) report.info(`No backup synchronisation required for server ${config.name}`);
  for (const id of toSync) {
    if (id in primary.backups) report.info(`Starting copy of backup ${id} for server ${config.name}`);
    if ((await syncBackup(config, id, report)) === 'synced') outcome.backups.push(id);
  }
  if (primary.wals.length === 0) {
    report.info(`No WAL synchronisation required for server ${config.name}`);
    return outcome;
  }
  report.info(`Started copy of WAL files for server ${config.name}`);
  outcome.wals = (await syncWals(config, report)).copied.length;
  return outcome;
}
