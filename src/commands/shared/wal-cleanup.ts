/**
 * Removing WAL files (older than the first backup, or only a deleted backup needed): xlog.db
 * first, then the files; never from a catalogue that could not be read completely.
 */
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { HookRunner } from '../../hooks/index.js';
import { withWalDeleteHooks } from '../../hooks/index.js';
import { serverLockPath, withLock } from '../../locks/index.js';
import { XLOGDB_LOCK_WAIT_MS } from '../../wal/archive-service.js';
import { hashDir } from '../../wal/names.js';
import { XlogDbFile } from '../../wal/xlogdb-file.js';
import type { ServerCatalog } from './backup-catalog.js';
import { requireCompleteCatalog, unreadableXlogLines } from './backup-catalog.js';

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
 * Drops `names` from xlog.db (atomic rewrite under the xlogdb lock), then deletes the files,
 * each inside its pre/post wal_delete hook scripts when configured.
 */
export async function removeWalFiles(
  catalog: ServerCatalog,
  names: readonly string[],
  hooks?: HookRunner,
): Promise<string[]> {
  if (names.length === 0) return [];
  const { layout, config } = catalog;
  const refused = `WAL files of server '${config.name}' not removed`;
  requireCompleteCatalog(catalog, refused);
  const doomed = new Set(names);
  const xlogDb = new XlogDbFile(layout.xlogDbFile);
  await withLock(
    serverLockPath(layout.lockDirectory, config.name, 'xlogdb'),
    {
      waitMs: XLOGDB_LOCK_WAIT_MS,
      busyMessage: `xlog.db of server ${config.name} is locked by another process`,
    },
    async () => {
      const current = await xlogDb.read();
      // Damaged since the catalogue was read: a rewrite would drop the lines it cannot parse.
      requireCompleteCatalog(
        { ...catalog, unreadable: unreadableXlogLines(layout.xlogDbFile, current.problems, config.name) },
        refused,
      );
      await xlogDb.rewrite(
        current.entries.filter((entry) => !doomed.has(entry.name)),
        current.columns === 5 ? 5 : 4,
      );
    },
  );
  const directories = new Set<string>();
  // xlog.db lines of the files, for the wal_delete hook scripts (BARMAN_SIZE, ...).
  const entries = hooks?.has('wal_delete') ? new Map(catalog.xlog.map((entry) => [entry.name, entry])) : null;
  for (const name of names) {
    const path = join(layout.walsDirectory, hashDir(name), name);
    const remove = () =>
      unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    const entry = entries?.get(name);
    if (entries) {
      const file = {
        segment: name,
        file: path,
        size: entry?.size ?? 0,
        timestamp: entry?.mtime ?? 0,
        compression: entry?.compression ?? null,
      };
      await withWalDeleteHooks(hooks, file, remove);
    } else {
      await remove();
    }
    directories.add(dirname(path));
  }
  for (const directory of directories) {
    if ((await readdir(directory).catch(() => ['?'])).length === 0) await rmdir(directory).catch(() => {});
  }
  return [...names];
}
