/**
 * receive-wal for a server with `encryption = gpg`: WAL streamed by barman-ts itself
 * (src/postgres/wal-stream.ts) instead of pg_receivewal, which can only write plaintext. The
 * segment being received is held in memory only; once complete it is sealed as put-wal seals
 * (sealed-wal.ts: compressed as `compression` says, encrypted to encryption_key_id), written
 * durably into streaming/ as `<name><ext>.gpg`, and only then reported flushed to the server, so
 * the replication slot (required) keeps every byte not yet sealed. A stop (SIGINT, SIGTERM,
 * `--stop`), a kill or a lost connection loses only the unfinished segment in memory, which the
 * slot still holds: the next receive-wal streams it again. archive-wal takes the sealed files
 * as it takes put-wal's. See "WAL streaming with encryption" in docs/architecture.md.
 */
import { join } from 'node:path';
import { BarmanError, describeError } from '../../errors/index.js';
import type { WalStream, WalStreamEnd } from '../../postgres/index.js';
import { startWalStream } from '../../postgres/index.js';
import { removeTempFiles, writeFileDurably } from '../../storage/durable-files.js';
import { catalogLayout } from '../../catalog/layout.js';
import { readWalIndex } from '../../wal/wal-index.js';
import {
  compareWalNames,
  formatLsn,
  lsnToSegmentName,
  parseLsn,
  parseWalName,
  segmentStartLsn,
} from '../../wal/names.js';
import type { SealSettings } from '../../wal/sealed-wal.js';
import { putWalSealing, sealedName, sealWalContent } from '../../wal/sealed-wal.js';
import { verifyWalHead, WAL_HEADER_LENGTH } from '../../wal/wal-header.js';
import type { ReceiveOutcome, ReceiverEnvironment, StreamingStatus } from './receiver.js';
import { newestSealedSegment } from './reset.js';

/** How often the position is reported when nothing was sealed in between (pg_receivewal's default). */
export const STATUS_INTERVAL_MS = 10_000;

/** Complete segments waiting to be sealed before reading from the server pauses. */
const MAX_WAITING_SEGMENTS = 2;

/**
 * The newest segment of `timeline` before the server's position that the archive holds (xlog.db,
 * or a bucket's listing), or null. A segment sealed and archived before its receive-wal could
 * report it flushed (a kill, or a server restart bringing back an older slot position) is not
 * streamed again: it would reach archive-wal as a sealed duplicate, which only decrypting tells.
 */
async function newestArchivedSegment(
  env: ReceiverEnvironment,
  timeline: number,
  serverPosition: bigint,
  segmentSize: number,
): Promise<string | null> {
  const { entries } = await readWalIndex(env.config, await catalogLayout(env.config));
  let newest: string | null = null;
  for (const entry of entries) {
    const wal = parseWalName(entry.name);
    if (wal?.kind !== 'segment' || wal.timeline !== timeline) continue;
    if (segmentStartLsn(wal.name, segmentSize) >= serverPosition) continue;
    if (newest === null || compareWalNames(wal.name, newest) > 0) newest = wal.name;
  }
  return newest;
}

/**
 * The first segment to stream, always a segment's start: the later of the one after the newest
 * segment sealed in streaming/ or archived (newestArchivedSegment) and the slot's restart point (reported flushed only once sealed,
 * it is past every segment archive-wal already took from streaming/); with neither, the server's
 * current position, as pg_receivewal starts.
 */
export function sealedStartLsn(
  newestSealed: string | null,
  restartLsn: string | null,
  xlogpos: string,
  segmentSize: number,
): bigint {
  const size = BigInt(segmentSize);
  const afterSealed = newestSealed ? segmentStartLsn(newestSealed, segmentSize) + size : null;
  const restart = restartLsn ? parseLsn(restartLsn) - (parseLsn(restartLsn) % size) : null;
  if (afterSealed !== null && restart !== null) return afterSealed > restart ? afterSealed : restart;
  if (afterSealed !== null) return afterSealed;
  if (restart !== null) return restart;
  const position = parseLsn(xlogpos);
  return position - (position % size);
}

