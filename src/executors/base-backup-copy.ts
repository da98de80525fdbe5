/**
 * What every backup taken with the native BASE_BACKUP client shares, whatever its destination
 * (a plain data directory, tar archives in a bucket): the copy retried as basebackup_retry_times
 * says (a failed copy removed, backup.info kept), then the end of the copy recorded in
 * backup.info and the backup finished on the server.
 */
import { BarmanError, describeError } from '../errors/index.js';
import type * as postgres from '../postgres/index.js';
import { lsnSegmentOffset, lsnToSegmentName, parseLsn } from '../wal/names.js';
import { backupTimestamp, finishOnServer } from './concurrent.js';
import type { BackupLabel } from './tar-label.js';
import type { BackupRequest } from './types.js';
import { CopyProgress } from './progress.js';
import { walPosition } from '../postgres/index.js';

export interface BaseBackupCopy {
  label: BackupLabel;
  end: postgres.BaseBackupEnd;
}

/**
 * Runs `copyOnce` until it succeeds or the retries are spent; `target` names where the copy goes
 * in the final error. Then records the end in backup.info and finishes the backup on the server.
 */
export async function copyAndFinish<C extends BaseBackupCopy>(
  request: BackupRequest,
  client: postgres.PostgresClient,
  session: { standby: boolean; segmentSize: number },
  target: string,
  copyOnce: () => Promise<C>,
): Promise<C> {
  const copyStarted = Date.now();
  const copy = await copyWithRetries(request, target, copyOnce);
  const copySeconds = (Date.now() - copyStarted) / 1000;
  request.report.info(
    `Copy done (time: ${Math.floor(copySeconds) < 1 ? 'less than one second' : `${Math.floor(copySeconds)} seconds`})`,
  );
  request.report.info('Finalising the backup.');
  const endLsn = parseLsn(copy.end.lsn);
  const end = await walPosition(client);
  await request.save({
    backup_label: copy.label.text,
    begin_xlog: copy.label.lsn,
    begin_wal: copy.label.file,
    begin_offset: lsnSegmentOffset(parseLsn(copy.label.lsn), session.segmentSize),
    timeline: copy.label.timeline,
    end_xlog: copy.end.lsn,
    end_wal: lsnToSegmentName(endLsn, copy.end.timeline, session.segmentSize),
    end_offset: lsnSegmentOffset(endLsn, session.segmentSize),
    end_time: backupTimestamp(end.time),
    copy_stats: new Map<string, number>([
      ['copy_time', copySeconds],
      ['total_time', copySeconds],
    ]),
  });
  await finishOnServer(request, client, session.standby);
  return copy;
}

async function copyWithRetries<C>(
  request: BackupRequest,
  target: string,
  copyOnce: () => Promise<C>,
): Promise<C> {
  for (let attempt = 0; ; attempt += 1) {
    request.setStep('copying files');
    try {
      return await copyOnce();
    } catch (error) {
      if (attempt >= request.options.retryTimes) {
        throw new BarmanError(
          'copy-failed',
          `data transfer failure ${target}\nBASE_BACKUP error:\n${describeError(error)}`,
        );
      }
      request.report.warning(
        `BASE_BACKUP failed (${describeError(error)}); retrying in ${request.options.retrySleepSeconds} seconds (attempt ${attempt + 2} of ${request.options.retryTimes + 1})`,
      );
      await removeCopy(request);
      await new Promise((resolve) => setTimeout(resolve, request.options.retrySleepSeconds * 1000));
    }
  }
}

/** Everything of the backup but its backup.info. */
async function removeCopy(request: BackupRequest): Promise<void> {
  const { storage, backupId: id } = request;
  for (const entry of await storage.list(id)) {
    if (entry.name === 'backup.info') continue;
    const path = `${id}/${entry.name}`;
    await (entry.kind === 'directory' ? storage.removeTree(path) : storage.remove(path));
  }
}

/**
 * The progress of one BASE_BACKUP: the consumer's `started` and `progress` handlers (a bar against
 * the server's estimate, the start LSN reported), and `finish` once the stream has ended.
 */
export function baseBackupProgress(request: BackupRequest): {
  started: (start: postgres.BaseBackupStart) => void;
  progress: (sentBytes: number) => void;
  finish: () => void;
} {
  let progress: CopyProgress | null = null;
  let total = 0;
  return {
    started: (start) => {
      total = start.estimatedBytes;
      const count = start.tablespaces.length;
      progress = new CopyProgress(
        request.report,
        count > 0 ? `PGDATA and ${count} tablespace${count === 1 ? '' : 's'}` : 'PGDATA',
        { bytes: 0 },
      );
      request.report.info(`Backup start at LSN: ${start.lsn}`);
      // Known here before backup.info has it: the pages stream in now.
      request.pageCheck?.started(start.lsn);
    },
    progress: (sent) => progress?.update({ bytes: sent }, { bytes: Math.max(total, sent) }),
    finish: () => progress?.finish(),
  };
}

/**
 * The BASE_BACKUP options every native backup of this request shares: its label, the checkpoint
 * mode, bandwidth_limit as MAX_RATE and the server's manifest.
 */
export function baseBackupOptions(request: BackupRequest): postgres.BaseBackupOptions {
  return {
    label: `Barman backup ${request.config.name} ${request.backupId}`,
    fastCheckpoint: request.options.immediateCheckpoint,
    maxRateKbps: request.options.bandwidthLimit,
    manifest: true,
  };
}

/** `base` for the data directory's archive, the tablespace OID for a tablespace's. */
export function archiveBase(name: string): string {
  const base = /^(base|\d+)\.tar$/.exec(name)?.[1];
  if (!base) throw new Error(`unexpected archive '${name}' in the backup stream`);
  return base;
}
