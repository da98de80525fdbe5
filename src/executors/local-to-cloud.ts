/**
 * backup_method = local-to-cloud: the concurrent backup protocol, PGDATA and the tablespaces
 * streamed as tar archives (cloud-tar.ts) straight into the backup's Storage in
 * barman-cloud-backup's layout (`<id>/data.tar[.ext]`, `<id>/<oid>.tar[.ext]`, then
 * `<id>/backup_manifest`). Like barman-cloud-backup, the backup is DONE once its files are
 * stored: its WAL is archived by cloud-wal-archive, which the backup does not wait for. Multipart
 * uploads go through the journal of upload-journal.ts, so the next backup aborts what a killed
 * one left.
 */
import type { Readable } from 'node:stream';
import type { BackupInfo } from '../catalog/backup-info.js';
import type { ManifestFile } from '../catalog/backup-manifest.js';
import { renderBackupManifest } from '../catalog/backup-manifest.js';
import type { ServerConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import { createRateLimiter, pacedReadable } from '../util/throttle.js';
import type { CloudCompression } from '../wal/cloud-layout.js';
import { CLOUD_WAL_EXTENSIONS } from '../wal/cloud-layout.js';
import type { ArchiveOptions, ArchiveUploader, TarPartWriter } from './cloud-tar.js';
import { uploadCluster, uploadLabel } from './cloud-tar.js';
import { concurrentBackup } from './concurrent.js';
import type { BackupExecutor, BackupRequest, InterruptedScope } from './types.js';
import { multipartUploadsOf, uploadJournalOf } from './upload-journal.js';

function compressionOf(config: ServerConfig): ArchiveOptions['compression'] {
  return config.backup_compression && config.backup_compression !== 'none' ? config.backup_compression : null;
}

export const localToCloudExecutor: BackupExecutor = {
  mode: 'local-to-cloud',
  copyDescription: 'tar archives',
  doneWithoutWal: true,
  initialInfo: (config) => ({ compression: compressionOf(config) }),

  async run(request: BackupRequest) {
    const { config, storage, backupId: id } = request;
    if (config.basebackups_directory.kind !== 's3') {
      throw new BarmanError(
        'config-invalid',
        `'backup_method = local-to-cloud' needs an s3:// basebackups_directory (server ${config.name})`,
      );
    }
    const compression = compressionOf(config);
    const journal = uploadJournalOf(config);
    const multipart = multipartUploadsOf(storage);
    // bandwidth_limit (or --bwlimit) paces every upload of the backup together.
    const limit = request.options.bandwidthLimit ? createRateLimiter(request.options.bandwidthLimit) : null;
    const upload: ArchiveUploader = async (name, body) => {
      const paced: Readable = limit ? pacedReadable(body, limit) : body;
      if (multipart)
        return (
          await multipart.upload(`${id}/${name}`, paced, {
            multipartListener: journal,
            staging: request.options.cloudStaging,
          })
        ).size;
      await storage.writeFile(`${id}/${name}`, paced);
      return (await storage.stat(`${id}/${name}`))?.size ?? 0;
    };
    let writers: TarPartWriter[] = [];
    let data: TarPartWriter | null = null;
    const manifest: ManifestFile[] = [];
    let last: Partial<BackupInfo> = {};
    const outcome = await concurrentBackup(
      {
        ...request,
        // The WAL range for backup_manifest, as the protocol saves it.
        save: async (fields) => {
          last = { ...last, ...fields };
          await request.save(fields);
        },
      },
      `${this.copyDescription}${compression ? ` (${compression})` : ''} to ${request.backupDirectory}`,
      async (facts, signal) => {
        const uploaded = await uploadCluster(facts, {
          compression,
          extension: compression ? CLOUD_WAL_EXTENSIONS[compression as CloudCompression] : '',
          maxSize: config.cloud_upload_max_archive_size,
          upload,
          signal,
          manifest,
        });
        data = uploaded.data;
        writers = [...uploaded.tablespaces, uploaded.data];
        return {};
      },
      async (stop) => {
        request.setStep('uploading backup label');
        await uploadLabel(data!, stop.backupLabel, stop.tablespaceMap);
      },
    );
    request.setStep('uploading backup_manifest');
    if (typeof last.timeline !== 'number' || !last.begin_xlog || !last.end_xlog)
      throw new Error('PostgreSQL did not report the WAL range of the backup');
    // PostgreSQL's own format: recovery places it in the data directory for pg_verifybackup.
    await storage.writeFile(
      `${id}/backup_manifest`,
      renderBackupManifest(manifest, [
        { timeline: last.timeline, startLsn: last.begin_xlog, endLsn: last.end_xlog },
      ]),
    );
    const archives = writers.flatMap((writer) => writer.uploaded);
    return {
      ...outcome,
      stored: {
        size: archives.reduce((sum, archive) => sum + archive.size, 0),
        archives: archives.map((archive) => archive.name),
      },
    };
  },

  /**
   * Aborts the multipart uploads earlier backups could not (the journal: stores without
   * ListMultipartUploads, such as s3rver, have no other way to find them), then any the store
   * lists under the interrupted backups.
   */
  async cleanUpInterrupted({ config, storage, log }: InterruptedScope, ids: readonly string[]) {
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
  },
};
