/**
 * Removing WAL files from the archive (deletions, the first backup's clean-up), so that a kill at
 * any point leaves a catalogue the next run completes. One removal at a time per server (the
 * `wal-removal` lock); each first writes its list of files to a journal beside its lock, then
 * drops them from xlog.db, then deletes the files, then the journal. A removal killed on the way
 * leaves the journal; the next removal, `cron` and `rebuild-xlogdb` finish it, so xlog.db and the
 * files agree again (no orphan file that nothing would ever delete). Nothing is removed from a
 * catalogue that could not be read completely; finishing a journal only completes a removal
 * decided on a complete one.
 */
import type { ServerLayout } from '../../catalog/layout.js';
import type { HookRunner } from '../../hooks/index.js';
import { withWalDeleteHooks } from '../../hooks/index.js';
import { acquireLock, serverLockPath, tryAcquireLock, withLock } from '../../locks/index.js';
import type { Reporter } from '../../output/reporter.js';
import { refuseImmutable } from '../../storage/immutable.js';
import { PosixStorage } from '../../storage/index.js';
import { XLOGDB_LOCK_WAIT_MS } from '../../wal/archive-service.js';
import type { WalArchive } from '../../wal/archive.js';
import { localWalArchive, openWalArchive } from '../../wal/archive.js';
import type { XlogDbEntry } from '../../wal/xlogdb.js';
import { XlogDbFile } from '../../wal/xlogdb-file.js';
import type { ServerCatalog } from './backup-catalog.js';
import { requireCompleteCatalog, requireCompleteParts, unreadableXlogLines } from './backup-catalog.js';

/** Removes WAL segments (and .backup/.partial files) older than `segment`; history files stay. */
export async function removeWalsBefore(
  catalog: ServerCatalog,
  segment: string,
  hooks?: HookRunner,
): Promise<string[]> {
  const names = catalog.xlog
    .map((entry) => entry.name)
    .filter((name) => !name.endsWith('.history') && name.slice(0, 24) < segment)
    .sort();
  return removeWalFiles(catalog, names, hooks);
}

/**
 * worm_mode: throws (naming the first file, nothing removed) when write-once storage still
 * protects one of the WAL files `names` or its hash directory. Deletions call it before they
 * change anything; removeWalFiles calls it too.
 */
export async function checkWalRemovable(
  catalog: ServerCatalog,
  names: readonly string[],
  action: string,
): Promise<void> {
  if (!catalog.config.worm_mode || names.length === 0) return;
  const archive = await openWalArchive(catalog.config);
  try {
    const files = names.map((name) => archive.pathOf(name));
    const directories = new Set(files.map((path) => path.slice(0, path.lastIndexOf('/'))).filter(Boolean));
    // Files first: the message then names a WAL file, the usual case. The hash directories
    // themselves only: they also hold newer WAL files that stay.
    await refuseImmutable(archive.storage, [...files, ...directories], action, { descend: false });
  } finally {
    archive.close();
  }
}

/**
 * Drops `names` from xlog.db, then deletes the files, each inside its pre/post wal_delete hook
 * scripts when configured; under the server's wal-removal lock, journalled (see above). An
 * object archive (barman-cloud's layout) has no xlog.db and needs no journal: its listing is
 * the index, so a file a killed removal left is one the next removal finds again.
 */
export async function removeWalFiles(
  catalog: ServerCatalog,
  names: readonly string[],
  hooks?: HookRunner,
): Promise<string[]> {
  if (names.length === 0) return [];
  const { layout, config } = catalog;
  const refused = `WAL files of server '${layout.server}' not removed`;
  requireCompleteCatalog(catalog, refused);
  await checkWalRemovable(catalog, names, refused);
  const lock = await acquireLock(removalLockPath(layout), {
    waitMs: XLOGDB_LOCK_WAIT_MS,
    busyMessage: `WAL files of server ${layout.server} are being removed by another process`,
  });
  const archive = await openWalArchive(config);
  try {
    const journal = removalJournal(layout);
    const indexed = archive.layout === 'barman';
    if (indexed) {
      await finishJournal(layout, true);
      await journal.storage.removeInterruptedWrites('', journal.name);
      await journal.storage.writeFile(journal.name, names.map((name) => `${name}\n`).join(''));
      await dropFromXlogDb(layout, new Set(names), refused);
    }
    // The index's lines of the files: their compression (an object's name) and, for the
    // wal_delete hook scripts, BARMAN_SIZE and the rest.
    const entries = new Map(catalog.xlog.map((entry) => [entry.name, entry]));
    await deleteWalFiles(archive, names, entries, hooks?.has('wal_delete') ? hooks : null);
    if (indexed) await removeJournal(journal);
    return [...names];
  } finally {
    archive.close();
    lock.release();
  }
}

/**
 * Finishes a WAL removal that a killed process left half done, if no removal is running (cron).
 * Resolves with the names it removed (none when there was nothing to finish).
 */
