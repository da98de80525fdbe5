/**
 * The concurrent backup protocol shared by the file-copy executors (local-rsync, rsync): on the
 * run's session (request.connection), pg_backup_start, copy the files, pg_backup_stop in the same session, store the
 * backup_label (and tablespace_map) it returns. The session is kept alive during long copies;
 * losing it ends the backup. Also works on a standby (see standby.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupInfo, Tablespace } from '../catalog/backup-info.js';
import { timestampFromDate } from '../catalog/backup-info.js';
import { BarmanError, describeError } from '../errors/index.js';
import type { ServerTime } from '../postgres/index.js';
import * as postgres from '../postgres/index.js';
import {
  abandonExclusive,
  abortOnSignals,
  copiedLabel,
  refuseExclusive,
  refuseRunningExclusive,
} from './exclusive.js';
import { startPrimaryWalSwitcher, switchWalOnPrimary } from './standby.js';
import type { BackupRequest, ExecutorOutcome } from './types.js';

export function backupTimestamp(time: ServerTime): BackupInfo['begin_time'] {
  const micros = time.epochMicros;
  return timestampFromDate(new Date(Number(micros / 1000n)), time.utcOffsetMinutes, Number(micros % 1000n));
}

export interface ServerFacts {
  pgdata: string;
  tablespaces: Tablespace[];
  version: number;
  segmentSize: number;
  /** An exclusive backup: the copy takes backup_label and tablespace_map from PGDATA. */
  exclusive: boolean;
}

/** Reads what the backup needs to know before copying, and records it in backup.info. */
export async function describeServer(
  client: postgres.PostgresClient,
  request: BackupRequest,
): Promise<ServerFacts> {
  request.setStep('detecting data directory');
  const pgdata = (await postgres.setting(client, 'data_directory'))!;
  request.setStep('detecting tablespaces');
  const tablespaces = await postgres.tablespaces(client);
  const files = await postgres.configFiles(client);
  const segmentSize = await postgres.walSegmentSize(client);
  await request.save({
    pgdata,
    version: client.serverVersion,
    tablespaces: tablespaces.length > 0 ? tablespaces : null,
    config_file: files.config_file,
    hba_file: files.hba_file,
    ident_file: files.ident_file,
    included_files: files.included_files.length > 0 ? files.included_files : null,
    xlog_segment_size: segmentSize,
    // cluster_size and data_checksums (Barman 3.11+ keys) are not written: Barman 3.4 cannot
    // load a backup.info that has them ('LocalBackupInfo' object has no attribute ...).
  });
  if (!request.config.backup_options.includes('external_configuration')) {
    for (const file of [files.config_file, files.hba_file, files.ident_file]) {
      if (file && !file.startsWith(`${pgdata}/`)) {
        request.report.warning(
          `pgdata_directory ${pgdata} does not contain ${file}: it will not be part of the backup ` +
            '(set backup_options = external_configuration to silence this)',
        );
      }
    }
  }
  const exclusive = request.config.backup_options.includes('exclusive_backup');
  return { pgdata, tablespaces, version: client.serverVersion, segmentSize, exclusive };
}

/** "Starting backup copy via <how> for <id>[ (N jobs)]", printed once the backup has started. */
export function announceCopy(request: BackupRequest, description: string, parallel = true): void {
  const jobs = parallel && request.options.jobs > 1 ? ` (${request.options.jobs} jobs)` : '';
  request.report.info(`Starting backup copy via ${description} for ${request.backupId}${jobs}`);
}

/**
 * A standby backup without primary_conninfo still works, but its last WAL file arrives only when
 * the primary switches WAL on its own (archive_timeout, traffic).
 */
export function warnStandbyWithoutPrimary(request: BackupRequest): void {
  request.report.warning(
    `conninfo of server ${request.config.name} points to a standby and primary_conninfo is not set: ` +
      'the backup waits until the primary switches WAL on its own (set primary_conninfo to switch it)',
  );
}

