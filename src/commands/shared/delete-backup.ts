/**
 * Deleting a backup (the `delete` command and retention in `cron`), in Barman's posix layout or
 * barman-cloud's object layout alike (catalog/store.ts), following Barman's rules:
 * keep annotations and minimum_redundancy protect backups; WAL files become removable only when
 * no older backup needs them. Order of operations for crash safety: backup.info goes first, so
 * a deletion killed on the way never leaves a backup listed whose WAL or data is gone; then the
 * WAL (journalled, see wal-cleanup.ts: the next run finishes it); then the data. The directory a
 * killed deletion leaves without backup.info is removed by the next backup.
 * Nothing is deleted from a catalogue that could not be read completely.
 */
import type { CatalogBackup } from '../../catalog/backups.js';
import {
  checkBackupRemovable,
  leftoverBackupDirectories,
  removeBackupFiles,
  statusOf,
  unlistBackup,
  updateBackupInfo,
} from '../../catalog/backups.js';
import { BackupChains } from '../../catalog/chain.js';
import type { ServerLayout } from '../../catalog/layout.js';
import type { BackupStore } from '../../catalog/store.js';
import { displayPath, posixBackupStore, withBackupStore } from '../../catalog/store.js';
import { BarmanError, describeError } from '../../errors/index.js';
import type { HookRunner } from '../../hooks/index.js';
import { backupHookEnv, backupHookInfo } from '../../hooks/index.js';
import {
  backupLockPath,
  ensureLockDirectory,
  isLockHeld,
  serverLockPath,
  tryAcquireLock,
} from '../../locks/index.js';
import type { Reporter } from '../../output/reporter.js';
import { ctimeOfWallTime, humanDuration } from '../../output/time.js';
import { walCleanup, walFilesToRemove } from '../../retention/policy.js';
import type { ServerCatalog } from './backup-catalog.js';
import { requireCompleteCatalog } from './backup-catalog.js';
import { refuseImmutable } from '../../storage/immutable.js';
import { checkWalRemovable, removeWalFiles } from './wal-cleanup.js';

export interface DeleteOutcome {
  deleted: boolean;
  /** The backups deleted, in order: a backup's incremental descendants before it. */
  deletedIds: string[];
  removedWals: string[];
}

export interface DeleteOptions {
  fromRetention: boolean;
  /** The server's hook scripts (pre/post delete and wal_delete); without it none run. */
  hooks?: HookRunner;
  /** Called before each backup of the tree is deleted (cron's `Enforcing retention policy` line). */
  announce?: (id: string) => void;
}

/**
 * Deletes a backup and, as Barman 3.11+ does, every incremental backup built on it (deepest
 * first, so a deletion killed halfway never leaves a backup whose parent is gone). The keep
 * annotation and minimum_redundancy are checked on the backup asked for; each backup of the
 * tree is then deleted under its own lock, and its parent's children_backup_ids rewritten
 * (atomically) once it is gone.
 */
export async function deleteBackup(
  catalog: ServerCatalog,
  backup: CatalogBackup,
  report: Reporter,
  options: DeleteOptions,
): Promise<DeleteOutcome> {
  const server = catalog.config.name;
  requireCompleteCatalog(catalog, `backup ${backup.id} of server '${server}' not deleted`);
  const status = statusOf(backup);
  if (backup.keep !== null) {
    report.warning(
      `Skipping delete of backup ${backup.id} for server ${server} as it has a current keep request. ` +
        'If you really want to delete this backup please remove the keep and try again.',
    );
    throw new BarmanError('backup-kept', `Cannot delete backup ${backup.id} of server ${server}: it is kept`);
  }
  // Barman counts every DONE backup here, incremental ones included.
  const done = catalog.backups.filter((other) => statusOf(other) === 'DONE').length;
  if (status === 'DONE' && catalog.config.minimum_redundancy >= done) {
    report.warning(
      `Skipping delete of backup ${backup.id} for server ${server} due to minimum redundancy requirements ` +
        `(minimum redundancy = ${catalog.config.minimum_redundancy}, current redundancy = ${done})`,
    );
    throw new BarmanError('minimum-redundancy', `Cannot delete backup ${backup.id} of server ${server}`);
  }
  const descendants = catalog.chains.descendantsOf(backup.id);
  if (descendants.length > 0 && !options.fromRetention) {
    report.warning(
      `Backup ${backup.id} has incremental backups which depend on it. Deleting all backups in the tree`,
    );
  }
  const outcome: DeleteOutcome = { deleted: false, deletedIds: [], removedWals: [] };
  let current = catalog;
  for (const id of [...descendants, backup.id]) {
    const target = current.backups.find((other) => other.id === id);
    if (!target) continue;
    options.announce?.(id);
    try {
      outcome.removedWals.push(...(await deleteOneBackup(current, target, report, options)));
    } catch (error) {
      if (id !== backup.id) {
        report.error(
          'Failed to delete one of its incremental backups. Make sure all its dependent backups are deletable and try again.',
        );
      }
      throw error;
    }
    outcome.deletedIds.push(id);
    current = await forgetBackup(current, target, outcome.removedWals);
  }
  outcome.deleted = outcome.deletedIds.includes(backup.id);
  return outcome;
}