export async function runSealingReceiver(
  env: ReceiverEnvironment,
  status: StreamingStatus,
  sealing: SealSettings,
): Promise<ReceiveOutcome> {
  const { config, report, log } = env;
  const directory = config.streaming_wals_directory;
  const size = status.segmentSize;
  // A segment whose write a kill interrupted left only its temp file: the slot still has it.
  await removeTempFiles(directory);
  const timeline = status.timeline;
  const sealed = await newestSealedSegment(directory);
  const archived = await newestArchivedSegment(env, timeline, parseLsn(status.xlogpos), size);
  const newest =
    sealed && archived ? (compareWalNames(sealed, archived) > 0 ? sealed : archived) : (sealed ?? archived);
  let segmentStart = sealedStartLsn(newest, status.slot?.restart_lsn ?? null, status.xlogpos, size);
  log.info('Streaming WAL, sealed as it is received (encryption = gpg)', {
    start: formatLsn(segmentStart),
    timeline,
    slot: config.slot_name,
  });

  let buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  let waiting = 0;
  let sealedCount = 0;
  // Set from callbacks: a holder, so that the checks after the awaits see their values.
  const state: { failure: Error | null; stoppedBy: NodeJS.Signals | null } = {
    failure: null,
    stoppedBy: null,
  };
  let work: Promise<void> = Promise.resolve();
  let stream: WalStream | null = null;

  const seal = async (segment: Buffer, start: bigint): Promise<void> => {
    const name = lsnToSegmentName(start, timeline, size);
    const verdict = verifyWalHead(
      name,
      parseWalName(name)!,
      segment.subarray(0, WAL_HEADER_LENGTH),
      segment.length,
      status.systemid,
    );
    if (!verdict.ok)
      throw new BarmanError('receive-wal-not-wal', `${name} received from the server ${verdict.reason}`);
    const file = sealedName(name, sealing.compression);
    await writeFileDurably(join(directory, file), await sealWalContent(segment, sealing), { mode: 0o600 });
    sealedCount += 1;
    log.info(`${config.name}: sealed ${file}`);
  };

  const completed = (segment: Buffer, start: bigint): void => {
    waiting += 1;
    if (waiting >= MAX_WAITING_SEGMENTS) stream?.pause();
    work = work.then(async () => {
      if (state.failure) return;
      try {
        await seal(segment, start);
        // Durable now: the slot may let the server recycle it.
        stream?.flushed(start + BigInt(size));
      } catch (error) {
        state.failure ??= error instanceof Error ? error : new Error(String(error));
        stream?.stop();
      } finally {
        waiting -= 1;
        if (waiting < MAX_WAITING_SEGMENTS) stream?.resume();
      }
    });
  };

  const onData = (_lsn: bigint, bytes: Buffer): void => {
    let offset = 0;
    while (offset < bytes.length) {
      const count = Math.min(size - filled, bytes.length - offset);
      bytes.copy(buffer, filled, offset, offset + count);
      filled += count;
      offset += count;
      if (filled === size) {
        completed(buffer, segmentStart);
        buffer = Buffer.allocUnsafe(size);
        filled = 0;
        segmentStart += BigInt(size);
      }
    }
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    state.stoppedBy ??= signal;
    stream?.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let end: WalStreamEnd;
  try {
    stream = await startWalStream(
      config.streaming_conninfo,
      config.streaming_archiver_name,
      { slot: config.slot_name!, startLsn: segmentStart, timeline, statusIntervalMs: STATUS_INTERVAL_MS },
      onData,
    );
    if (state.stoppedBy) stream.stop();
    try {
      end = await stream.done;
    } finally {
      // A segment completed before the stop is sealed and reported all the same.
      await work;
    }
  } catch (error) {
    throw state.failure ?? streamingFailure(env, error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (state.failure) throw state.failure;
  const outcome: ReceiveOutcome = {
    mode: 'receive',
    slot_created: status.slotCreated ? config.slot_name : null,
    truncated_partial: null,
    exit_code: 0,
    stopped_by: state.stoppedBy,
    sealed_segments: sealedCount,
  };
  if (filled > 0) {
    log.info(
      `${config.name}: ${filled} bytes of ${lsnToSegmentName(segmentStart, timeline, size)} dropped from memory: the slot keeps them for the next receive-wal`,
    );
  }
  if (state.stoppedBy) {
    report.info(`${state.stoppedBy} received. Terminate gracefully.`);
  } else if (end.reason === 'end-of-timeline') {
    report.info(
      `Timeline ${timeline} ended` +
        (end.nextTimeline
          ? `; the server continues on timeline ${end.nextTimeline} from ${end.nextStart}`
          : '') +
        ': receive-wal stops, cron starts it again on the current timeline',
    );
  }
  return outcome;
}

function streamingFailure(env: ReceiverEnvironment, error: unknown): BarmanError {
  return new BarmanError(
    'receive-wal-failed',
    `WAL streaming failed for server ${env.config.name}: ${describeError(error)}`,
    {
      cause: error,
      hint:
        'Check streaming_conninfo and the slot (barman replication-status); cron starts receive-wal again within a minute, ' +
        'from the newest sealed segment in streaming/.',
    },
  );
}

/**
 * How the sealing receiver seals (put-wal's settings), or null when the server streams with
 * pg_receivewal (no `encryption = gpg`). Refuses what it cannot do safely: without a slot the
 * server could recycle WAL held only in memory; `--reset` aligns pg_receivewal's `.partial`
 * status files, which the sealing receiver has none of.
 */
export function sealingOf(env: ReceiverEnvironment, reset: boolean): SealSettings | null {
  const { config } = env;
  if (config.encryption !== 'gpg') return null;
  const where = `in section [${config.name}] of ${env.configFile ?? 'the configuration file'}`;
  if (reset) {
    throw new BarmanError(
      'receive-wal-reset-sealed',
      `receive-wal --reset does not apply to server ${config.name} (encryption = gpg ${where}): its receive-wal keeps no status file`,
      {
        hint: 'It resumes after the newest sealed segment in streaming/, else at the replication slot’s restart point: nothing to reset.',
      },
    );
  }
  if (!config.slot_name) {
    throw new BarmanError(
      'receive-wal-slot-required',
      `receive-wal for server ${config.name} needs a replication slot: slot_name is not set ${where}, and encryption = gpg is`,
      {
        hint:
          'With encryption = gpg the segment being received is kept in memory only, so the server must keep its WAL until it is sealed: ' +
          'set slot_name (and create_slot = auto, or run barman receive-wal --create-slot).',
      },
    );
  }
  const sealing = putWalSealing(config);
  if (!sealing) {
    throw new BarmanError(
      'receive-wal-no-key',
      `encryption = gpg but encryption_key_id is not set ${where}`,
      { hint: 'Set encryption_key_id to the key WAL files are encrypted to.' },
    );
  }
  return sealing;
}

/**
 * Encrypts a few bytes to the key: a key gpg cannot encrypt to fails before a slot is created or
 * anything streamed, not when the first segment completes.
 */
export async function checkSealingKey(sealing: SealSettings): Promise<void> {
  await sealWalContent(Buffer.from('receive-wal key check'), { ...sealing, compression: null });
}

/** Commits waiting for a whole segment's worth of WAL: refused (docs/encryption.md, Limits). */
export function synchronousRefused(env: ReceiverEnvironment): BarmanError {
  const { config } = env;
  return new BarmanError(
    'receive-wal-synchronous-sealed',
    `receive-wal for server ${config.name} cannot be a synchronous standby with encryption = gpg: ` +
      `'${config.streaming_archiver_name}' is in the server's synchronous_standby_names`,
    {
      hint:
        'The sealing receiver reports WAL flushed only once its whole segment is sealed, so commits would wait for it: ' +
        'remove the name from synchronous_standby_names, or set streaming_archiver_name to another one.',
    },
  );
}
