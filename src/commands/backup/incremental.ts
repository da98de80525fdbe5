/**
 * `backup --incremental BACKUP_ID|last-full|latest-full`, as Barman 3.11+ defines it: a
 * block-level incremental backup (PostgreSQL 17+, backup_method = postgres, summarize_wal = on)
 * based on a parent backup of this server — a full or an incremental one. `last-full` and
 * `latest-full` are the newest full backup whose copy is done (DONE or WAITING_FOR_WALS); any
 * other shortcut, id or name resolves as elsewhere. Everything is checked before anything is
 * written, each refusal naming what is wrong (Barman's texts where Barman has one). The chain
 * link: the parent's children_backup_ids gains the new backup as soon as it exists, through the
 * catalogue, so a backup that then fails (or is killed) is still known to its parent, as Barman
 * leaves a failed incremental in its parent's list. The same on a local directory and an s3://
 * basebackups_directory: only where the parent's backup_manifest is stored differs (layout.ts).
 * With encryption = gpg the incremental is taken like an encrypted full backup (tar archives
 * compressed then encrypted in the process); the parent's backup_manifest, which UPLOAD_MANIFEST
 * sends, is plaintext in both.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { BackupLocation } from '../../catalog/backup-location.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { resolveBackup, statusOf } from '../../catalog/backups.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import * as postgres from '../../postgres/index.js';
import { backupLayoutFor } from '../../recovery/layout.js';

/** The Barman 3.11 keys an incremental backup's backup.info carries (even when None). */
export const INCREMENTAL_INFO_KEYS = [
  'children_backup_ids',
  'cluster_size',
  'data_checksums',
  'parent_backup_id',
  'summarize_wal',
] as const;

const COPY_DONE = ['DONE', 'WAITING_FOR_WALS'];

export interface IncrementalParent {
  backup: CatalogBackup;
  /** backup_manifest of the parent, in the basebackups_directory's Storage. */
  manifest: string;
}

function refuse(message: string, hint?: string): BarmanError {
  return new BarmanError('incremental-refused', message, hint ? { hint } : {});
}

/** The parent `reference` names: Barman's `last-full`/`latest-full`, or any backup reference. */
export function resolveParent(
  backups: readonly CatalogBackup[],
  server: string,
  reference: string,
): CatalogBackup {
  if (reference !== 'last-full' && reference !== 'latest-full')
    return resolveBackup(backups, server, reference);
  // Barman's "full": anything not incremental (an rsync backup too; refused below, by name).
  const full = backups.filter(
    (backup) => COPY_DONE.includes(statusOf(backup)) && !backup.info?.parent_backup_id,
  );
  const found = full.at(-1);
  if (!found) throw new BarmanError('backup-unknown', `Unknown backup '${reference}' for server '${server}'`);
  return found;
}

/** Checks everything an incremental backup needs (on the run's session); resolves with its parent. */
export async function checkIncremental(
  config: ServerConfig,
  location: BackupLocation,
  reference: string,
  connection: postgres.SharedConnection,
): Promise<IncrementalParent> {
  const parent = resolveParent(await location.loadBackups(), config.name, reference);
  const client = await connection.client();
  if (client.serverVersion < 170000) {
    throw refuse(
      'Postgres version 17 or greater is required for incremental backups using the Postgres backup method' +
        ` (server ${config.name} runs PostgreSQL ${client.versionText})`,
    );
  }
  if (config.backup_method !== 'postgres') {
    throw refuse(
      "Backup using the `--incremental` flag is available only for 'backup_method = postgres'" +
        ` (server ${config.name} has backup_method = ${config.backup_method})`,
    );
  }
  // An encrypted incremental is stored as tar archives, compressed then encrypted like a full
  // backup (postgres-sealed.ts, cloud-tar.ts): compression is then the archives', as for a full.
  if (!encrypts(config) && config.backup_compression && config.backup_compression !== 'none') {
    throw refuse(
      `compressed backups are not supported for block-level incremental backups (server ${config.name} has backup_compression = ${config.backup_compression})`,
      'Unset backup_compression for this server to take incremental backups.',
    );
  }
  if ((await postgres.setting(client, 'summarize_wal')) !== 'on') {
    throw refuse(
      "'summarize_wal' option has to be enabled in the Postgres server to perform an incremental backup using the Postgres backup method",
      'Set summarize_wal = on in postgresql.conf, reload PostgreSQL, then take a new full backup to build on.',
    );
  }
  const info = parent.info;
  if (!info) throw refuse(`Backup ${parent.id} cannot be read: ${parent.unreadable ?? 'unknown reason'}`);
  checkParentInfo(parent.id, info, config);
  checkParentEncryption(parent.id, info, config);
  const systemid = await postgres.systemIdentifier(client);
  if (info.systemid !== null && info.systemid !== systemid) {
    throw refuse(
      `Backup ${parent.id} is not eligible as a parent for an incremental backup: it belongs to PostgreSQL system ${info.systemid}, ` +
        `and server ${config.name} is now system ${systemid}`,
    );
  }
  // `<id>/data/backup_manifest` in a directory, `<id>/backup_manifest` in a bucket.
  const manifest = `${backupLayoutFor(config.basebackups_directory).archiveDirectory(parent.id)}/backup_manifest`;
  if ((await location.storage.stat(manifest)) === null) {
    throw refuse(
      `Backup ${parent.id} is not eligible as a parent for an incremental backup: it has no backup_manifest (${location.directoryOf(manifest)})`,
    );
  }
  // barman-ts's full backups keep Barman 3.4's keys only (no summarize_wal): ask the server.
  if (info.summarize_wal === null && !(await hasSummariesFrom(client, info))) {
    throw refuse(
      `Backup ${parent.id} is not eligible as a parent for an incremental backup because the server has no WAL summaries ` +
        `from its start (${info.begin_xlog}, timeline ${info.timeline}): WAL summaries were not enabled when that backup was taken, or were removed since (wal_summary_keep_time).`,
      'Take a new full backup with summarize_wal = on, then incremental backups on it.',
    );
  }
  return { backup: parent, manifest };
}

