/**
 * Which archived WAL files a recovery needs, as pure code over xlog.db entries and the
 * timeline history files: the target timeline is resolved (current/latest/number) through the
 * history of timelines, then the segments are walked in replay order, from the backup's first
 * segment along each ancestor timeline up to its switch point, and on the target timeline up
 * to what the target needs. Gaps are found here, before anything is copied.
 *
 * Unlike Barman, only the segments of the timelines on the path to the target are copied
 * (Barman copies every timeline up to the target's number); every history file is copied.
 */
import type { TimelineSwitch } from '../wal/history.js';
import { timelineAncestry } from '../wal/history.js';
import {
  formatLsn,
  historyFileName,
  parseWalName,
  segmentNameFromNumber,
  segmentNumber,
  segmentsPerLog,
} from '../wal/names.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import { BarmanError } from '../errors/index.js';
import type { RecoveryTarget, TimelineRequest } from './targets.js';

export interface BackupWalFacts {
  id: string;
  timeline: number;
  beginWal: string;
  endWal: string;
  /** end_xlog; null for catalogues without it. */
  endLsn: bigint | null;
  segmentSize: number;
}

export interface TimelineStep {
  timeline: number;
  /** First segment number read on this timeline. */
  fromSegno: bigint;
  /** Last segment number read on this timeline (inclusive); null = open-ended. */
  toSegno: bigint | null;
  /** Switchpoint to the child timeline (null for the target timeline). */
  endLsn: bigint | null;
}

export interface WalSelection {
  /** The timeline recovery ends on. */
  targetTimeline: number;
  /** Timelines replayed, oldest first, with the segment range read on each. */
  path: TimelineStep[];
  /** Segments in replay order, then the history files of the path's timelines. */
  files: XlogDbEntry[];
  /** Newest segment copied (null when none). */
  lastSegment: string | null;
  /** A hole after the backup's end: replay stops before `missing`. */
  gap: { after: string; missing: string } | null;
  /** A time target later than every archived segment: the archive may end before the target. */
  targetTimeBeyondArchive: boolean;
}

/** The highest timeline whose history descends from the backup's timeline after the backup ended. */
export function resolveTargetTimeline(
  request: TimelineRequest | null,
  backup: BackupWalFacts,
  histories: ReadonlyMap<number, TimelineSwitch[]>,
): number {
  if (request === null || request.kind === 'latest') {
    let best = backup.timeline;
    for (const timeline of histories.keys()) {
      if (timeline > best && descendsFromBackup(timeline, backup, histories) === null) best = timeline;
    }
    return best;
  }
  if (request.kind === 'current') return backup.timeline;
  const problem = descendsFromBackup(request.timeline, backup, histories);
  if (problem !== null) {
    throw new BarmanError('target-timeline-invalid', problem, {
      hint: "Use --target-tli current, latest, or a timeline listed by the archive's .history files.",
    });
  }
  return request.timeline;
}

/** Null when `timeline` can be reached from the backup; otherwise the reason why not. */
function descendsFromBackup(
  timeline: number,
  backup: BackupWalFacts,
  histories: ReadonlyMap<number, TimelineSwitch[]>,
): string | null {
  if (timeline === backup.timeline) return null;
  if (timeline < backup.timeline) {
    return `target timeline ${timeline} is older than the backup's timeline ${backup.timeline} (backup ${backup.id})`;
  }
  const history = histories.get(timeline);
  if (!history) {
    return `target timeline ${timeline} does not exist in the archive (no ${historyFileName(timeline)} file)`;
  }
  let chain;
  try {
    chain = timelineAncestry(history, timeline);
  } catch (error) {
    return `the history of timeline ${timeline} is inconsistent: ${(error as Error).message}`;
  }
  const step = chain.find((entry) => entry.timeline === backup.timeline);
  if (!step) {
    return `target timeline ${timeline} does not descend from timeline ${backup.timeline} of backup ${backup.id}`;
  }
  if (step.endLsn !== null && backup.endLsn !== null && step.endLsn < backup.endLsn) {
    return (
      `target timeline ${timeline} branched off timeline ${backup.timeline} at ${formatLsn(step.endLsn)}, ` +
      `before backup ${backup.id} ended (${formatLsn(backup.endLsn)})`
    );
  }
  return null;
}

/** The timelines replayed to reach `targetTimeline`, each with its segment range. */
export function timelinePath(
  targetTimeline: number,
  backup: BackupWalFacts,
  histories: ReadonlyMap<number, TimelineSwitch[]>,
): TimelineStep[] {
  const chain =
    targetTimeline === backup.timeline
      ? [{ timeline: backup.timeline, endLsn: null }]
      : timelineAncestry(histories.get(targetTimeline) ?? [], targetTimeline);
  const start = chain.findIndex((entry) => entry.timeline === backup.timeline);
  const steps: TimelineStep[] = [];
  let fromSegno = segmentNumber(backup.beginWal, backup.segmentSize);
  for (const entry of chain.slice(Math.max(0, start))) {
    const toSegno = entry.endLsn === null ? null : entry.endLsn / BigInt(backup.segmentSize);
    steps.push({ timeline: entry.timeline, fromSegno, toSegno, endLsn: entry.endLsn });
    if (toSegno !== null) fromSegno = toSegno;
  }
  return steps;
}

/**
 * The WAL files to restore. Throws when a segment between the backup's begin and end WAL is
 * missing (the backup cannot become consistent) or when a gap lies before an LSN target.
 */
