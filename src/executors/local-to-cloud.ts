/**
 * backup_method = local-to-cloud: the concurrent backup protocol, PGDATA and the tablespaces
 * streamed as tar archives (cloud-tar.ts) straight into the backup's Storage in
 * barman-cloud-backup's layout (`<id>/data.tar[.ext]`, `<id>/<oid>.tar[.ext]`, then
 * `<id>/backup_manifest`). Like barman-cloud-backup, the backup is DONE once its files are
 * stored: its WAL is archived by cloud-wal-archive, which the backup does not wait for. Multipart
 * uploads go through the journal of upload-journal.ts, so the next backup aborts what a killed
 * one left.
 */
import type { BackupInfo } from '../catalog/backup-info.js';
import type { ManifestFile } from '../catalog/backup-manifest.js';
import { renderBackupManifest } from '../catalog/backup-manifest.js';
import { BarmanError } from '../errors/index.js';
import type { TarPartWriter } from './cloud-tar.js';
import { uploadCluster, uploadLabel } from './cloud-tar.js';
import {
  abortUnfinishedUploads,
  cloudArchiveOptions,
  cloudBackupCompression,
  cloudBackupEncryption,
} from './cloud-upload.js';
import { concurrentBackup } from './concurrent.js';
import { backupStrategyChecks, localPgdataCheck } from './file-copy-checks.js';
import type { BackupExecutor, BackupRequest } from './types.js';

export const localToCloudExecutor: BackupExecutor = {
  mode: 'local-to-cloud',
  checks: [localPgdataCheck, backupStrategyChecks],
  copyDescription: 'tar archives',
  doneWithoutWal: true,
  initialInfo: (config) => ({
    compression: cloudBackupCompression(config),
    encryption: cloudBackupEncryption(config),
  }),

  async run(request: BackupRequest) {
    const { config, storage, backupId: id } = request;
    if (config.basebackups_directory.kind !== 's3') {
      throw new BarmanError(
        'config-invalid',
        `'backup_method = local-to-cloud' needs an s3:// basebackups_directory (server ${config.name})`,
      );
    }
    const compression = cloudBackupCompression(config);
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
        const uploaded = await uploadCluster(facts, { ...cloudArchiveOptions(request, signal), manifest });
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

  cleanUpInterrupted: abortUnfinishedUploads,
};
