/**
 * backup with `backup_method = local-to-cloud`: the concurrent backup protocol, PGDATA and the
 * tablespaces streamed as tar archives straight to object storage in barman-cloud-backup's
 * layout (see executors/cloud-tar.ts), backup.info kept in memory and uploaded at each step
 * (`<id>/backup.info`: STARTED, then DONE or FAILED with the error). The backup lock is local,
 * as for every server, and so is the journal of its unfinished multipart uploads. Like
 * barman-cloud-backup, the backup is DONE once its files are stored: its WAL is archived by
 * cloud-wal-archive, which the backup does not wait for. A local-to-cloud backup left STARTED by
 * a killed process (or a bucket that stopped answering) is marked FAILED by the next backup,
 * which also aborts the multipart uploads the journal lists.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { ManifestFile } from '../../catalog/backup-manifest.js';
import { renderBackupManifest } from '../../catalog/backup-manifest.js';
import { emptyBackupInfo, formatBackupInfo, parseBackupInfo } from '../../catalog/backup-info.js';
import type { ServerLayout } from '../../catalog/layout.js';
import type { ServerConfig, ServerEntry } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import type { TarPartWriter } from '../../executors/cloud-tar.js';
import { uploadCluster, uploadLabel } from '../../executors/cloud-tar.js';
import { concurrentBackup } from '../../executors/concurrent.js';
import type { BackupRequest } from '../../executors/index.js';
import type { BackupHookInfo } from '../../hooks/index.js';
import { backupHookEnv, HookRunner } from '../../hooks/index.js';
import { acquireLock, serverLockPath } from '../../locks/index.js';
import { prettySize } from '../../output/format.js';
import { createRateLimiter, pacedReadable } from '../../util/throttle.js';
import type { CloudCompression } from '../../wal/cloud-layout.js';
import { CLOUD_WAL_EXTENSIONS } from '../../wal/cloud-layout.js';
import { humanDuration } from '../../output/time.js';
import * as postgres from '../../postgres/index.js';
import { writeFileDurably } from '../../storage/posix.js';
import type { MultipartListener, S3Storage } from '../../storage/s3/index.js';
import type { CompressionName } from '../../transfer/compression/index.js';
import type { CommandContext } from '../definition.js';
import type { BackupOutcome } from './common.js';
import { backupIdNow, preBackupCheck } from './common.js';

const BACKUP_ID = /^\d{8}T\d{6}$/;

/** Names for messages and hooks: nothing is written locally but the lock and the upload journal. */
function cloudLayout(config: ServerConfig, baseUrl: string): ServerLayout {
  const location = (value: ServerConfig['wals_directory']) => (value.kind === 's3' ? value.url : value.path);
  return {
    server: config.name,
    backupDirectory: config.backup_directory,
    basebackupsDirectory: baseUrl,
    walsDirectory: location(config.wals_directory),
    incomingDirectory: config.incoming_wals_directory,
    streamingDirectory: config.streaming_wals_directory,
    errorsDirectory: config.errors_directory,
    lockDirectory: config.barman_lock_directory,
    identityFile: `${config.backup_directory}/identity.json`,
    xlogDbFile: `${location(config.wals_directory)} (listing)`,
    metaDirectory: `${config.backup_directory}/meta`,
  };
}

