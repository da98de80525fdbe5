/**
 * Timeline history files (`NNNNNNNN.history`, spec §2.3), read the way PostgreSQL's
 * readTimeLineHistory() does. Each line written by PostgreSQL is
 * `parentTLI<TAB>switchpoint<TAB>reason`: the timeline the new one branched from and the LSN
 * where it stopped being followed. Pure and dependency-free.
 */
import { parseLsn } from './names.js';

export interface TimelineSwitch {
  parentTimeline: number;
  /** First LSN that belongs to the child timeline: the parent's WAL is followed up to here. */
  switchpoint: bigint;
  /** Free text, '' when missing. */
  reason: string;
}

const MAX_TIMELINE = 0xffffffff;

/**
 * Parses the content of a timeline history file. Blank lines and lines starting with `#`
 * (after leading whitespace) are ignored; fields are separated by any whitespace and the
 * reason is the rest of the line, trimmed. Throws on a malformed line (naming its 1-based
 * number and content) and when parent timelines are not strictly increasing.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (problem: string): Error =>
      new Error(`invalid timeline history line ${index + 1} ${JSON.stringify(raw)}: ${problem}`);
    const match = /^(\S+)(?:\s+(\S+)(?:\s+(.*))?)?$/.exec(line);
    const [, tliText, lsnText, reason] = match ?? [];
    const parentTimeline = /^\d+$/.test(tliText ?? '') ? Number(tliText) : NaN;
    if (!(parentTimeline >= 1 && parentTimeline <= MAX_TIMELINE)) {
      throw fail('expected a numeric parent timeline ID');
    }
    if (lsnText === undefined) throw fail('expected a switchpoint LSN after the timeline ID');
    let switchpoint: bigint;
    try {
      switchpoint = parseLsn(lsnText);
    } catch {
      throw fail(`invalid switchpoint LSN ${JSON.stringify(lsnText)}`);
    }
    const previous = switches.at(-1);
    if (previous && parentTimeline <= previous.parentTimeline) {
      throw fail(
        `parent timeline ${parentTimeline} does not follow ${previous.parentTimeline}: ` +
          'timeline IDs must be increasing',
      );
    }
    switches.push({ parentTimeline, switchpoint, reason: reason ?? '' });
  }
  return switches;
}

/**
 * The timelines `timeline` descends from, oldest first, ending with `timeline` itself, given
 * the parsed content of `timeline`'s history file. Each timeline's `endLsn` is the switchpoint
 * where its child branched off (exclusive); the target's own endLsn is null. Recovery needs the
 * segments of each ancestor up to its endLsn, then those of the next timeline from there.
 */
export function timelineAncestry(
  history: TimelineSwitch[],
  timeline: number,
): Array<{ timeline: number; endLsn: bigint | null }> {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > MAX_TIMELINE) {
    throw new Error(`invalid timeline ${String(timeline)}: expected an integer from 1 to ${MAX_TIMELINE}`);
  }
  const chain: Array<{ timeline: number; endLsn: bigint | null }> = [];
  for (const entry of history) {
    const previous = chain.at(-1);
    if (previous && entry.parentTimeline <= previous.timeline) {
      throw new Error(
        `invalid timeline history: parent timeline ${entry.parentTimeline} does not follow ` +
          `${previous.timeline}`,
      );
    }
    chain.push({ timeline: entry.parentTimeline, endLsn: entry.switchpoint });
  }
  const last = chain.at(-1);
  if (last && last.timeline >= timeline) {
    throw new Error(
      `timeline ${timeline} cannot descend from timeline ${last.timeline}: ` +
        'the history does not belong to this timeline',
    );
  }
  chain.push({ timeline, endLsn: null });
  return chain;
}
