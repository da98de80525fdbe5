/**
 * backup_method = postgres: pg_basebackup over the replication protocol (no SSH), plain format
 * into base/<id>/data with tablespaces mapped to base/<id>/<oid>, or tar format compressed with
 * gzip/lz4/zstd. begin_* fields come from the backup_label pg_basebackup wrote, end_* from the
 * server's WAL position after the copy. barman-ts's own BASE_BACKUP client writes the same plain
 * layout instead for incremental backups and where pg_basebackup cannot serve the server
 * (postgres-native.ts, baseBackupClient). To an object store (an s3:// basebackups_directory),
 * the backup streams as tar archives through that client (postgres-cloud.ts).
 */
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError, describeError } from '../errors/index.js';
import * as postgres from '../postgres/index.js';
import { CommandFailedError, runProgram } from '../process/index.js';
import { findPgTool, toolSearchPath } from '../process/postgres-tools.js';
import { makeTreePrivate } from '../storage/durable-files.js';
import { encryptionKeyOf } from '../transfer/gpg.js';
import { parseLsn } from '../wal/names.js';
import { encryptBackupArchives } from './encrypt-archives.js';
import {
  announceCopy,
  backupTimestamp,
  describeServer,
  finishOnServer,
  warnStandbyWithoutPrimary,
} from './concurrent.js';
import { abortUnfinishedUploads } from './cloud-upload.js';
import { pgBasebackupChecks } from './postgres-checks.js';
import { baseBackupClient, nativePlainBackup } from './postgres-native.js';
import { streamBackupToObjectStore } from './postgres-cloud.js';
import { canSealWhileCopying, sealedTarBackup } from './postgres-sealed.js';
import { CopyProgress } from './progress.js';
import { startPrimaryWalSwitcher } from './standby.js';
import type { BackupLabel } from './tar-label.js';
import { findBaseArchive, parseBackupLabel, readTarMember } from './tar-label.js';
import type { BackupExecutor, BackupRequest } from './types.js';

