/**
 * The backup catalogue of one server: every backup.info under base/ (Barman 3.4 layout) and
 * meta/ (3.13.2+, which wins), the keep annotations, and backup id resolution. A backup.info
 * that cannot be read is listed as unreadable with the reason; it never breaks a listing.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BarmanError, describeError } from '../errors/index.js';
import { fromSystemError, isSystemError, naming } from '../errors/system.js';
import { backupLockPath, tryAcquireSharedLock } from '../locks/index.js';
import { fsyncDirectory, writeFileDurably } from '../storage/posix.js';
import type { BackupInfo } from './backup-info.js';
import { BACKUP_ID } from './backup-reference.js';
import { formatBackupInfo, parseBackupInfo } from './backup-info.js';
import type { ServerLayout } from './layout.js';

export type KeepTarget = 'full' | 'standalone';

export interface CatalogBackup {
  id: string;
  /** The backup.info file read (or to write). */
  infoFile: string;
  /** base/<id>: the backup's data directory. */
  directory: string;
  /** Null when the backup.info could not be read; `error` says why. */
  info: BackupInfo | null;
  unreadable: string | null;
  keep: KeepTarget | null;
}

const META_INFO = /^(\d{8}T\d{6})-backup\.info$/;

export async function loadBackups(layout: ServerLayout): Promise<CatalogBackup[]> {
  const files = new Map<string, string>();
  for (const name of await listNames(layout.basebackupsDirectory)) {
    if (BACKUP_ID.test(name)) files.set(name, join(layout.basebackupsDirectory, name, 'backup.info'));
  }
  for (const name of await listNames(layout.metaDirectory)) {
    const match = META_INFO.exec(name);
    if (match) files.set(match[1]!, join(layout.metaDirectory, name));
  }
  const ids = [...files.keys()].sort();
  return Promise.all(
    ids.map(async (id) => {
      const infoFile = files.get(id)!;
      let info: BackupInfo | null = null;
      let unreadable: string | null = null;
      try {
        info = parseBackupInfo(await naming(infoFile, readFile(infoFile, 'utf8')), infoFile);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // A backup directory without backup.info is a backup Barman has just started creating.
        if (code === 'ENOENT') return null;
        unreadable = describeError(error);
      }
      return {
        id,
        infoFile,
        directory: join(layout.basebackupsDirectory, id),
        info,
        unreadable,
        keep: await readKeep(layout, id),
      };
    }),
  ).then((backups) => backups.filter((backup): backup is CatalogBackup => backup !== null));
}

async function listNames(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
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

function keepFiles(layout: ServerLayout, id: string): { legacy: string; meta: string } {
  return {
    legacy: join(layout.basebackupsDirectory, id, 'annotations', 'keep'),
    meta: join(layout.metaDirectory, `${id}-keep`),
  };
}

export async function readKeep(layout: ServerLayout, id: string): Promise<KeepTarget | null> {
  const { legacy, meta } = keepFiles(layout, id);
  for (const file of [meta, legacy]) {
    try {
      const value = (await naming(file, readFile(file, 'utf8'))).trim();
      // Barman treats any value other than `standalone` as a full keep.
      return value === 'standalone' ? 'standalone' : 'full';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return null;
}

/** Writes the keep annotation where Barman 3.4 does (base/<id>/annotations/keep, no newline). */
export async function writeKeep(layout: ServerLayout, id: string, target: KeepTarget): Promise<void> {
  const { legacy, meta } = keepFiles(layout, id);
  await mkdir(join(layout.basebackupsDirectory, id, 'annotations'), { recursive: true });
  await writeFileDurably(legacy, target);
  await unlink(meta).catch(() => {});
}

export async function releaseKeep(layout: ServerLayout, id: string): Promise<void> {
  const { legacy, meta } = keepFiles(layout, id);
  await unlink(legacy).catch(() => {});
  await unlink(meta).catch(() => {});
  await rmdir(join(layout.basebackupsDirectory, id, 'annotations')).catch(() => {});
}

/** Saves backup.info atomically where it was read from (base/ or meta/). */
export async function saveBackupInfo(backup: CatalogBackup, info: BackupInfo): Promise<void> {
  await writeFileDurably(backup.infoFile, formatBackupInfo(info));
}

/**
 * Rewrites a backup's backup.info with `change` applied to what the file holds now, unless a
 * deletion holds the backup's lock or the backup is gone (a deletion removes backup.info first).
 * Status changes made outside the backup's own run — cron, a backup waiting for its WAL, the next
 * backup failing an interrupted one — go through here, so a deleted backup never comes back.
 * Resolves with what was saved, or null when nothing was (`change` may decline with null).
 */
export async function updateBackupInfo(
  layout: ServerLayout,
  backup: CatalogBackup,
  change: (info: BackupInfo) => BackupInfo | null,
): Promise<BackupInfo | null> {
  // Shared: a recovery holds it shared too; a deletion holds it exclusively.
  const lock = tryAcquireSharedLock(backupLockPath(layout.lockDirectory, layout.server, backup.id));
  if (!lock) return null;
  try {
    let text: string;
    try {
      text = await readFile(backup.infoFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const next = change(parseBackupInfo(text, backup.infoFile));
    if (next) await saveBackupInfo(backup, next);
    return next;
  } finally {
    lock.release();
  }
}

/** Removes backup.info, durably: from then on the backup is not in the catalogue. */
export async function unlistBackup(backup: CatalogBackup): Promise<void> {
  await unlink(backup.infoFile).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await fsyncDirectory(dirname(backup.infoFile));
}

/**
 * Throws (naming the directory) when the backup's directory cannot be removed, e.g. base/ is
 * read-only: checked before a deletion removes anything, WAL files included, since a backup left
 * without its backup.info would vanish from every listing and one left without its WAL is useless.
 */
export async function checkBackupRemovable(backup: CatalogBackup): Promise<void> {
  for (const directory of [dirname(backup.directory), backup.directory]) {
    await access(directory, constants.W_OK | constants.X_OK).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw isSystemError(error) ? fromSystemError(error, `cannot delete backup ${backup.id}`) : error;
    });
  }
}

/** Removes a backup's files: backup.info (if still there), data, annotations, meta/ entries. */
export async function removeBackupFiles(layout: ServerLayout, backup: CatalogBackup): Promise<void> {
  await checkBackupRemovable(backup);
  // backup.info goes first: a crash halfway leaves a directory without it, which listings ignore.
  await unlistBackup(backup);
  await rm(join(layout.metaDirectory, `${backup.id}-keep`), { force: true });
  await rm(backup.directory, { recursive: true, force: true });
}

/**
 * Ids of the base/<id> directories with no backup.info (in base/ nor meta/): what a backup
 * killed before writing one, or a deletion killed after removing it, leaves behind.
 */
export async function leftoverBackupDirectories(layout: ServerLayout): Promise<string[]> {
  const listed = new Set((await loadBackups(layout)).map((backup) => backup.id));
  return (await listNames(layout.basebackupsDirectory))
    .filter((name) => BACKUP_ID.test(name) && !listed.has(name))
    .sort();
}