export function selectRecoveryWals(options: {
  entries: readonly XlogDbEntry[];
  /** False when the entries' times are not when the segments were closed (see PlanInput). */
  walTimesAreCloseTimes?: boolean;
  backup: BackupWalFacts;
  histories: ReadonlyMap<number, TimelineSwitch[]>;
  timeline: TimelineRequest | null;
  target: RecoveryTarget;
}): WalSelection {
  const { backup, histories, target } = options;
  const size = backup.segmentSize;
  const targetTimeline = resolveTargetTimeline(options.timeline, backup, histories);
  const path = timelinePath(targetTimeline, backup, histories);
  const onPath = new Set(path.map((step) => step.timeline));

  const perLog = segmentsPerLog(size);
  const byName = new Map<string, XlogDbEntry>();
  const lastSegnoByTimeline = new Map<number, bigint>();
  for (const entry of options.entries) {
    const wal = parseWalName(entry.name);
    if (!wal || wal.kind !== 'segment' || !onPath.has(wal.timeline)) continue;
    // A segment id this segment size cannot have (a damaged xlog.db line) is no file of the cluster.
    if (wal.segment >= perLog) continue;
    byName.set(wal.name, entry);
    const segno = segmentNumber(wal.name, size);
    if (segno > (lastSegnoByTimeline.get(wal.timeline) ?? -1n)) lastSegnoByTimeline.set(wal.timeline, segno);
  }

  const endSegno = segmentNumber(backup.endWal, size);
  const upperSegno =
    target.kind === 'lsn' ? target.lsn / BigInt(size) : target.kind === 'immediate' ? endSegno : null;
  const files: XlogDbEntry[] = [];
  let lastSegment: string | null = null;
  let gap: WalSelection['gap'] = null;
  let stop = false;
  for (const [index, step] of path.entries()) {
    const archivedUpTo = lastSegnoByTimeline.get(step.timeline) ?? step.fromSegno - 1n;
    // The backup's own timeline is walked at least to its end WAL, archived or not: those are required.
    let last = step.toSegno ?? archivedUpTo;
    if (index === 0 && last < endSegno) last = endSegno;
    for (let segno = step.fromSegno; segno <= last && !stop; segno += 1n) {
      if (upperSegno !== null && segno > upperSegno) {
        stop = true;
        break;
      }
      const name = segmentNameFromNumber(step.timeline, segno, size);
      const entry = byName.get(name);
      if (!entry) {
        // The segment holding a switch point may exist only on the child timeline.
        if (step.toSegno !== null && segno === step.toSegno) continue;
        if (segno <= endSegno) {
          throw new BarmanError(
            'wal-missing',
            `WAL file ${name} is missing from the archive: backup ${backup.id} needs ${backup.beginWal} to ${backup.endWal} to be consistent`,
            {
              hint: "Run 'barman archive-wal' if it is still in incoming/, or check the archiver ('barman check').",
            },
          );
        }
        if (upperSegno !== null) {
          throw new BarmanError(
            'wal-missing',
            `WAL file ${name} is missing from the archive: the recovery target needs every segment up to ${segmentNameFromNumber(step.timeline, upperSegno, size)}`,
          );
        }
        gap = { after: lastSegment ?? backup.beginWal, missing: name };
        stop = true;
        break;
      }
      files.push(entry);
      lastSegment = name;
      // A time target: past the backup's end, the first segment closed after the target holds it.
      if (
        target.kind === 'time' &&
        options.walTimesAreCloseTimes !== false &&
        segno > endSegno &&
        entry.mtime * 1000 > target.epochMs
      )
        stop = true;
    }
    if (stop) break;
  }
  const lastStep = path.at(-1)!;
  if (
    upperSegno !== null &&
    gap === null &&
    lastSegment !== null &&
    segmentNumber(lastSegment, size) < upperSegno
  ) {
    const next = segmentNameFromNumber(lastStep.timeline, segmentNumber(lastSegment, size) + 1n, size);
    throw new BarmanError(
      'wal-missing',
      `WAL file ${next} is missing from the archive: the recovery target needs every segment up to ${segmentNameFromNumber(lastStep.timeline, upperSegno, size)}`,
      {
        hint: "Archive the server's current WAL first ('barman switch-wal --force --archive'), or choose an earlier target.",
      },
    );
  }
  // Every history file, as Barman: at promotion PostgreSQL picks a timeline number no history
  // file uses, so the recovered server must see them all (not only those on its path).
  for (const entry of options.entries) {
    if (parseWalName(entry.name)?.kind === 'history') files.push(entry);
  }
  // An LSN target: the record that ends recovery may start in the next segment.
  if (
    target.kind === 'lsn' &&
    upperSegno !== null &&
    lastSegment !== null &&
    segmentNumber(lastSegment, size) === upperSegno
  ) {
    // On the timeline PostgreSQL reads that segment from: the newest path step that has begun by then.
    const next = upperSegno + 1n;
    const reader = [...path].reverse().find((step) => step.fromSegno <= next) ?? lastStep;
    const following = byName.get(segmentNameFromNumber(reader.timeline, next, size));
    if (following) {
      files.splice(
        files.length - files.filter((entry) => entry.name.endsWith('.history')).length,
        0,
        following,
      );
      lastSegment = following.name;
    }
  }
  const targetTimeBeyondArchive = target.kind === 'time' && !stop && gap === null;
  return { targetTimeline, path, files, lastSegment, gap, targetTimeBeyondArchive };
}