export const postgresExecutor: BackupExecutor = {
  mode: 'postgres',
  checks: [pgBasebackupChecks],
  copyDescription: 'pg_basebackup',
  // Uploads a backup to object storage left open (nothing to do for a local one).
  cleanUpInterrupted: abortUnfinishedUploads,
  async run(request: BackupRequest) {
    if (!request.storage.features.localFiles) return streamBackupToObjectStore(request);
    const { config } = request;
    request.setStep('initialising postgres backup_method');
    const incremental = request.incremental !== undefined && request.incremental !== null;
    // An incremental backup is always taken by barman-ts's own client (baseBackupClient): no need
    // to find pg_basebackup and run it for its version (Debian's pg_wrapper is a Perl script).
    const tool = incremental ? null : await findPgTool(['pg_basebackup'], toolSearchPath(config.path_prefix));
    const program = tool?.path ?? null;
    const toolMajor = tool?.majorVersion ? Number.parseFloat(tool.majorVersion) : null;
    const client = await request.connection.client();
    const serverMajor = Math.floor(client.serverVersion / 10000);
    const native =
      baseBackupClient(config.backup_compression, client.serverVersion, toolMajor, incremental) === 'native';
    const keyId = encryptionKeyOf(config);
    if (keyId !== null && canSealWhileCopying(client.serverVersion)) {
      // Encrypted as it is copied: no plaintext archive ever on disk (postgres-sealed.ts).
      const standby = await postgres.isInRecovery(client);
      if (standby && !config.primary_conninfo) warnStandbyWithoutPrimary(request);
      const facts = await describeServer(client, request);
      return await sealedTarBackup(request, client, facts, standby, keyId);
    }
    if (!native && !program) {
      throw new BarmanError('pg-basebackup-missing', 'pg_basebackup not found in path_prefix or PATH', {
        hint: "Install the PostgreSQL client of the server's version, or set path_prefix.",
      });
    }
    if (!native && (toolMajor === null || toolMajor < serverMajor)) {
      throw new BarmanError(
        'pg-basebackup-incompatible',
        `${program} ${tool?.fullVersion ?? '(unknown version)'} is not compatible with PostgreSQL ${client.versionText}: ` +
          'pg_basebackup must be the same major version as the server, or newer',
        { hint: `Set path_prefix to the bin directory of PostgreSQL ${serverMajor}'s client programs.` },
      );
    }
    const standby = await postgres.isInRecovery(client);
    if (standby && !config.primary_conninfo) warnStandbyWithoutPrimary(request);
    const facts = await describeServer(client, request);
    if (native) return await nativePlainBackup(request, client, facts, standby);
    const start = await postgres.walPosition(client);
    await request.save({
      status: 'STARTED',
      begin_time: backupTimestamp(start.time),
      timeline: start.timeline,
    });
    request.report.info(
      `Backup start at LSN: ${start.lsn} (${start.fileName}, ${start.offset.toString(16).toUpperCase().padStart(8, '0')})`,
    );

    announceCopy(request, 'pg_basebackup', false);
    request.setStep('copying files');
    const data = join(request.backupDirectory, 'data');
    // The password goes through the environment, not the command line other users can read.
    const connection = postgres.programConnection(config.streaming_conninfo, {
      application_name: config.streaming_backup_name,
    });
    const args = [
      `--dbname=${connection.conninfo}`,
      '-v',
      '--progress',
      '--no-password',
      `--pgdata=${data}`,
      '--no-slot',
      '--wal-method=none',
      // With data checksums, the copy's pages are checked as the backup finishes
      // (request.pageCheck): every corrupt page reported, the backup kept, instead of
      // pg_basebackup failing it. (Servers before 11 neither verify nor know the option.)
      ...(request.pageCheck && client.serverVersion >= 110000 ? ['--no-verify-checksums'] : []),
      `--checkpoint=${request.options.immediateCheckpoint ? 'fast' : 'spread'}`,
      ...(request.options.bandwidthLimit ? [`--max-rate=${request.options.bandwidthLimit}`] : []),
      // Tar format keeps each tablespace as <oid>.tar[.ext] in data/: no mapping (pg_basebackup refuses it).
      ...(isTarFormat(request)
        ? []
        : facts.tablespaces.map(
            (t) => `--tablespace-mapping=${t.location}=${join(request.backupDirectory, String(t.oid))}`,
          )),
      ...compressionArguments(request),
    ];
    const copyStarted = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      // A retry starts from empty directories (pg_basebackup refuses non-empty ones).
      for (const directory of [
        data,
        ...facts.tablespaces.map((t) => join(request.backupDirectory, String(t.oid))),
      ]) {
        await rm(directory, { recursive: true, force: true });
        await mkdir(directory, { recursive: true, mode: 0o700 });
        await chmod(directory, 0o700);
      }
      // From a standby, pg_basebackup's end waits for the last WAL file (archive_mode = always):
      // the primary switches WAL once the server reports that phase.
      const switcher =
        standby && config.primary_conninfo
          ? startPrimaryWalSwitcher(request, config.primary_conninfo, {
              ready: async () => {
                const phases = await postgres.baseBackupPhases(client);
                return phases === null || phases.includes('waiting for wal archiving to finish');
              },
            })
          : null;
      const progress = new CopyProgress(
        request.report,
        facts.tablespaces.length > 0
          ? `PGDATA and ${facts.tablespaces.length} tablespace${facts.tablespaces.length === 1 ? '' : 's'}`
          : 'PGDATA',
      );
      let failure: unknown = null;
      try {
        await runProgram(program!, args, {
          env: connection.env,
          onLine: (line) => !followProgress(line, progress),
        });
      } catch (error) {
        failure = error;
      } finally {
        await switcher?.stop();
      }
      // pg_basebackup gives its files the server's modes (0640 for a group-readable PGDATA),
      // whatever the umask: the catalogue is barman_user's alone, partial copies included.
      await makeTreePrivate(request.backupDirectory);
      if (failure === null) {
        progress.finish();
        break;
      }
      if (attempt >= request.options.retryTimes) {
        const detail = failure instanceof CommandFailedError ? failure.message : describeError(failure);
        throw new BarmanError(
          'copy-failed',
          `data transfer failure on directory '${data}'\npg_basebackup error:\n${detail}`,
        );
      }
      request.report.warning(
        `pg_basebackup failed; retrying in ${request.options.retrySleepSeconds} seconds (attempt ${attempt + 2} of ${request.options.retryTimes + 1})`,
      );
      await new Promise((resolve) => setTimeout(resolve, request.options.retrySleepSeconds * 1000));
    }
    const copySeconds = (Date.now() - copyStarted) / 1000;
    request.report.info(
      `Copy done (time: ${Math.floor(copySeconds) < 1 ? 'less than one second' : `${Math.floor(copySeconds)} seconds`})`,
    );
    request.report.info('Finalising the backup.');

    request.setStep('reading the backup label');
    const label = await readBackupLabel(data);
    // PostgreSQL before 15: pg_basebackup's archives, encrypted once written (encrypt-archives.ts).
    const encryption =
      keyId === null
        ? null
        : await encryptBackupArchives(request.storage, `${request.backupId}/data`, keyId, request.report);
    const beginLsn = parseLsn(label.lsn);
    // A primary's current position, a standby's replay position: at or after the backup's end.
    const end = await postgres.walPosition(client);
    await request.save({
      backup_label: label.text,
      begin_xlog: label.lsn,
      begin_wal: label.file,
      begin_offset: Number(beginLsn % BigInt(facts.segmentSize)),
      timeline: label.timeline,
      end_xlog: end.lsn,
      end_wal: end.fileName,
      end_offset: end.offset,
      end_time: backupTimestamp(end.time),
      compression: config.backup_compression_format === 'tar' ? config.backup_compression : null,
      encryption,
      copy_stats: new Map<string, number>([
        ['copy_time', copySeconds],
        ['total_time', copySeconds],
      ]),
    });
    await finishOnServer(request, client, standby);
    return { fromStandby: standby };
  },
};