/**
 * Runs `copy` between pg_backup_start and pg_backup_stop, filling the begin/end fields. The
 * backup lives in this session: when the session is lost (PostgreSQL stopped, backend
 * terminated) the copy is abandoned at once. On a standby, WAL is switched on the primary
 * while the stop waits and after it (see standby.ts); no restore point is created there.
 * With backup_options = exclusive_backup, the exclusive protocol instead (see exclusive.ts).
 */
export async function concurrentBackup(
  request: BackupRequest,
  description: string,
  copy: (facts: ServerFacts, signal: AbortSignal) => Promise<Record<string, number>>,
  storeLabel: (stop: postgres.BackupStop) => Promise<void> = (stop) => writeLabelFiles(request, stop),
): Promise<ExecutorOutcome> {
  request.setStep('connecting to PostgreSQL');
  const client = await request.connection.client();
  const keepalive =
    request.config.keepalive_interval > 0
      ? setInterval(
          () => void client.query('SELECT 1').catch(() => {}),
          request.config.keepalive_interval * 1000,
        )
      : null;
  const primaryConninfo = request.config.primary_conninfo;
  const exclusive = request.config.backup_options.includes('exclusive_backup');
  // An exclusive backup outlives this session: whatever fails once it started must stop it.
  let exclusiveRunning = false;
  try {
    const standby = await postgres.isInRecovery(client);
    if (exclusive) refuseExclusive(client, standby, request.config.name);
    if (standby && !primaryConninfo) warnStandbyWithoutPrimary(request);
    const facts = await describeServer(client, request);
    request.setStep('issuing start backup command');
    const label = `Barman backup ${request.config.name} ${request.backupId}`;
    const fast = request.options.immediateCheckpoint;
    if (exclusive) await refuseRunningExclusive(client);
    // From here a failure may leave an exclusive backup running (abandonExclusive checks).
    exclusiveRunning = exclusive;
    const start = exclusive
      ? await postgres.startExclusiveBackup(client, label, fast)
      : await postgres.startBackup(client, label, fast);
    await request.save({
      status: 'STARTED',
      begin_xlog: start.lsn,
      begin_wal: start.fileName,
      begin_offset: start.offset,
      begin_time: backupTimestamp(start.time),
      timeline: start.timeline,
    });
    request.report.info(
      `Backup start at LSN: ${start.lsn} (${start.fileName}, ${start.offset.toString(16).toUpperCase().padStart(8, '0')})`,
    );
    announceCopy(request, description);
    request.setStep('copying files');
    const copyStarted = Date.now();
    let timings: Record<string, number>;
    if (exclusive) {
      const interrupt = new AbortController();
      const stopListening = abortOnSignals(interrupt);
      try {
        timings = await copyWhileConnected(client, (signal) => copy(facts, signal), interrupt.signal);
      } finally {
        stopListening();
      }
    } else {
      timings = await copyWhileConnected(client, (signal) => copy(facts, signal));
    }
    const copySeconds = (Date.now() - copyStarted) / 1000;
    request.report.info(`Copy done (time: ${humanSeconds(copySeconds)})`);

    request.setStep('issuing stop backup command');
    request.report.info('Asking PostgreSQL server to finalize the backup.');
    const switcher = standby && primaryConninfo ? startPrimaryWalSwitcher(request, primaryConninfo) : null;
    let stop: postgres.BackupStop;
    try {
      if (exclusive) {
        // The label was copied with PGDATA; it must be there before the backup can end well.
        const stopped = await postgres.stopExclusiveBackup(client);
        exclusiveRunning = false;
        stop = { ...stopped, backupLabel: await copiedLabel(request, label), tablespaceMap: null };
      } else {
        // On a primary barman-ts switches WAL itself right after the stop; a standby's stop waits
        // while the primary is made to switch (its WAL arrives only then).
        stop = await postgres.stopBackup(client, standby);
      }
    } finally {
      await switcher?.stop();
    }
    request.setStep('writing backup label');
    if (!exclusive) await storeLabel(stop);
    await request.save({
      backup_label: stop.backupLabel,
      end_xlog: stop.lsn,
      end_wal: stop.fileName,
      end_offset: stop.offset,
      end_time: backupTimestamp(stop.time),
      copy_stats: copyStats({
        copy_time: copySeconds,
        total_time: copySeconds,
        number_of_workers: request.options.jobs,
        ...timings,
      }),
    });
    await finishOnServer(request, client, standby);
    return { fromStandby: standby };
  } catch (error) {
    if (exclusiveRunning) await abandonExclusive(request);
    throw error;
  } finally {
    // The session is the run's (request.connection), which ends it when the backup failed.
    if (keepalive) clearInterval(keepalive);
  }
}

