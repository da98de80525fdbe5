/**
 * `barman sync-wals SERVER` on a passive node, under `.<server>-sync-wal.lock`: copies the WAL
 * files primary.info lists after sync-wals.info's last name, checks each copy's size against the
 * primary's xlog.db, fsyncs them, appends them to xlog.db (under its lock, each name once, so a
 * run killed after the append and before sync-wals.info is rewritten appends nothing twice) and
 * only then records the new position in sync-wals.info. Files are written under a temporary
 * name and renamed (rsync's default), so a WAL file is never half-written under its own name.
 */
import { join } from 'node:path';
import { loadBackups, statusOf } from '../../../catalog/backups.js';
import { serverLayout } from '../../../catalog/layout.js';
import { BarmanError } from '../../../errors/index.js';
import { ensureLockDirectory, serverLockPath, tryAcquireLock, withLock } from '../../../locks/index.js';
import type { Reporter } from '../../../output/reporter.js';
import { PosixStorage } from '../../../storage/index.js';
import { fsyncFile } from '../../../transfer/copy-tree.js';
import { XLOGDB_LOCK_WAIT_MS } from '../../../wal/archive-service.js';
import { hashDir, isSegmentName } from '../../../wal/names.js';
import { XlogDbFile } from '../../../wal/xlogdb-file.js';
import { pullEntries } from './rsync-pull.js';
import type { PassiveConfig } from './state.js';
import { loadPrimaryInfo, loadSyncWalsPosition, saveSyncWalsPosition, walsPath } from './state.js';

export interface SyncWalsOutcome {
  copied: string[];
  skipped?: string;
}

export async function syncWals(config: PassiveConfig, report: Reporter): Promise<SyncWalsOutcome> {
  await ensureLockDirectory(config.barman_lock_directory);
  const lock = tryAcquireLock(serverLockPath(config.barman_lock_directory, config.name, 'sync-wal'));
  if (!lock) {
    report.error(`Another sync-wal operation is running for server ${config.name}`);
    return { copied: [], skipped: 'busy' };
  }
  try {
    return await syncUnderLock(config, report);
  } finally {
    lock.release();
  }
}

async function syncUnderLock(config: PassiveConfig, report: Reporter): Promise<SyncWalsOutcome> {
  const position = await loadSyncWalsPosition(config);
  const primary = await loadPrimaryInfo(config);
  const remoteCompression = primary.config.compression ?? null;
  const localCompression = config.compression ?? null;
  if (remoteCompression !== localCompression)
    throw new BarmanError(
      'sync-compression-mismatch',
      `Compression method on server ${config.name} (${remoteCompression}) does not match local compression method (${localCompression})`,
      {
        hint: `Set compression = ${remoteCompression ?? '(unset)'} for ${config.name}: the WAL files are copied as stored.`,
      },
    );
  const layout = await serverLayout(config);
  const firstBackup = (await loadBackups(layout)).find(
    (backup) => backup.info && statusOf(backup) === 'DONE',
  );
  if (!firstBackup) {
    report.warning(`No base backup for server ${config.name}`);
    return { copied: [], skipped: 'no backup' };
  }
  const firstRemote = primary.wals.find((wal) => isSegmentName(wal.name))?.name;
  const beginWal = firstBackup.info!.begin_wal;
  if (firstRemote && beginWal && beginWal > firstRemote) {
    report.warning(
      `Skipping WAL synchronisation for server ${config.name}: no available local backup for ${firstRemote}`,
    );
    return { copied: [], skipped: 'no backup for the first WAL' };
  }
  const wanted = primary.wals.filter((wal) => position.lastWal === null || wal.name > position.lastWal);
  const relative = (name: string) => (hashDir(name) ? `${hashDir(name)}/${name}` : name);
  const destination = walsPath(config);
  const directories = [
    ...new Set(wanted.map((wal) => hashDir(wal.name)).filter((directory) => directory !== '')),
  ];
  await pullEntries({
    config,
    source: primary.config.wals_directory,
    destination,
    atomicFiles: true,
    entries: [
      ...directories.map((path) => ({ path, size: 0, directory: true })),
      ...wanted.map((wal) => ({ path: relative(wal.name), size: wal.size, directory: false })),
    ],
  });
  const storage = new PosixStorage(destination);
  for (const wal of wanted) {
    const stat = await storage.stat(relative(wal.name));
    if (!stat || stat.size !== wal.size)
      throw new BarmanError(
        'sync-wal-mismatch',
        `WAL file ${wal.name} copied from the primary has ${stat?.size ?? 0} bytes, the primary's xlog.db says ${wal.size}`,
      );
    await fsyncFile(join(destination, relative(wal.name)));
  }
  for (const directory of directories) await fsyncFile(join(destination, directory));
  const xlogDb = XlogDbFile.at(layout.xlogDbFile);
  await withLock(
    serverLockPath(config.barman_lock_directory, config.name, 'xlogdb'),
    { waitMs: XLOGDB_LOCK_WAIT_MS },
    async () => {
      const current = await xlogDb.read();
      const present = new Set(current.entries.map((entry) => entry.name));
      await xlogDb.append(
        wanted
          .filter((wal) => !present.has(wal.name))
          .map((wal) => ({
            name: wal.name,
            size: wal.size,
            mtime: wal.time,
            compression: wal.compression ?? null,
            encryption: wal.encryption ?? null,
          })),
        current.columns === 5 ? 5 : 4,
      );
    },
  );
  await saveSyncWalsPosition(config, primary);
  if (wanted.length > 0) report.info(`Synchronised ${wanted.length} WAL file(s) for server ${config.name}`);
  return { copied: wanted.map((wal) => wal.name) };
}
