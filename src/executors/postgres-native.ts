/**
 * backup_method = postgres to a basebackups_directory in Barman's layout, without pg_basebackup:
 * barman-ts's BASE_BACKUP client (postgres/base-backup.ts) asks for what pg_basebackup -Fp asks
 * (no tablespace_map, a manifest with SHA-256 checksums) and writes what pg_basebackup -Fp
 * writes, as Barman 3.11+ stores it: `<id>/data/…` (backup_label, the server's backup_manifest
 * in `data/backup_manifest`, where Barman 3.11+ looks for a parent's manifest), each tablespace
 * in `<id>/<oid>/` and `data/pg_tblspc/<oid>` linking to it. Every file goes through Storage as
 * it arrives (plain-extract.ts). An incremental backup (PostgreSQL 17+) first sends its parent's
 * backup_manifest (UPLOAD_MANIFEST) and asks for BASE_BACKUP (INCREMENTAL); its backup.info gets
 * what Barman 3.11+ writes for one (parent_backup_id, summarize_wal, data_checksums, cluster_size).
 * When this client is used instead of pg_basebackup: see baseBackupClient().
 */
import * as postgres from '../postgres/index.js';
import type { BackupInfo } from '../catalog/backup-info.js';
import type { ServerFacts } from './concurrent.js';
import { announceCopy, backupTimestamp } from './concurrent.js';
import { archiveBase, baseBackupProgress, copyAndFinish, baseBackupOptions } from './base-backup-copy.js';
import { extractArchive } from './plain-extract.js';
import type { BackupLabel } from './tar-label.js';
import { parseBackupLabel } from './tar-label.js';
import type { BackupRequest, ExecutorOutcome } from './types.js';

/**
 * Who takes a `postgres` backup to a local directory: barman-ts's own client for every
 * incremental backup and whenever pg_basebackup cannot (missing, or older than the server:
 * Debian 12's 15 refuses PostgreSQL 16+), on PostgreSQL 15 and newer; pg_basebackup otherwise —
 * older servers, and backup_compression (pg_basebackup's tar files or its decompression of
 * server-side compression, which this client does not do). `toolMajor`: pg_basebackup's major
 * version, null when it is missing.
 */
export function baseBackupClient(
  compression: string | null,
  serverVersion: number,
  toolMajor: number | null,
  incremental: boolean,
): 'native' | 'pg_basebackup' {
  if (incremental) return 'native';
  if (serverVersion < postgres.BASE_BACKUP_MIN_VERSION) return 'pg_basebackup';
  if (compression && compression !== 'none') return 'pg_basebackup';
  if (toolMajor === null || toolMajor < Math.floor(serverVersion / 10000)) return 'native';
  return 'pg_basebackup';
}

/** The copy and stop of a native backup, once describeServer has filled backup.info. */
export async function nativePlainBackup(
  request: BackupRequest,
  client: postgres.PostgresClient,
  facts: ServerFacts,
  standby: boolean,
): Promise<ExecutorOutcome> {
  await saveNativeStarted(request, client, {});
  announceCopy(
    request,
    request.incremental
      ? `BASE_BACKUP (INCREMENTAL, parent ${request.incremental.parentId})`
      : 'BASE_BACKUP (plain)',
    false,
  );
  await copyAndFinish(
    request,
    client,
    { standby, segmentSize: facts.segmentSize },
    `on directory '${request.backupDirectory}/data'`,
    () => copyOnce(request),
  );
  return { fromStandby: standby, pagesChecked: Boolean(request.pageCheck) };
}

/**
 * What Barman 3.11+ records for an incremental backup (a full backup keeps Barman 3.4's keys
 * only), whichever storage it goes to; nothing for a full backup. Saved with the STARTED status
 * (one backup.info write, not two).
 */
/**
 * The STARTED save of a BASE_BACKUP-client backup (plain, sealed or to object storage): its
 * start position and time, an incremental's server facts, and what the executor adds (`fields`).
 */