function checkParentInfo(id: string, info: BackupInfo, config: ServerConfig): void {
  if (info.server_name !== null && info.server_name !== config.name) {
    throw refuse(
      `Backup ${id} belongs to server '${info.server_name}', not '${config.name}': an incremental backup builds on a backup of its own server`,
    );
  }
  if (!COPY_DONE.includes(info.status)) {
    throw refuse(
      `Backup ${id} cannot be the parent of an incremental backup: its status is ${info.status} (only DONE and WAITING_FOR_WALS backups can)`,
    );
  }
  if (info.mode !== 'postgres') {
    throw refuse(
      `Backup ${id} is not eligible as a parent for an incremental backup: it was taken with backup method '${info.mode ?? 'unknown'}'; ` +
        'block-level incremental backups build on backups taken with backup_method = postgres',
    );
  }
  // An encrypted backup's compression is that of its tar archives, which recovery extracts.
  if (info.compression !== null && !isEncrypted(info)) {
    throw refuse(
      `Backup ${id} is not eligible as a parent for an incremental backup: it is compressed (${info.compression}); compressed backups are not supported for block-level incremental backups`,
    );
  }
  if (info.summarize_wal !== null && info.summarize_wal !== 'on') {
    throw refuse(
      `Backup ID ${id} is not eligible as a parent for an incremental backup because WAL summaries were not enabled when that backup was taken.`,
    );
  }
  if (!info.begin_xlog || !info.timeline) {
    throw refuse(
      `Backup ${id} is not eligible as a parent for an incremental backup: its start position is unknown`,
    );
  }
}

function encrypts(config: ServerConfig): boolean {
  return config.encryption === 'gpg';
}

function isEncrypted(info: BackupInfo): boolean {
  return info.encryption !== null;
}

/**
 * In a directory an encrypted backup is tar archives (`data/base.tar*.gpg`) and a plain
 * incremental a plain copy: recovery combines a chain stored one way, so encryption turned on
 * or off between a parent and its incremental is refused there (a new full backup is needed).
 * In a bucket every backup is tar archives, each decrypted by its name: a chain may mix them.
 */
function checkParentEncryption(id: string, info: BackupInfo, config: ServerConfig): void {
  if (config.basebackups_directory.kind === 's3' || isEncrypted(info) === encrypts(config)) return;
  if (encrypts(config))
    throw refuse(
      `Backup ${id} is not eligible as a parent for an encrypted incremental backup: it is not encrypted ` +
        `(server ${config.name} has encryption = gpg now), and a chain in a directory is either all encrypted or all plain`,
      'Take a new full backup (it will be encrypted), then incremental backups on it.',
    );
  throw refuse(
    `Backup ${id} is not eligible as a parent for an incremental backup: it is encrypted (${info.encryption}) and server ${config.name} ` +
      'no longer has encryption = gpg; a chain in a directory is either all encrypted or all plain',
    'Set encryption = gpg again for this server, or take a new full backup.',
  );
}

/** True when a WAL summary of the parent's timeline starts at or before the parent's start. */
async function hasSummariesFrom(client: postgres.PostgresClient, info: BackupInfo): Promise<boolean> {
  const rows = await client.query<{ found: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM pg_available_wal_summaries() WHERE tli = $1 AND start_lsn <= $2::pg_lsn) AS found',
    [info.timeline, info.begin_xlog],
  );
  return rows[0]?.found === true;
}

/** Adds `childId` to the parent's children_backup_ids (once), under the parent's lock. */
export async function linkToParent(
  location: BackupLocation,
  parent: CatalogBackup,
  childId: string,
): Promise<void> {
  const saved = await location.updateBackupInfo(parent, (info) =>
    info.children_backup_ids?.includes(childId)
      ? null
      : { ...info, children_backup_ids: [...(info.children_backup_ids ?? []), childId] },
  );
  if (saved) return;
  const now = (await location.loadBackups()).find((backup) => backup.id === parent.id);
  if (now?.info?.children_backup_ids?.includes(childId)) return;
  throw refuse(
    `cannot record backup ${childId} as a child of backup ${parent.id}: the parent is being deleted or is gone`,
  );
}
