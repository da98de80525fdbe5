/**
 * The backup catalogue of one server, on any Storage: every backup.info (Barman's layout:
 * base/<id>/ and meta/ of 3.13.2+, which wins; barman-cloud's: `<base>/<id>/`), the keep
 * annotations, backup id resolution, and the changes a backup's entry goes through (status
 * updates, keep, deletion). A backup.info that cannot be read is listed as unreadable with the
 * reason; it never breaks a listing.
 */
import { BarmanError, describeError } from '../errors/index.js';
import { fromSystemError, isSystemError, naming } from '../errors/system.js';
import { backupLockPath, tryAcquireSharedLock } from '../locks/index.js';
import type { Storage } from '../storage/index.js';
import { refuseImmutable } from '../storage/immutable.js';
import type { BackupInfo } from './backup-info.js';
import { formatBackupInfo, parseBackupInfo } from './backup-info.js';
import { BACKUP_ID } from './backup-reference.js';
import type { BackupStore, StoreOrLayout } from './store.js';
import { displayPath, readIfExists, storeOf } from './store.js';

export type KeepTarget = 'full' | 'standalone';

export interface CatalogBackup {
  id: string;
  /** The backup.info file read (or to write): a path, or an s3:// URL. */
  infoFile: string;
  /** The backup's data directory (base/<id>), or its prefix in a bucket. */
  directory: string;
  /** Null when the backup.info could not be read; `error` says why. */
  info: BackupInfo | null;
  unreadable: string | null;
  keep: KeepTarget | null;
  /** The backup.info is meta/<id>-backup.info (Barman 3.13.2+), not base/<id>/backup.info. */
  inMeta?: boolean;
}

const META_INFO = /^(\d{8}T\d{6})-backup\.info$/;

/** Where a backup's backup.info is kept. */
function infoFileOf(store: BackupStore, id: string, inMeta: boolean): { storage: Storage; path: string } {
  return inMeta && store.home
    ? { storage: store.home, path: `meta/${id}-backup.info` }
    : { storage: store.base, path: `${id}/backup.info` };
}

/**
 * Where a backup.info is written: where it was read from, except in worm_mode, where base/ is
 * write-once and every write goes to meta/ (which wins when both exist), as Barman 3.13.2+ does.
 */
function infoWritePlace(store: BackupStore, id: string, inMeta: boolean): { storage: Storage; path: string } {
  return infoFileOf(store, id, inMeta || store.worm);
}

async function metaInfoExists(store: BackupStore, id: string): Promise<boolean> {
  return store.home !== null && (await store.home.stat(`meta/${id}-backup.info`)) !== null;
}

/** Writes a new backup's backup.info (base/<id>/, or meta/ in worm_mode), atomically. */
export async function writeNewBackupInfo(where: StoreOrLayout, id: string, info: BackupInfo): Promise<void> {
  const { storage, path } = infoWritePlace(storeOf(where), id, false);
  await storage.writeFile(path, formatBackupInfo(info));
}

/**
 * The ids that have a backup.info, and the paths of an object layout (listed in one go: reading
 * each candidate would cost requests per backup). Barman's layout is listed by directory.
 */
async function listCandidates(
  store: BackupStore,
): Promise<{ ids: Map<string, boolean>; objects: Set<string> | null }> {
  const ids = new Map<string, boolean>();
  if (store.layout === 'barman-cloud') {
    const objects = new Set((await store.base.listTree('')).map((object) => object.path));
    for (const path of objects) {
      const [id, file, ...rest] = path.split('/');
      if (id && BACKUP_ID.test(id) && file === 'backup.info' && rest.length === 0) ids.set(id, false);
    }
    return { ids, objects };
  }
  for (const entry of await store.base.list('')) if (BACKUP_ID.test(entry.name)) ids.set(entry.name, false);
  for (const entry of store.home ? await store.home.list('meta') : []) {
    const match = META_INFO.exec(entry.name);
    if (match) ids.set(match[1]!, true);
  }
  return { ids, objects: null };
}