export async function saveNativeStarted(
  request: BackupRequest,
  client: postgres.PostgresClient,
  fields: Partial<BackupInfo>,
): Promise<void> {
  const incrementalInfo = await incrementalFacts(request, client);
  const start = await postgres.walPosition(client);
  await request.save({
    ...incrementalInfo,
    status: 'STARTED',
    begin_time: backupTimestamp(start.time),
    timeline: start.timeline,
    ...fields,
  });
}

async function incrementalFacts(
  request: BackupRequest,
  client: postgres.PostgresClient,
): Promise<Partial<BackupInfo>> {
  if (!request.incremental) return {};
  // One after the other: a session runs one query at a time (node-pg would queue them, with a
  // deprecation warning on stderr).
  const dataChecksums = await postgres.setting(client, 'data_checksums');
  const summarizeWal = await postgres.setting(client, 'summarize_wal');
  const clusterSize = await postgres.clusterSize(client);
  return { data_checksums: dataChecksums, summarize_wal: summarizeWal, cluster_size: clusterSize };
}

/**
 * BASE_BACKUP's options for an incremental backup: the parent's backup_manifest, read through
 * the backup's Storage (a directory or a bucket), sent with UPLOAD_MANIFEST first.
 */
export function incrementalOptions(
  request: BackupRequest,
): Pick<postgres.BaseBackupOptions, 'extraOptions' | 'prepare'> {
  const { incremental, storage } = request;
  if (!incremental) return {};
  return {
    extraOptions: ['INCREMENTAL'],
    prepare: async (session) => {
      request.setStep(`sending the backup_manifest of backup ${incremental.parentId}`);
      await session.uploadManifest(await storage.openRead(incremental.manifest));
      request.setStep('copying files');
    },
  };
}

interface PlainCopy {
  label: BackupLabel;
  end: postgres.BaseBackupEnd;
}

async function copyOnce(request: BackupRequest): Promise<PlainCopy> {
  const { config, storage, backupId: id } = request;
  let label: BackupLabel | null = null;
  const progress = baseBackupProgress(request);
  // pg_tblspc/<oid> links to the tablespace's copy, as pg_basebackup's --tablespace-mapping does.
  const tablespaceLink = (oid: number) => storage.localPath?.(`${id}/${oid}`) ?? null;
  const { end } = await postgres.takeBaseBackup(
    config.streaming_conninfo,
    config.streaming_backup_name,
    {
      ...baseBackupOptions(request),
      tablespaceMap: false,
      // With data checksums, the copy's pages are checked as they arrive (request.pageCheck).
      ...(request.pageCheck ? { verifyChecksums: false } : {}),
      ...incrementalOptions(request),
    },
    {
      started: progress.started,
      progress: progress.progress,
      archive: async ({ name, body }) => {
        const base = archiveBase(name);
        request.setStep(`copying ${base === 'base' ? 'PGDATA' : `tablespace ${base}`}`);
        const extracted = await extractArchive(body, storage, {
          root: base === 'base' ? `${id}/data` : `${id}/${base}`,
          tablespaceLink,
          ...(request.pageCheck
            ? {
                observe: request.pageCheck.observe.bind(request.pageCheck),
                pathPrefix: base === 'base' ? '' : `pg_tblspc/${base}/`,
              }
            : {}),
        });
        if (base === 'base') {
          if (extracted.label === null) throw new Error('the server sent no backup_label in base.tar');
          label = parseBackupLabel(extracted.label, `backup_label of backup ${id}`);
        }
      },
      // Where pg_basebackup -Fp leaves it, and where Barman 3.11+ reads a parent's manifest.
      manifest: async (body) => {
        request.setStep('writing backup_manifest');
        await storage.writeFile(`${id}/data/backup_manifest`, body, { mode: 0o600 });
      },
    },
  );
  progress.finish();
  if (!label) throw new Error('the server sent no base.tar');
  return { label, end };
}