/**
 * pg_basebackup --progress on a non-terminal prints `  20480/2013344 kB (1%), 0/1 tablespace (...)`
 * about once a second, against the server's estimate of the total. True when `line` is one.
 */
function followProgress(line: string, progress: CopyProgress): boolean {
  const match = /^\s*(\d+)\/(\d+) kB \(/.exec(line);
  if (!match) return false;
  progress.update({ bytes: Number(match[1]) * 1024 }, { bytes: Number(match[2]) * 1024 });
  return true;
}

function compressionArguments(request: BackupRequest): string[] {
  const { config } = request;
  if (!config.backup_compression || config.backup_compression === 'none') return [];
  if (config.backup_compression_format !== 'tar') {
    // Plain format: pg_basebackup decompresses on arrival (server-side compression saves network).
    return [`--compress=${config.backup_compression_location ?? 'server'}-${config.backup_compression}`];
  }
  const details = [
    ...(config.backup_compression_level !== null ? [`level=${config.backup_compression_level}`] : []),
    ...(config.backup_compression_workers !== null ? [`workers=${config.backup_compression_workers}`] : []),
  ];
  const location = config.backup_compression_location ? `${config.backup_compression_location}-` : '';
  return [
    '--format=tar',
    `--compress=${location}${config.backup_compression}${details.length ? `:${details.join(',')}` : ''}`,
  ];
}

function isTarFormat(request: BackupRequest): boolean {
  const { config } = request;
  return (
    config.backup_compression_format === 'tar' &&
    !!config.backup_compression &&
    config.backup_compression !== 'none'
  );
}

/** START WAL LOCATION / START TIMELINE from the backup_label pg_basebackup wrote (plain or in base.tar). */
async function readBackupLabel(data: string): Promise<BackupLabel> {
  let text: string | null;
  try {
    text = await readFile(join(data, 'backup_label'), 'utf8');
  } catch {
    const archive = await findBaseArchive(data);
    text = archive ? await readTarMember(archive.path, archive.compression, 'backup_label') : null;
    if (text === null) {
      throw new BarmanError(
        'backup-label-unreadable',
        `cannot read backup_label in ${data}${archive ? ` (${archive.path})` : ''}`,
      );
    }
  }
  return parseBackupLabel(text, join(data, 'backup_label'));
}