/** The default place of backup_label (and tablespace_map): the copy's data/ directory. */
async function writeLabelFiles(request: BackupRequest, stop: postgres.BackupStop): Promise<void> {
  await writeFile(join(request.backupDirectory, 'data', 'backup_label'), stop.backupLabel, { mode: 0o600 });
  if (stop.tablespaceMap) {
    await writeFile(join(request.backupDirectory, 'data', 'tablespace_map'), stop.tablespaceMap, {
      mode: 0o600,
    });
  }
}

/**
 * After the stop: on a primary, the restore point barman_<id> and a WAL switch (so the backup's
 * last WAL file is archived promptly); on a standby, which can do neither, the switch happens on
 * the primary.
 */
export async function finishOnServer(
  request: BackupRequest,
  client: postgres.PostgresClient,
  standby: boolean,
): Promise<void> {
  request.setStep('switching WAL');
  if (standby) {
    if (request.config.primary_conninfo) await switchWalOnPrimary(request, request.config.primary_conninfo);
    return;
  }
  await postgres.createRestorePoint(client, `barman_${request.backupId}`).catch((error: unknown) => {
    request.log.warning(`cannot create restore point barman_${request.backupId}: ${describeError(error)}`);
  });
  await postgres.switchWal(client).catch((error: unknown) => {
    request.report.warning(`cannot switch WAL after the backup: ${describeError(error)}`);
  });
}

/**
 * Runs the copy, abandoning it (abort signal, then an error) when the backup's session is lost
 * or `interrupt` aborts (then with its reason).
 */
async function copyWhileConnected<T>(
  client: postgres.PostgresClient,
  copy: (signal: AbortSignal) => Promise<T>,
  interrupt?: AbortSignal,
): Promise<T> {
  const abort = new AbortController();
  const copying = copy(abort.signal);
  const lost = client.whenLost().then((error) => {
    abort.abort(error);
    return error;
  });
  const interrupted = new Promise<{ interrupted: unknown }>((resolve) => {
    const stop = () => {
      abort.abort(interrupt!.reason);
      resolve({ interrupted: interrupt!.reason });
    };
    if (interrupt?.aborted) stop();
    else interrupt?.addEventListener('abort', stop, { once: true });
  });
  const outcome = await Promise.race([
    copying.then((value) => ({ value })),
    lost.then((error) => ({ error })),
    interrupted,
  ]);
  if ('value' in outcome) return outcome.value;
  // Let the copy notice the abort and settle before reporting (no writes after we return).
  await copying.catch(() => undefined);
  if ('interrupted' in outcome) throw outcome.interrupted;
  throw new BarmanError(
    'backup-session-lost',
    `the PostgreSQL session holding the backup was lost during the copy (${outcome.error.message}): ` +
      'PostgreSQL ended the backup with it',
    { hint: 'Check that PostgreSQL is running, then take the backup again.' },
  );
}

function copyStats(values: Record<string, number>) {
  // Python ints stay ints (bigint), times are floats.
  return new Map<string, number | bigint>(
    Object.entries(values).map(([key, value]) => [key, key === 'number_of_workers' ? BigInt(value) : value]),
  );
}

function humanSeconds(seconds: number): string {
  const whole = Math.floor(seconds);
  return whole < 1 ? 'less than one second' : `${whole} second${whole === 1 ? '' : 's'}`;
}