export async function loadBackups(where: StoreOrLayout): Promise<CatalogBackup[]> {
  const store = storeOf(where);
  const { ids, objects } = await listCandidates(store);
  const sorted = [...ids.keys()].sort();
  return Promise.all(
    sorted.map(async (id) => {
      const inMeta = ids.get(id)!;
      const { storage, path } = infoFileOf(store, id, inMeta);
      const infoFile = displayPath(storage, path);
      let info: BackupInfo | null = null;
      let unreadable: string | null = null;
      try {
        const data = await naming(infoFile, readIfExists(storage, path));
        // A backup directory without backup.info is a backup Barman has just started creating.
        if (data === null) return null;
        info = parseBackupInfo(data.toString('utf8'), infoFile);
      } catch (error) {
        unreadable = describeError(error);
      }
      const backup: CatalogBackup = {
        id,
        infoFile,
        directory: displayPath(store.base, id),
        info,
        unreadable,
        keep: await readKeepFrom(store, id, objects),
      };
      if (inMeta) backup.inMeta = true;
      return backup;
    }),
  ).then((backups) => backups.filter((backup): backup is CatalogBackup => backup !== null));
}

export function statusOf(backup: CatalogBackup): string {
  return backup.info?.status ?? 'UNREADABLE';
}

/**
 * Resolves a backup id, a shortcut (`latest`/`last`: newest DONE or WAITING_FOR_WALS;
 * `oldest`/`first`; `last-failed`) or a backup name given with `--name`.
 */
export function resolveBackup(
  backups: readonly CatalogBackup[],
  server: string,
  reference: string,
): CatalogBackup {
  const usable = backups.filter((backup) => ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup)));
  let found: CatalogBackup | undefined;
  switch (reference) {
    case 'latest':
    case 'last':
      found = usable.at(-1);
      break;
    case 'oldest':
    case 'first':
      found = usable[0];
      break;
    case 'last-failed':
      found = backups.filter((backup) => statusOf(backup) === 'FAILED').at(-1);
      break;
    default: {
      found = backups.find((backup) => backup.id === reference);
      if (!found && !BACKUP_ID.test(reference)) {
        const named = backups.filter((backup) => backup.info?.backup_name === reference);
        if (named.length > 1) {
          throw new BarmanError(
            'backup-name-ambiguous',
            `Multiple backups found matching name '${reference}' (try using backup ID instead): ${named.map((b) => b.id).join(', ')}`,
          );
        }
        found = named[0];
      }
    }
  }
  if (!found) {
    throw new BarmanError('backup-unknown', `Unknown backup '${reference}' for server '${server}'`);
  }
  return found;
}

// ------------------------------------------------------------------ keep annotations

/** Where a keep annotation may be: meta/<id>-keep (read first), then <id>/annotations/keep. */
function keepFiles(store: BackupStore, id: string): Array<{ storage: Storage; path: string }> {
  return [
    ...(store.home ? [{ storage: store.home, path: `meta/${id}-keep` }] : []),
    { storage: store.base, path: `${id}/annotations/keep` },
  ];
}

/** `objects`: the listed paths of an object layout, so absent annotations cost no request. */
async function readKeepFrom(
  store: BackupStore,
  id: string,
  objects: Set<string> | null,
): Promise<KeepTarget | null> {
  for (const { storage, path } of keepFiles(store, id)) {
    if (objects && storage === store.base && !objects.has(path)) continue;
    const data = await naming(displayPath(storage, path), readIfExists(storage, path));
    if (data === null) continue;
    // Barman (and barman-cloud) treat any value other than `standalone` as a full keep.
    return data.toString('utf8').trim() === 'standalone' ? 'standalone' : 'full';
  }
  return null;
}

