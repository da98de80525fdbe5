/**
 * Where a server's catalogue lives. Barman's layout: backup_directory with base/, wals/,
 * incoming/, streaming/, errors/, identity.json; xlog.db in wals/ (3.4) or
 * `<xlogdb_directory>/<server>-xlog.db` (3.13+); lock files in barman_lock_directory.
 * barman-cloud's layout (an s3:// basebackups_directory): `<base>/<id>/backup.info`,
 * `<base>/<id>/annotations/keep` and the backups' data objects; no meta/, no xlog.db.
 */
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { PosixStorage } from '../storage/index.js';

export interface ServerLayout {
  server: string;
  backupDirectory: string;
  basebackupsDirectory: string;
  walsDirectory: string;
  incomingDirectory: string;
  streamingDirectory: string;
  errorsDirectory: string;
  lockDirectory: string;
  identityFile: string;
  /** The xlog.db in use: an existing 3.13+ file wins, otherwise the 3.4 location. */
  xlogDbFile: string;
  /** `meta/` directory of Barman 3.13.2+ (backup.info and annotations), read when present. */
  metaDirectory: string;
  /** worm_mode: backup.info and keep annotations are written to meta/, never into base/. */
  worm: boolean;
}

/** Barman's posix layout, or barman-cloud's object layout: chosen by basebackups_directory. */
export type CatalogLayoutKind = 'barman' | 'barman-cloud';

export function catalogLayoutKind(config: ServerConfig): CatalogLayoutKind {
  return config.basebackups_directory.kind === 's3' ? 'barman-cloud' : 'barman';
}

/**
 * The layout of a server's catalogue wherever it lives: an s3:// directory is named by its URL
 * (messages only: the catalogue reaches it through Storage), and an object WAL archive has no
 * xlog.db (its listing is the WAL index).
 */
export async function catalogLayout(config: ServerConfig): Promise<ServerLayout> {
  const { basebackups_directory: base, wals_directory: wals } = config;
  if (base.kind === 'posix' && wals.kind === 'posix') return serverLayout(config);
  const name = (location: ServerConfig['wals_directory']) =>
    location.kind === 's3' ? location.url : location.path;
  const posixWals =
    wals.kind === 'posix' ? await serverLayout({ ...config, basebackups_directory: wals }) : null;
  return {
    server: config.name,
    backupDirectory: config.backup_directory,
    basebackupsDirectory: name(base),
    walsDirectory: name(wals),
    incomingDirectory: config.incoming_wals_directory,
    streamingDirectory: config.streaming_wals_directory,
    errorsDirectory: config.errors_directory,
    lockDirectory: config.barman_lock_directory,
    identityFile: join(config.backup_directory, 'identity.json'),
    xlogDbFile: posixWals?.xlogDbFile ?? `${name(wals)} (listing)`,
    metaDirectory: join(config.backup_directory, 'meta'),
    worm: config.worm_mode,
  };
}

export async function serverLayout(config: ServerConfig): Promise<ServerLayout> {
  const wals = config.wals_directory;
  const base = config.basebackups_directory;
  if (wals.kind !== 'posix' || base.kind !== 'posix') {
    throw new BarmanError(
      'cloud-not-supported',
      `server '${config.name}' keeps its catalogue in object storage; this command supports local directories only`,
    );
  }
  const newName = `${config.name}-xlog.db`;
  const newStyle = join(config.xlogdb_directory ?? wals.path, newName);
  // Barman 3.13+ without xlogdb_directory renames wals/xlog.db to this name: whichever is there.
  const newStyleInUse =
    config.xlogdb_directory !== null ||
    // Not visible (a wals/ this user cannot search): the 3.4 name, whose reading then says why.
    (await new PosixStorage(wals.path).stat(newName).catch(() => null)) !== null;
  return {
    server: config.name,
    backupDirectory: config.backup_directory,
    basebackupsDirectory: base.path,
    walsDirectory: wals.path,
    incomingDirectory: config.incoming_wals_directory,
    streamingDirectory: config.streaming_wals_directory,
    errorsDirectory: config.errors_directory,
    lockDirectory: config.barman_lock_directory,
    identityFile: join(config.backup_directory, 'identity.json'),
    xlogDbFile: newStyleInUse ? newStyle : join(wals.path, 'xlog.db'),
    metaDirectory: join(config.backup_directory, 'meta'),
    worm: config.worm_mode,
  };
}
