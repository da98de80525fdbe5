/**
 * How a backup's archives reach an object store, for every method that writes barman-cloud's
 * layout (local-to-cloud, postgres to an s3:// basebackups_directory): the compression and
 * extension of the archives, one bandwidth limit shared by all uploads, and the one place the
 * store's upload options are built (multipart journal, bounded local staging).
 */
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/index.js';
import type { Storage, WriteOptions } from '../storage/index.js';
import { createRateLimiter, pacedReadable } from '../util/throttle.js';
import type { CloudCompression } from '../wal/cloud-layout.js';
import { CLOUD_WAL_EXTENSIONS } from '../wal/cloud-layout.js';
import type { ArchiveOptions } from './cloud-tar.js';
import { describeError } from '../errors/index.js';
import { encryptionKeyOf, GPG_ENCRYPTION } from '../transfer/gpg.js';
import type { BackupRequest, InterruptedScope } from './types.js';
import { multipartUploadsOf, uploadJournalOf } from './upload-journal.js';

export function cloudBackupCompression(config: ServerConfig): ArchiveOptions['compression'] {
  return config.backup_compression && config.backup_compression !== 'none' ? config.backup_compression : null;
}

/** What backup.info records of a cloud backup's encryption (Barman's field), null when plain. */
export function cloudBackupEncryption(config: ServerConfig): typeof GPG_ENCRYPTION | null {
  return encryptionKeyOf(config) === null ? null : GPG_ENCRYPTION;
}

/** The ArchiveOptions of `request`'s backup, uploading `<id>/<name>` into its storage. */
export function cloudArchiveOptions(request: BackupRequest, signal?: AbortSignal): ArchiveOptions {
  const { config, storage, backupId: id } = request;
  return {
    ...cloudArchiveFormat(config),
    ...(signal ? { signal } : {}),
    ...(request.pageCheck ? { observe: request.pageCheck.observe.bind(request.pageCheck) } : {}),
    upload: backupArchiveUploader(config, storage, id, {
      bandwidthLimit: request.options.bandwidthLimit,
      staging: request.options.cloudStaging,
    }),
  };
}

/** Compression, extension, part size and encryption of the archives of `config`'s backups in barman-cloud's layout. */
export function cloudArchiveFormat(
  config: ServerConfig,
): Pick<ArchiveOptions, 'compression' | 'extension' | 'maxSize' | 'encryptTo'> {
  const compression = cloudBackupCompression(config);
  return {
    compression,
    extension: compression ? CLOUD_WAL_EXTENSIONS[compression as CloudCompression] : '',
    maxSize: config.cloud_upload_max_archive_size,
    encryptTo: encryptionKeyOf(config),
  };
}

/**
 * Uploads the archives of backup `id` as `<id>/<name>` into `storage` (the backup's
 * basebackups_directory): multipart uploads recorded in the server's upload journal, so the next
 * backup (or mirror copy) aborts what a killed one left; `bandwidthLimit` paces them all together.
 */
export function backupArchiveUploader(
  config: ServerConfig,
  storage: Storage,
  id: string,
  options: { bandwidthLimit: number | null; staging?: WriteOptions['staging'] },
): ArchiveOptions['upload'] {
  const journal = uploadJournalOf(config);
  const multipart = multipartUploadsOf(storage);
  const limit = options.bandwidthLimit ? createRateLimiter(options.bandwidthLimit) : null;
  return async (name, body) => {
    const paced: Readable = limit ? pacedReadable(body, limit) : body;
    // The streamed-upload options of every backup archive: only here.
    if (multipart)
      return (
        await multipart.upload(`${id}/${name}`, paced, {
          multipartListener: journal,
          staging: options.staging ?? null,
        })
      ).size;
    await storage.writeFile(`${id}/${name}`, paced);
    return (await storage.stat(`${id}/${name}`))?.size ?? 0;
  };
}

/**
 * Aborts the multipart uploads earlier backups could not (the journal: stores without
 * ListMultipartUploads, such as s3rver, have no other way to find them), then any the store
 * lists under the interrupted backups.
 */
export async function abortUnfinishedUploads(
  { config, storage, log }: InterruptedScope,
  ids: readonly string[],
): Promise<void> {
  const multipart = multipartUploadsOf(storage);
  if (!multipart) return;
  const journal = uploadJournalOf(config);
  for (const { key, uploadId } of await journal.load()) {
    if (await multipart.tryAbortUpload(key, uploadId)) {
      log.info(`aborted the unfinished multipart upload of ${key} left by an earlier backup`);
      await journal.ended(key, uploadId);
    }
  }
  for (const id of ids) {
    try {
      for (const upload of await multipart.listUploads(`${id}/`))
        await multipart.abortUpload(upload.key, upload.uploadId);
    } catch (error) {
      log.warning(`cannot abort the unfinished uploads of backup ${id}: ${describeError(error)}`);
    }
  }
}