export async function readKeep(where: StoreOrLayout, id: string): Promise<KeepTarget | null> {
  return readKeepFrom(storeOf(where), id, null);
}

/**
 * Writes the keep annotation where Barman 3.4 and barman-cloud-backup-keep do
 * (`<id>/annotations/keep`, the target word without a newline); a meta/ one goes.
 */
export async function writeKeep(where: StoreOrLayout, id: string, target: KeepTarget): Promise<void> {
  const store = storeOf(where);
  // worm_mode: meta/<id>-keep, where Barman 3.13.3+ keeps it; base/ is write-once.
  if (store.worm && store.home) return store.home.writeFile(`meta/${id}-keep`, target);
  await store.base.writeFile(`${id}/annotations/keep`, target);
  await store.home?.remove(`meta/${id}-keep`);
}

export async function releaseKeep(where: StoreOrLayout, id: string): Promise<void> {
  const store = storeOf(where);
  await store.home?.remove(`meta/${id}-keep`);
  // worm_mode: an annotation written into base/ before worm_mode was set goes only if it is there.
  if (store.worm && (await store.base.stat(`${id}/annotations/keep`)) === null) return;
  await store.base.remove(`${id}/annotations/keep`);
  // An empty annotations/ directory goes too (object stores have no directories to leave).
  if (store.base.features.localFiles && (await store.base.list(`${id}/annotations`)).length === 0)
    await store.base.removeTree(`${id}/annotations`);
}

/** Saves backup.info atomically where it was read from (base/ or meta/). */
export async function saveBackupInfo(
  where: StoreOrLayout,
  backup: CatalogBackup,
  info: BackupInfo,
): Promise<void> {
  const { storage, path } = infoWritePlace(storeOf(where), backup.id, backup.inMeta === true);
  await storage.writeFile(path, formatBackupInfo(info));
}

/**
 * Rewrites a backup's backup.info with `change` applied to what the file holds now, unless a
 * deletion holds the backup's lock or the backup is gone (a deletion removes backup.info first).
 * Status changes made outside the backup's own run — cron, a backup waiting for its WAL, the next
 * backup failing an interrupted one — go through here, so a deleted backup never comes back.
 * Resolves with what was saved, or null when nothing was (`change` may decline with null).
 */
export async function updateBackupInfo(
  where: StoreOrLayout,
  backup: CatalogBackup,
  change: (info: BackupInfo) => BackupInfo | null,
): Promise<BackupInfo | null> {
  const store = storeOf(where);
  // Shared: a recovery holds it shared too; a deletion holds it exclusively.
  const lock = tryAcquireSharedLock(backupLockPath(store.lockDirectory, store.server, backup.id));
  if (!lock) return null;
  try {
    // worm_mode: a meta/ copy written since `backup` was loaded is the current one.
    const inMeta = backup.inMeta === true || (store.worm && (await metaInfoExists(store, backup.id)));
    const { storage, path } = infoFileOf(store, backup.id, inMeta);
    const data = await readIfExists(storage, path);
    if (data === null) return null;
    const next = change(parseBackupInfo(data.toString('utf8'), backup.infoFile));
    const target = infoWritePlace(store, backup.id, inMeta);
    if (next) await target.storage.writeFile(target.path, formatBackupInfo(next));
    return next;
  } finally {
    lock.release();
  }
}

/** Removes backup.info, durably: from then on the backup is not in the catalogue. */
export async function unlistBackup(where: StoreOrLayout, backup: CatalogBackup): Promise<void> {
  const store = storeOf(where);
  // worm_mode may have written a meta/ copy of a backup.info read from base/: both go.
  const places = [infoFileOf(store, backup.id, backup.inMeta === true)];
  if (store.worm && !backup.inMeta) places.unshift(infoWritePlace(store, backup.id, true));
  for (const { storage, path } of places) {
    if (places.length > 1 && (await storage.stat(path)) === null) continue;
    await storage.remove(path);
    await storage.syncDir?.(path.slice(0, path.lastIndexOf('/')));
  }
}

