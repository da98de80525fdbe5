/**
 * `receive-wal --reset`: aligning streaming/ with the position the server still keeps (see
 * resetPlan), and the newest-file lookup pg_receivewal resumes from.
 */
import { readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError } from '../../errors/index.js';
import {
  compareWalNames,
  lsnToSegmentName,
  nextSegmentName,
  parseLsn,
  parseWalName,
  partialFileName,
  previousSegmentName,
} from '../../wal/names.js';
import { parseSpooledName } from '../../wal/sealed-wal.js';
import type { ReceiverEnvironment, StreamingStatus } from './receiver.js';

export interface ResetOutcome {
  mode: 'reset';
  action: 'aligned' | 'reset';
  /** The newest WAL file found in streaming/. */
  newest: string | null;
  /** The empty `<restart WAL>.partial` created. */
  created: string | null;
  /** An empty `.partial` removed. */
  removed: string | null;
  /** A `.partial` with data kept in place: archive-wal archives it as a .partial file. */
  kept: string | null;
}

export /** The newest file of the given kinds in streaming/ (pg_receivewal resumes from it), or null. */
async function newestWal(
  directory: string,
  kinds: ReadonlyArray<'segment' | 'partial'>,
): Promise<string | null> {
  const names = (await readdir(directory)).filter((name) => {
    const kind = parseWalName(name)?.kind;
    return kind !== undefined && (kinds as readonly string[]).includes(kind);
  });
  return names.sort(compareWalNames).at(-1) ?? null;
}

/**
 * The newest segment sealed into streaming/ by the sealing receiver (`<name><ext>.gpg`), or null:
 * its receive-wal resumes after it.
 */
export async function newestSealedSegment(directory: string): Promise<string | null> {
  const names = (await readdir(directory))
    .map((name) => parseSpooledName(name))
    .filter((spooled) => spooled?.sealed === true && parseWalName(spooled.name)?.kind === 'segment')
    .map((spooled) => spooled!.name);
  return names.sort(compareWalNames).at(-1) ?? null;
}

export type ResetPlan =
  | { action: 'aligned'; newest: string | null }
  | { action: 'ahead'; newest: string }
  | { action: 'reset'; newest: string | null; restartWal: string };

/**
 * What `--reset` does, from the newest WAL file of streaming/ (segment or .partial, or null), the
 * segment the slot restarts from (the server's current one without a slot) and the server's
 * current segment:
 * - nothing when streaming/ is empty or at or after the restart point: pg_receivewal resumes from
 *   its newest file, which the server still keeps;
 * - refuse when streaming/ is ahead of the server (another cluster, or the server was restored);
 * - otherwise streaming/ is behind what the server keeps, and pg_receivewal would fail asking for
 *   removed WAL: an empty `<restart WAL>.partial` makes it start at the restart point.
 */
export function resetPlan(newest: string | null, restartWal: string, currentWal: string): ResetPlan {
  if (newest === null) return { action: 'aligned', newest };
  const segment = newest.slice(0, 24);
  if (compareWalNames(segment, currentWal) > 0) return { action: 'ahead', newest };
  if (compareWalNames(segment, restartWal) >= 0) return { action: 'aligned', newest };
  return { action: 'reset', newest, restartWal };
}

export async function resetStreamingStatus(
  env: ReceiverEnvironment,
  status: StreamingStatus,
): Promise<ResetOutcome> {
  const { config, report } = env;
  const directory = config.streaming_wals_directory;
  const currentWal = lsnToSegmentName(parseLsn(status.xlogpos), status.timeline, status.segmentSize);
  const restartLsn = status.slot?.restart_lsn ?? null;
  const restartWal = restartLsn
    ? lsnToSegmentName(parseLsn(restartLsn), status.timeline, status.segmentSize)
    : currentWal;
  const newest = await newestWal(directory, ['segment', 'partial']);
  const plan = resetPlan(newest, restartWal, currentWal);
  const outcome: ResetOutcome = {
    mode: 'reset',
    action: 'aligned',
    newest,
    created: null,
    removed: null,
    kept: null,
  };
  if (plan.action === 'aligned') {
    report.info('Nothing to do. Position of receive-wal is aligned.');
    return outcome;
  }
  if (plan.action === 'ahead') {
    throw new BarmanError(
      'receive-wal-ahead',
      `The receive-wal position is ahead of PostgreSQL current WAL lsn (${plan.newest} > ${currentWal})`,
      {
        hint: `streaming/ does not match this server (another cluster, or a restored one): move its files away, then run receive-wal --reset ${config.name} again.`,
      },
    );
  }
  report.info('Resetting receive-wal directory status');
  outcome.action = 'reset';
  if (newest && parseWalName(newest)?.kind === 'partial') {
    const path = join(directory, newest);
    if ((await stat(path)).size === 0) {
      report.info(`Removing status file ${path}`);
      await unlink(path);
      outcome.removed = path;
    } else {
      // Unlike Barman, which deletes it: its WAL is not anywhere else. With a newer .partial next
      // to it, archive-wal archives it as a .partial file.
      report.info(`Keeping ${path}: archive-wal will archive it as a partial WAL file`);
      outcome.kept = path;
    }
  }
  const created = join(directory, partialFileName(restartWal));
  report.info(`Creating status file ${created}`);
  await writeFile(created, '', { flag: 'wx' });
  outcome.created = created;
  if (newest) {
    const firstMissing =
      parseWalName(newest)?.kind === 'partial'
        ? newest.slice(0, 24)
        : nextSegmentName(newest, status.segmentSize);
    if (compareWalNames(firstMissing, restartWal) < 0) {
      report.warning(
        `WAL from ${firstMissing} to ${previousSegmentName(restartWal, status.segmentSize)} is skipped: ` +
          `streaming resumes at ${restartWal}. Unless archive_command delivered those files, point-in-time ` +
          'recovery across them is impossible: take a new backup',
      );
    }
  }
  return outcome;
}