export async function finishInterruptedWalRemoval(layout: ServerLayout, report: Reporter): Promise<string[]> {
  const lock = tryAcquireLock(removalLockPath(layout));
  if (!lock) return [];
  try {
    return await finishAndReport(layout, report, true);
  } finally {
    lock.release();
  }
}

/** rebuild-xlogdb: waits for a running removal, finishes an interrupted one, then runs `work`. */
export async function withoutWalRemoval<T>(
  layout: ServerLayout,
  report: Reporter,
  work: () => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(removalLockPath(layout), {
    waitMs: XLOGDB_LOCK_WAIT_MS,
    busyMessage: `WAL files of server ${layout.server} are being removed by another process`,
  });
  try {
    // The rebuild rewrites xlog.db from the files: only the files of the journal go first.
    await finishAndReport(layout, report, false);
    return await work();
  } finally {
    lock.release();
  }
}

async function finishAndReport(
  layout: ServerLayout,
  report: Reporter,
  updateXlogDb: boolean,
): Promise<string[]> {
  const names = await finishJournal(layout, updateXlogDb);
  if (names.length > 0)
    report.info(`Finished an interrupted removal of ${names.length} WAL file(s) of server ${layout.server}`);
  return names;
}

function removalLockPath(layout: ServerLayout): string {
  return serverLockPath(layout.lockDirectory, layout.server, 'wal-removal');
}

/**
 * `.<server>-wal-removal.journal`, beside the lock (local, as the locks are): the files a
 * removal in progress deletes.
 */
function removalJournal(layout: ServerLayout): { storage: PosixStorage; name: string } {
  return { storage: new PosixStorage(layout.lockDirectory), name: `.${layout.server}-wal-removal.journal` };
}

async function removeJournal({ storage, name }: { storage: PosixStorage; name: string }): Promise<void> {
  await storage.remove(name);
  await storage.syncDir('');
}

/**
 * Completes the journalled removal, if any (the caller holds the wal-removal lock). With
 * `updateXlogDb` false (rebuild-xlogdb, which rewrites xlog.db next) only the files go, so a
 * damaged xlog.db never blocks the rebuild that repairs it.
 */
async function finishJournal(layout: ServerLayout, updateXlogDb: boolean): Promise<string[]> {
  const journal = removalJournal(layout);
  let text: string;
  try {
    text = (await journal.storage.readFile(journal.name)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  // A journal torn by a crash before its rename cannot exist (it is written atomically); an
  // unexpected line is skipped rather than trusted as a path.
  const names = text
    .split('\n')
    .filter((name) => /^[0-9A-F]{24}(\.[0-9A-F]{8}\.backup|\.partial)?$/.test(name));
  if (updateXlogDb) {
    await dropFromXlogDb(
      layout,
      new Set(names),
      `an interrupted removal of WAL files of server '${layout.server}' not finished`,
    );
  }
  await deleteWalFiles(localWalArchive(layout.walsDirectory), names, new Map(), null);
  await removeJournal(journal);
  return names;
}

/** Rewrites xlog.db without `doomed` (atomically, under the xlogdb lock). */
async function dropFromXlogDb(
  layout: ServerLayout,
  doomed: ReadonlySet<string>,
  refused: string,
): Promise<void> {
  const xlogDb = XlogDbFile.at(layout.xlogDbFile);
  await withLock(
    serverLockPath(layout.lockDirectory, layout.server, 'xlogdb'),
    {
      waitMs: XLOGDB_LOCK_WAIT_MS,
      busyMessage: `xlog.db of server ${layout.server} is locked by another process`,
    },
    async () => {
      const current = await xlogDb.read();
      // Damaged since the catalogue was read: a rewrite would drop the lines it cannot parse.
      requireCompleteParts(unreadableXlogLines(layout.xlogDbFile, current.problems, layout.server), refused);
      if (!current.entries.some((entry) => doomed.has(entry.name))) return;
      await xlogDb.rewrite(
        current.entries.filter((entry) => !doomed.has(entry.name)),
        current.columns === 5 ? 5 : 4,
      );
    },
  );
}

async function deleteWalFiles(
  archive: WalArchive,
  names: readonly string[],
  entries: ReadonlyMap<string, XlogDbEntry>,
  hooks: HookRunner | null,
): Promise<void> {
  // Barman's layout finds a file by its name; barman-cloud's by its name, compression and encryption.
  const files = names.map((name) => {
    const entry = entries.get(name);
    return archive.layout === 'barman' || !entry
      ? { name }
      : { name, compression: entry.compression, encryption: entry.encryption };
  });
  if (!hooks) return archive.remove(files);
  await archive.remove(files, async ({ name, path }, remove) => {
    const entry = entries.get(name);
    const file = {
      segment: name,
      file: path,
      size: entry?.size ?? 0,
      timestamp: entry?.mtime ?? 0,
      compression: entry?.compression ?? null,
    };
    await withWalDeleteHooks(hooks, file, remove);
  });
}