/**
 * Throws (naming the directory) when the backup's directory cannot be removed, e.g. base/ is
 * read-only: checked before a deletion removes anything, WAL files included, since a backup left
 * without its backup.info would vanish from every listing and one left without its WAL is useless.
 */
export async function checkBackupRemovable(where: StoreOrLayout, backup: CatalogBackup): Promise<void> {
  const store = storeOf(where);
  const { base } = store;
  for (const directory of ['', backup.id]) {
    await base.checkWritable(directory).catch((error: unknown) => {
      throw isSystemError(error) ? fromSystemError(error, `cannot delete backup ${backup.id}`) : error;
    });
  }
  if (store.worm) await refuseImmutable(store.base, [backup.id], `cannot delete backup ${backup.id}`);
}

/** Removes a backup's files: backup.info (if still there), data, annotations, meta/ entries. */
export async function removeBackupFiles(where: StoreOrLayout, backup: CatalogBackup): Promise<void> {
  const store = storeOf(where);
  await checkBackupRemovable(store, backup);
  // backup.info goes first: a crash halfway leaves a directory without it, which listings ignore.
  await unlistBackup(store, backup);
  await store.home?.remove(`meta/${backup.id}-keep`);
  await store.base.removeTree(backup.id);
}

/**
 * Ids of the base/<id> directories with no backup.info (in base/ nor meta/): what a backup
 * killed before writing one, or a deletion killed after removing it, leaves behind.
 */
export async function leftoverBackupDirectories(where: StoreOrLayout): Promise<string[]> {
  const store = storeOf(where);
  const listed = new Set((await loadBackups(store)).map((backup) => backup.id));
  return (await store.base.list(''))
    .map((entry) => entry.name)
    .filter((name) => BACKUP_ID.test(name) && !listed.has(name))
    .sort();
}

/** A path of a backup's data, relative to its storage, as the operator knows it (list-files). */
export interface BackupFile {
  path: string;
  display: string;
}

/**
 * Every file of a backup: the files of each directory (names sorted) before its sub-directories,
 * as Barman's list-files shows them; the meta/ backup.info first when that is the one in use.
 * `emptyDirectories` (list-files --list-empty-directories, Barman 3.16) adds each directory with
 * nothing in it where the walk meets it. Object stores have no directories: none there.
 */
export async function backupFiles(
  where: StoreOrLayout,
  backup: CatalogBackup,
  options: { emptyDirectories?: boolean } = {},
): Promise<string[]> {
  const store = storeOf(where);
  const files = (await store.base.listTree(backup.id)).map((object) => object.path);
  // An empty directory sorts as a directory holding one nameless file: after its parent's files.
  const empty = options.emptyDirectories ? await emptyDirectoriesBelow(store.base, backup.id) : [];
  const depthFirst = [...files, ...empty.map((path) => `${path}/`)].sort((a, b) => compareFilesFirst(a, b));
  const shown = depthFirst.map((path) => displayPath(store.base, path.replace(/\/$/, '')));
  return backup.inMeta ? [backup.infoFile, ...shown] : shown;
}

/** The directories at or below `path` that hold no entry at all. */
async function emptyDirectoriesBelow(storage: Storage, path: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    const entries = await storage.list(directory);
    if (entries.length === 0) found.push(directory);
    for (const entry of entries) if (entry.kind === 'directory') await walk(`${directory}/${entry.name}`);
  };
  if ((await storage.stat(path))?.kind === 'directory') await walk(path);
  return found;
}

/** Orders paths as a walk that lists a directory's files before descending into its directories. */
function compareFilesFirst(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; ; i++) {
    const [x, y] = [left[i]!, right[i]!];
    const xFile = i === left.length - 1;
    const yFile = i === right.length - 1;
    if (x === y && !xFile && !yFile) continue;
    if (xFile !== yFile) return xFile ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
}
