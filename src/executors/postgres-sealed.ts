/**
 * An encrypted `postgres`-method backup to a directory (`encryption = gpg`, Barman 3.14+'s
 * layout: `<id>/data/base.tar.<ext>.gpg`, `<id>/data/<oid>.tar.<ext>.gpg`, the server's
 * `<id>/data/backup_manifest`), taken with barman-ts's BASE_BACKUP client on PostgreSQL 15+
 * — a full backup, or an incremental one (PostgreSQL 17+, its INCREMENTAL.* files sealed too):
 * each tar archive PostgreSQL streams is compressed, then encrypted by gpg, as it arrives, and
 * written through Storage — no plaintext archive (compressed or not) is ever a file under
 * barman_home. Barman (and barman-ts on older servers, encrypt-archives.ts) lets pg_basebackup
 * write the compressed plaintext archives first and encrypts them after the copy.
 */
import { PassThrough, type Readable } from 'node:stream';
import * as postgres from '../postgres/index.js';
import type { CompressionName } from '../transfer/compression/index.js';
import { createCompressStream } from '../transfer/compression/index.js';
import { COMPRESSION_EXTENSIONS } from '../transfer/compression/types.js';
import { encryptStream, GPG_ENCRYPTION } from '../transfer/gpg.js';
import { readTar } from '../transfer/tar-reader.js';
import { archiveBase, baseBackupProgress, copyAndFinish, baseBackupOptions } from './base-backup-copy.js';
import type { ServerFacts } from './concurrent.js';
import { announceCopy } from './concurrent.js';
import { incrementalOptions, saveNativeStarted } from './postgres-native.js';
import type { BackupLabel } from './tar-label.js';
import { parseBackupLabel } from './tar-label.js';
import type { BackupRequest, ExecutorOutcome } from './types.js';

/**
 * Whether this way can take the backup: an encrypted backup of PostgreSQL 15 or newer, full or
 * incremental (PostgreSQL 17+: the parent's backup_manifest is sent first, as for a plain one).
 */
export function canSealWhileCopying(serverVersion: number): boolean {
  return serverVersion >= postgres.BASE_BACKUP_MIN_VERSION;
}

/** The copy and stop of an encrypted backup, once describeServer has filled backup.info. */
export async function sealedTarBackup(
  request: BackupRequest,
  client: postgres.PostgresClient,
  facts: ServerFacts,
  standby: boolean,
  keyId: string,
): Promise<ExecutorOutcome> {
  const { config } = request;
  const compression = tarCompression(config.backup_compression);
  await saveNativeStarted(request, client, {
    compression: compression ?? config.backup_compression,
    encryption: GPG_ENCRYPTION,
  });
  const kind = request.incremental ? `INCREMENTAL, parent ${request.incremental.parentId}, ` : '';
  announceCopy(
    request,
    `BASE_BACKUP (${kind}tar archives${compression ? `, ${compression}` : ''}, encrypted with ${GPG_ENCRYPTION})`,
    false,
  );
  await copyAndFinish(
    request,
    client,
    { standby, segmentSize: facts.segmentSize },
    `to ${request.backupDirectory}/data`,
    () => sealedCopy(request, compression, keyId),
  );
  return { fromStandby: standby };
}

function tarCompression(name: string | null): CompressionName | null {
  return name && name !== 'none' ? (name as CompressionName) : null;
}

/** One BASE_BACKUP, each archive sealed into `<id>/data/` as it arrives. */
async function sealedCopy(
  request: BackupRequest,
  compression: CompressionName | null,
  keyId: string,
): Promise<{ label: BackupLabel; end: postgres.BaseBackupEnd }> {
  const { config, storage, backupId: id } = request;
  const extension = compression
    ? COMPRESSION_EXTENSIONS[compression as keyof typeof COMPRESSION_EXTENSIONS]
    : '';
  const progress = baseBackupProgress(request);
  let labelText: string | null = null;
  await storage.mkdir(`${id}/data`);
  const { end } = await postgres.takeBaseBackup(
    config.streaming_conninfo,
    config.streaming_backup_name,
    {
      ...baseBackupOptions(request),
      // An incremental's archives hold the server's INCREMENTAL.* files: sealed like the rest.
      ...incrementalOptions(request),
    },
    {
      started: progress.started,
      progress: progress.progress,
      archive: async ({ name, body }) => {
        const base = archiveBase(name);
        request.setStep(`copying ${base === 'base' ? 'PGDATA' : `tablespace ${base}`}`);
        const label = base === 'base' ? new PassThrough({ highWaterMark: 1 << 20 }) : null;
        const plain = new PassThrough({ highWaterMark: 1 << 20 });
        body.on('error', (error) => {
          plain.destroy(error);
          label?.destroy(error);
        });
        body.pipe(plain);
        if (label) body.pipe(label);
        let compressed: Readable = plain;
        if (compression) {
          const compress = createCompressStream(compression, {
            level: backupLevel(config.backup_compression_level),
          });
          plain.on('error', (error) => compress.destroy(error));
          compressed = plain.pipe(compress);
        }
        const sealed = encryptStream(keyId, compressed);
        const [, , text] = await Promise.all([
          storage.writeFile(`${id}/data/${name}${extension}.${GPG_ENCRYPTION}`, sealed.stdout),
          sealed.done,
          label ? backupLabelOf(label) : Promise.resolve(null),
        ]);
        if (base === 'base') labelText = text;
      },
      // PostgreSQL's own manifest (file names and checksums, no data: plaintext, as in Barman).
      manifest: async (body) => {
        request.setStep('writing backup_manifest');
        await storage.writeFile(`${id}/data/backup_manifest`, body);
      },
    },
  );
  progress.finish();
  if (labelText === null) throw new Error('the server sent no backup_label in base.tar');
  return { label: parseBackupLabel(labelText, `backup_label of backup ${id}`), end };
}

/** backup_compression_level (a number, or unset: the codec's default). */
function backupLevel(level: number | null): number | 'medium' {
  return level ?? 'medium';
}

/** The backup_label member of a tar stream (the rest read and dropped), or null. */
async function backupLabelOf(stream: Readable): Promise<string | null> {
  let text: string | null = null;
  await readTar(stream, async (member, read) => {
    const wanted = member.name.replace(/^\.\//, '') === 'backup_label';
    const chunks: Buffer[] = [];
    await read((chunk) => {
      if (wanted) chunks.push(chunk);
      return Promise.resolve();
    });
    if (wanted) text = Buffer.concat(chunks).toString('utf8');
  });
  // After the end-of-archive blocks: keep draining, or the tee would stall the copy.
  stream.resume();
  return text;
}