export async function backupToCloud(
  ctx: CommandContext,
  server: ServerEntry,
  options: Readonly<Record<string, unknown>>,
): Promise<BackupOutcome> {
  const config = server.config;
  const base = config.basebackups_directory;
  if (base.kind !== 's3') {
    throw new BarmanError(
      'config-invalid',
      `'backup_method = local-to-cloud' needs an s3:// basebackups_directory (server ${config.name})`,
    );
  }
  await mkdir(config.barman_lock_directory, { recursive: true });
  const lock = await acquireLock(serverLockPath(config.barman_lock_directory, config.name, 'backup'), {
    busyMessage: 'Another backup process is running',
  });
  const blocking = await preBackupCheck(ctx, server).catch((error: unknown) => {
    lock.release();
    throw error;
  });
  if (blocking.length > 0) {
    lock.release();
    for (const result of blocking)
      ctx.log.warning(`check failed before backup: ${result.name}${result.hint ? ` (${result.hint})` : ''}`);
    ctx.report.error(
      `Impossible to start the backup: ${blocking.map((result) => `${result.name}${result.hint ? ` (${result.hint})` : ''}`).join(', ')}. ` +
        `Run 'barman check ${config.name}' for details`,
    );
    return { server: config.name, backupId: null, status: 'FAILED', error: 'pre-backup check failed' };
  }
  // The SDK loads only for cloud servers.
  const { S3Storage } = await import('../../storage/s3/index.js');
  const { s3SettingsFor } = await import('../../storage/s3/settings.js');
  const storage = new S3Storage(s3SettingsFor(config, base));
  const hooks = HookRunner.forServer(ctx, config);
  const compression =
    config.backup_compression && config.backup_compression !== 'none'
      ? (config.backup_compression as CompressionName)
      : null;
  let info: BackupInfo | null = null;
  let backupId: string | null = null;
  let hookInfo: BackupHookInfo | null = null;
  let step = 'starting backup';
  const saveInfo = async () => {
    await storage.writeFile(`${backupId}/backup.info`, formatBackupInfo(info!));
  };
  const journal = new UploadJournal(join(config.barman_lock_directory, `.${config.name}-backup.uploads`));
  try {
    step = 'checking interrupted backups';
    await markAbandoned(ctx, storage, journal);
    step = 'connecting to the object storage';
    backupId = backupIdNow();
    while ((await storage.listObjects(backupId)).length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      backupId = backupIdNow();
    }
    step = 'connecting to PostgreSQL';
    const client = await postgres.PostgresClient.connect(config.conninfo);
    let systemid: string;
    try {
      systemid = await postgres.systemIdentifier(client);
    } finally {
      await client.close();
    }
    const backupDirectory = `${storage.location}/${backupId}`;
    info = emptyBackupInfo(config.name, {
      mode: 'local-to-cloud',
      backup_name: typeof options.name === 'string' ? options.name : null,
      systemid,
      compression,
    });
    step = 'uploading backup.info';
    await saveInfo();
    const request: BackupRequest = {
      config,
      layout: cloudLayout(config, base.url),
      backupId,
      backupDirectory,
      previous: null,
      options: {
        immediateCheckpoint: config.immediate_checkpoint,
        reuse: 'off',
        jobs: config.parallel_jobs,
        bandwidthLimit: config.bandwidth_limit || null,
        tablespaceBandwidthLimit: null,
        startBatch: {
          size: config.parallel_jobs_start_batch_size,
          periodSeconds: config.parallel_jobs_start_batch_period,
        },
        retryTimes: 0,
        retrySleepSeconds: 0,
      },
      report: ctx.report,
      log: ctx.log.child({ server: config.name, backup: backupId }),
      setStep: (name) => {
        step = name;
      },
      save: async (fields) => {
        info = { ...info!, ...fields };
        await saveInfo();
      },
    };
    const started = Date.now();
    ctx.report.info(
      `Starting backup using local-to-cloud method for server ${config.name} in ${backupDirectory}`,
    );
    hookInfo = {
      backupId,
      backupDir: backupDirectory,
      backupInfoPath: `${backupDirectory}/backup.info`,
      status: 'EMPTY',
      previousId: null,
      nextId: null,
      error: null,
    };
    step = 'running the pre_backup scripts';
    await hooks.run('backup', 'pre', backupHookEnv(hookInfo));
    const id = backupId;
    let writers: TarPartWriter[] = [];
    let data: TarPartWriter | null = null;
    const limit = config.bandwidth_limit ? createRateLimiter(config.bandwidth_limit) : null;
    const manifest: ManifestFile[] = [];
    await concurrentBackup(
      request,
      `tar archives${compression ? ` (${compression})` : ''} to ${backupDirectory}`,
      async (facts, signal) => {
        const uploaded = await uploadCluster(facts, {
          compression,
          extension: compression ? CLOUD_WAL_EXTENSIONS[compression as CloudCompression] : '',
          maxSize: config.cloud_upload_max_archive_size,
          // bandwidth_limit (or --bwlimit) paces every upload of the backup together.
          upload: async (name, body) =>
            (
              await storage.upload(`${id}/${name}`, limit ? pacedReadable(body, limit) : body, {
                multipartListener: journal,
              })
            ).size,
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
    step = 'uploading backup_manifest';
    const ended: BackupInfo = info;
    if (ended.timeline === null || !ended.begin_xlog || !ended.end_xlog)
      throw new Error('PostgreSQL did not report the WAL range of the backup');
    // PostgreSQL's own format: recovery places it in the data directory for pg_verifybackup.
    await storage.writeFile(
      `${id}/backup_manifest`,
      renderBackupManifest(manifest, [
        { timeline: ended.timeline, startLsn: ended.begin_xlog, endLsn: ended.end_xlog },
      ]),
    );
    const archives = writers.flatMap((writer) => writer.uploaded);
    const size = archives.reduce((sum, archive) => sum + archive.size, 0);
    step = 'uploading backup.info';
    info = { ...info, size, deduplicated_size: size, status: 'DONE' };
    await saveInfo();
    ctx.report.info(
      `Backup size: ${prettySize(size)} in ${archives.length} archive${archives.length === 1 ? '' : 's'} ` +
        `(${archives.map((archive) => archive.name).join(', ')})`,
    );
    const final: BackupInfo = info;
    ctx.report.info(
      `Backup end at LSN: ${final.end_xlog} (${final.end_wal}, ${(final.end_offset ?? 0).toString(16).toUpperCase().padStart(8, '0')})`,
    );
    ctx.report.info(
      `Backup completed (start time: ${new Date(started).toISOString().replace('T', ' ').replace('Z', '')}, elapsed time: ${humanDuration((Date.now() - started) / 1000)})`,
    );
  } catch (error) {
    const message = describeError(error).split('\n')[0]!;
    if (info && backupId) {
      info = { ...info, status: 'FAILED', error: `failure ${step} (${message})` };
      await saveInfo().catch((writeError: unknown) =>
        ctx.report.warning(
          `cannot mark backup ${backupId} FAILED: ${describeError(writeError).split('\n')[0]!}; ` +
            `it stays STARTED until the next backup of ${config.name} marks it FAILED`,
        ),
      );
    }
    ctx.report.error(`Backup failed ${step}.\nDETAILS: ${describeError(error)}`);
    if (hookInfo) {
      await hooks.run(
        'backup',
        'post',
        backupHookEnv({ ...hookInfo, status: 'FAILED', error: describeError(error) }),
      );
    }
    return { server: config.name, backupId, status: 'FAILED', error: describeError(error) };
  } finally {
    lock.release();
    storage.destroy();
  }
  await hooks.run('backup', 'post', backupHookEnv({ ...hookInfo, status: 'DONE' }));
  return { server: config.name, backupId, status: 'DONE', error: null };
}

/**
 * local-to-cloud backups left STARTED by a process that died (we hold the backup lock, so none
 * runs): marked FAILED, and their unfinished multipart uploads aborted. Backups of other tools
 * (barman-cloud-backup, which takes no lock of ours) are left alone.
 */
async function markAbandoned(ctx: CommandContext, storage: S3Storage, journal: UploadJournal): Promise<void> {
  // Uploads an earlier backup could not abort (S3 unreachable, or the process killed): first,
  // as stores without ListMultipartUploads (s3rver, some others) have no other way to find them.
  for (const { key, uploadId } of await journal.load()) {
    if (await storage.tryAbortUpload(key, uploadId)) {
      ctx.log.info(`aborted the unfinished multipart upload of ${key} left by an earlier backup`);
      await journal.ended(key, uploadId);
    }
  }
  const ids = new Set<string>();
  for (const object of await storage.listObjects('')) {
    const [id, file, more] = object.path.split('/');
    if (id && BACKUP_ID.test(id) && file === 'backup.info' && more === undefined) ids.add(id);
  }
  for (const id of [...ids].sort()) {
    let info: BackupInfo;
    try {
      info = parseBackupInfo(
        (await storage.readFile(`${id}/backup.info`)).toString('utf8'),
        `${storage.location}/${id}/backup.info`,
      );
    } catch (error) {
      ctx.log.warning(`cannot read backup ${id}: ${describeError(error)}`);
      continue;
    }
    if (info.mode !== 'local-to-cloud' || (info.status !== 'STARTED' && info.status !== 'EMPTY')) continue;
    ctx.report.warning(`backup ${id} was interrupted (status ${info.status}); marking it FAILED`);
    await storage.writeFile(
      `${id}/backup.info`,
      formatBackupInfo({ ...info, status: 'FAILED', error: 'failure: the backup process was interrupted' }),
    );
    try {
      for (const upload of await storage.listUploads(`${id}/`))
        await storage.abortUpload(upload.key, upload.uploadId);
    } catch (error) {
      ctx.log.warning(`cannot abort the unfinished uploads of backup ${id}: ${describeError(error)}`);
    }
  }
}

/**
 * The multipart uploads of this server's local-to-cloud backups that S3 has not yet completed or
 * aborted, in a small file next to the backup lock (one `key uploadId` line each), written
 * before each upload starts and after it ends. A backup whose bucket stopped answering, or that
 * was killed, leaves its upload here, and the next backup aborts it, so no parts stay stored
 * (and billed) even where ListMultipartUploads is missing.
 */
class UploadJournal implements MultipartListener {
  private readonly open = new Map<string, string>();
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  /** The uploads left by earlier backups; they stay listed until ended() is called for them. */
  async load(): Promise<Array<{ key: string; uploadId: string }>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    for (const line of text.split('\n')) {
      // Upload ids have no spaces; keys might.
      const space = line.lastIndexOf(' ');
      if (space > 0) this.open.set(line.slice(space + 1), line.slice(0, space));
    }
    return [...this.open].map(([uploadId, key]) => ({ key, uploadId }));
  }

  started(key: string, uploadId: string): Promise<void> {
    this.open.set(uploadId, key);
    return this.save();
  }

  ended(_key: string, uploadId: string): Promise<void> {
    this.open.delete(uploadId);
    return this.save();
  }

  /** Saves run one after another, each writing the whole current set. */
  private save(): Promise<void> {
    const lines = [...this.open].map(([uploadId, key]) => `${key} ${uploadId}\n`).join('');
    this.saving = this.saving.then(() => writeFileDurably(this.path, lines));
    return this.saving;
  }
}
