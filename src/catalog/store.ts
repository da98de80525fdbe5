/**
 * Where one server's backups are kept, as Storage: basebackups_directory (`<id>/backup.info`,
 * `<id>/annotations/keep`, the backup's data) and, in Barman's posix layout, backup_directory
 * (`meta/` of Barman 3.13.2+, identity.json). The layout is chosen by the location: an s3://
 * basebackups_directory is barman-cloud's object layout, which has no meta/. Everything the
 * catalogue reads or writes goes through these storages; only the lock files stay local.
 */
import type { ServerConfig } from '../config/index.js';
import type { Storage } from '../storage/index.js';
import { PosixStorage, storageFor } from '../storage/index.js';
import type { CatalogLayoutKind, ServerLayout } from './layout.js';
import { catalogLayoutKind } from './layout.js';

export interface BackupStore {
  server: string;
  layout: CatalogLayoutKind;
  /** basebackups_directory. */
  base: Storage;
  /** backup_directory, holding meta/ (Barman's layout only; null in barman-cloud's). */
  home: Storage | null;
  /** barman_lock_directory (local: flock() lock files). */
  lockDirectory: string;
  /** worm_mode: what changes is written to meta/ in `home`, never into `base` (see backups.ts). */
  worm: boolean;
}

/** The storages of a server's backups; `closeBackupStore` releases them (S3 connections). */
export async function openBackupStore(config: ServerConfig): Promise<BackupStore> {
  const layout = catalogLayoutKind(config);
  const base = await storageFor(config, config.basebackups_directory);
  const home =
    layout === 'barman' ? await storageFor(config, { kind: 'posix', path: config.backup_directory }) : null;
  return {
    server: config.name,
    layout,
    base,
    home,
    lockDirectory: config.barman_lock_directory,
    worm: config.worm_mode,
  };
}

export function closeBackupStore(store: BackupStore): void {
  store.base.close();
  store.home?.close();
}

export async function withBackupStore<T>(
  config: ServerConfig,
  work: (store: BackupStore) => Promise<T>,
): Promise<T> {
  const store = await openBackupStore(config);
  try {
    return await work(store);
  } finally {
    closeBackupStore(store);
  }
}

/**
 * The store of a posix ServerLayout, for callers that hold a layout rather than a configuration
 * (the backup command). Same storages openBackupStore gives for those directories.
 */
export function posixBackupStore(layout: ServerLayout): BackupStore {
  if (layout.basebackupsDirectory.startsWith('s3://'))
    throw new Error(`the catalogue at ${layout.basebackupsDirectory} needs a store (openBackupStore)`);
  return {
    server: layout.server,
    layout: 'barman',
    base: new PosixStorage(layout.basebackupsDirectory),
    home: new PosixStorage(layout.backupDirectory),
    lockDirectory: layout.lockDirectory,
    worm: layout.worm,
  };
}

/** A store, or the layout of one (posix). */
export type StoreOrLayout = BackupStore | ServerLayout;

export function storeOf(where: StoreOrLayout): BackupStore {
  return 'base' in where ? where : posixBackupStore(where);
}

/** A storage path as the operator knows it: a file path, or an s3:// URL. */
export function displayPath(storage: Storage, path: string): string {
  return path ? `${storage.location}/${path}` : storage.location;
}

/**
 * The file's content, or null when it does not exist. A posix read says ENOENT; an object store's
 * error is only told apart from a missing object by asking whether it exists.
 */
export async function readIfExists(storage: Storage, path: string): Promise<Buffer | null> {
  try {
    return await storage.readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (!storage.features.localFiles && (await storage.stat(path)) === null) return null;
    throw error;
  }
}
