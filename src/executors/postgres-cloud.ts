/**
 * backup_method = postgres with an s3:// basebackups_directory: barman-ts's own BASE_BACKUP
 * client (postgres/base-backup.ts) streams PostgreSQL's tar archives straight into the bucket in
 * barman-cloud-backup's layout, exactly as local-to-cloud stores its backups — `<id>/data.tar[.ext]`
 * (and parts `data_0001.tar`…, cloud_upload_max_archive_size), `<id>/<oid>.tar[.ext]`, then the
 * server's own `<id>/backup_manifest` — so listing, retention, deletion and recovery read it
 * like any other. Nothing is kept locally: each member goes from the socket to the upload, and a
 * slow upload pauses the socket. Like pg_basebackup backups it waits for its WAL (WAITING_FOR_WALS).
 * An incremental backup sends its parent's `<parent>/backup_manifest`, read from the bucket
 * (UPLOAD_MANIFEST), and its archives hold the server's INCREMENTAL.* files as they come.
 */
import type { Readable } from 'node:stream';
import { BarmanError } from '../errors/index.js';
import * as postgres from '../postgres/index.js';
import { readTar } from '../transfer/tar-reader.js';
import { TarPartWriter } from './cloud-tar.js';
import type { UploadedArchive } from './cloud-tar.js';
import { cloudArchiveOptions, cloudBackupCompression, cloudBackupEncryption } from './cloud-upload.js';
import { announceCopy, describeServer, warnStandbyWithoutPrimary } from './concurrent.js';
import { archiveBase, baseBackupOptions, baseBackupProgress, copyAndFinish } from './base-backup-copy.js';
import { incrementalOptions, saveNativeStarted } from './postgres-native.js';
import type { BackupLabel } from './tar-label.js';
import { parseBackupLabel } from './tar-label.js';
import type { BackupRequest, ExecutorOutcome } from './types.js';

export async function streamBackupToObjectStore(request: BackupRequest): Promise<ExecutorOutcome> {
  const { config } = request;
  request.setStep('connecting to PostgreSQL');
  const client = await request.connection.client();
  if (client.serverVersion < postgres.BASE_BACKUP_MIN_VERSION) {
    throw new BarmanError(
      'base-backup-unsupported',
      `server ${config.name}: PostgreSQL ${client.versionText} cannot stream a backup to ${request.backupDirectory}: ` +
        `barman-ts takes backups to object storage with the BASE_BACKUP protocol of PostgreSQL 15 and newer`,
      {
        hint: 'Use a local basebackups_directory (pg_basebackup) or backup_method = local-to-cloud for this server.',
      },
    );
  }
  const standby = await postgres.isInRecovery(client);
  if (standby && !config.primary_conninfo) warnStandbyWithoutPrimary(request);
  const facts = await describeServer(client, request);
  const compression = cloudBackupCompression(config);
  await saveNativeStarted(request, client, { compression, encryption: cloudBackupEncryption(config) });
  const kind = request.incremental ? `INCREMENTAL, parent ${request.incremental.parentId}, ` : '';
  announceCopy(
    request,
    `BASE_BACKUP (${kind}tar archives${compression ? `, ${compression}` : ''}) to ${request.backupDirectory}`,
    false,
  );
  const copy = await copyAndFinish(
    request,
    client,
    { standby, segmentSize: facts.segmentSize },
    `to ${request.backupDirectory}`,
    () => streamCopy(request),
  );
  return {
    fromStandby: standby,
    stored: {
      size: copy.archives.reduce((sum, archive) => sum + archive.size, 0),
      archives: copy.archives.map((archive) => archive.name),
    },
  };
}

interface StreamedCopy {
  label: BackupLabel;
  end: postgres.BaseBackupEnd;
  archives: UploadedArchive[];
}

/** One BASE_BACKUP, its archives uploaded as they arrive. */
async function streamCopy(request: BackupRequest): Promise<StreamedCopy> {
  const { config, storage, backupId: id } = request;
  const archives: UploadedArchive[] = [];
  let label: BackupLabel | null = null;
  const progress = baseBackupProgress(request);
  // One set of upload options (one bandwidth limit, one multipart journal) for every archive.
  const archiveOptions = cloudArchiveOptions(request);
  const { end } = await postgres.takeBaseBackup(
    config.streaming_conninfo,
    config.streaming_backup_name,
    {
      // MAX_RATE (bandwidth_limit) paces the uploads too (cloudArchiveOptions): the server sends no faster.
      ...baseBackupOptions(request),
      // With data checksums, the pages are checked as the archives are re-packed (request.pageCheck).
      ...(request.pageCheck ? { verifyChecksums: false } : {}),
      ...incrementalOptions(request),
    },
    {
      started: progress.started,
      progress: progress.progress,
      archive: async ({ name, body }) => {
        const base = archiveBase(name);
        request.setStep(`uploading ${base === 'base' ? 'PGDATA' : `tablespace ${base}`}`);
        const writer = new TarPartWriter(base === 'base' ? 'data' : base, archiveOptions);
        try {
          const text = await copyArchive(body, writer);
          await writer.finish();
          if (base === 'base') {
            if (text === null) throw new Error('the server sent no backup_label in base.tar');
            label = parseBackupLabel(text, `backup_label of backup ${id}`);
          }
        } catch (error) {
          body.destroy();
          await writer.abort(error instanceof Error ? error : new Error(String(error)));
          throw error;
        }
        archives.push(...writer.uploaded);
      },
      // PostgreSQL's own manifest, for pg_verifybackup after recovery.
      manifest: async (body) => {
        request.setStep('uploading backup_manifest');
        await storage.writeFile(`${id}/backup_manifest`, body);
      },
    },
  );
  progress.finish();
  if (!label) throw new Error('the server sent no base.tar');
  return { label, end, archives };
}

/**
 * Copies one of the server's tar archives member by member into `writer`; the text of its
 * backup_label (base.tar has it), or null. The links in pg_tblspc are not kept: each tablespace
 * is its own archive and recovery makes the links, as for every backup in this layout.
 */
async function copyArchive(body: Readable, writer: TarPartWriter): Promise<string | null> {
  let label: string | null = null;
  await readTar(body, async (member, read) => {
    const name = member.name.replace(/^\.\//, '').replace(/\/+$/, '');
    const info = { mode: member.mode, mtimeSeconds: member.mtime };
    switch (member.type) {
      case '5':
        await writer.addDirectory(name, info);
        return;
      case '2':
        if (!/^pg_tblspc\/[^/]+$/.test(name)) await writer.addSymlink(name, member.linkname, info);
        return;
      case '0': {
        const chunks: Buffer[] | null = name === 'backup_label' ? [] : null;
        await writer.addMember(name, member.size, info, (write) =>
          read(async (chunk) => {
            chunks?.push(chunk);
            await write(chunk);
          }),
        );
        if (chunks) label = Buffer.concat(chunks).toString('utf8');
        return;
      }
      default:
        throw new Error(`unexpected tar member '${name}' of type '${member.type}' in the backup stream`);
    }
  });
  return label;
}