/**
 * The catalogue as it is once `gone` is deleted: the backup out of the listing, its WAL out of
 * the index, and its parent's children_backup_ids rewritten without it (nor ids of backups no
 * longer in the catalogue, which a deletion killed at this point leaves).
 */
async function forgetBackup(
  catalog: ServerCatalog,
  gone: CatalogBackup,
  removedWals: readonly string[],
): Promise<ServerCatalog> {
  const backups = catalog.backups.filter((other) => other.id !== gone.id);
  const parent = catalog.chains.parentOf(gone.id);
  if (parent) {
    const present = new Set(backups.map((other) => other.id));
    await withBackupStore(catalog.config, (store) =>
      updateBackupInfo(store, parent, (info) => {
        const children = (info.children_backup_ids ?? []).filter((id) => present.has(id));
        return { ...info, children_backup_ids: children.length > 0 ? children : null };
      }),
    );
  }
  const removed = new Set(removedWals);
  return {
    ...catalog,
    backups,
    xlog: catalog.xlog.filter((entry) => !removed.has(entry.name)),
    chains: new BackupChains(backups),
  };
}

/** Deletes one backup (its own lock, hooks, backup.info, WAL, files); resolves with the WAL removed. */
async function deleteOneBackup(
  catalog: ServerCatalog,
  backup: CatalogBackup,
  report: Reporter,
  options: DeleteOptions,
): Promise<string[]> {
  const { config, layout } = catalog;
  const server = config.name;
  const status = statusOf(backup);
  if (
    (status === 'STARTED' || status === 'EMPTY') &&
    isLockHeld(serverLockPath(layout.lockDirectory, server, 'backup'))
  ) {
    throw new BarmanError('backup-running', `Cannot delete a running backup (${server} ${backup.id})`);
  }
  await ensureLockDirectory(layout.lockDirectory);
  const lock = tryAcquireLock(backupLockPath(layout.lockDirectory, server, backup.id));
  if (!lock) {
    throw new BarmanError(
      'backup-locked',
      `Another process is holding the lock for backup ${backup.id} of server ${server}.`,
    );
  }
  try {
    return await withBackupStore(config, async (store) => {
      const started = Date.now();
      await checkBackupRemovable(store, backup);
      // Previous/next as they are before the deletion, for the post scripts too.
      const { hooks } = options;
      const hookEnv = hooks?.has('delete') ? backupHookEnv(backupHookInfo(backup, catalog.backups)) : null;
      if (hooks && hookEnv) await hooks.run('delete', 'pre', hookEnv);
      report.info(`Deleting backup ${backup.id} for server ${server}`);
      const views = catalog.backups.map((other) => ({
        id: other.id,
        status: statusOf(other),
        beginWal: other.info?.begin_wal ?? null,
        endWal: other.info?.end_wal ?? null,
        keep: other.keep,
      }));
      const xlogNames = catalog.xlog.map((entry) => entry.name);
      const removable = walFilesToRemove(views, backup.id, xlogNames, options);
      // worm_mode: refused whole, before anything goes, when the storage still protects its WAL.
      await checkWalRemovable(catalog, removable, `cannot delete backup ${backup.id}`);
      await unlistBackup(store, backup);
      const removedWals = await removeWalFiles(catalog, removable, hooks);
      // Barman announces the clean-up whenever it applies, even when no file goes.
      if (walCleanup(views, backup.id, options).applies) {
        report.info('Delete associated WAL segments:');
        for (const name of removedWals) report.info(`\t${name}`);
      }
      await removeBackupFiles(store, backup);
      report.info(
        `Deleted backup ${backup.id} (start time: ${ctimeOfWallTime(started, -new Date(started).getTimezoneOffset())}, ` +
          `elapsed time: ${humanDuration((Date.now() - started) / 1000)})`,
      );
      if (hooks && hookEnv) await hooks.run('delete', 'post', hookEnv);
      return removedWals;
    });
  } finally {
    lock.removeAndRelease();
  }
}

/**
 * Removes the base/<id> directories that have no backup.info (a backup killed before it wrote
 * one, a deletion killed after it removed it). The caller holds the server's backup lock, so no
 * backup is being created; a directory whose backup lock is held (a deletion at work) stays.
 */
export async function removeLeftoverBackups(
  where: BackupStore | ServerLayout,
  report: Reporter,
): Promise<string[]> {
  const store = 'base' in where ? where : posixBackupStore(where);
  const removed: string[] = [];
  for (const id of await leftoverBackupDirectories(store)) {
    const lockPath = backupLockPath(store.lockDirectory, store.server, id);
    const lock = tryAcquireLock(lockPath);
    if (!lock) continue;
    try {
      const directory = displayPath(store.base, id);
      report.warning(`removing ${directory}: left without backup.info by an interrupted backup or deletion`);
      // Garbage collection must not fail the command that does it; on write-once storage it
      // waits, whole, until nothing of the directory is protected any more.
      const protectedNow = store.worm
        ? await refuseImmutable(store.base, [id], `cannot remove ${directory}`).then(
            () => false,
            (error: unknown) => (report.warning(describeError(error)), true),
          )
        : false;
      if (protectedNow) continue;
      await store.base.removeTree(id).then(
        () => removed.push(id),
        (error: unknown) => report.warning(`cannot remove ${directory}: ${describeError(error)}`),
      );
    } finally {
      lock.removeAndRelease();
    }
  }
  return removed;
}
