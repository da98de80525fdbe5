/**
 * Which archived WAL files belong to which backup, for listings: the WAL a backup needs
 * (begin_wal..end_wal) and the WAL archived after it until the next backup. Built once from
 * xlog.db (sorted, with prefix sums) so 1,000 backups over a million-line xlog.db stay fast.
 */
import type { XlogDbEntry } from '../wal/xlogdb.js';

export interface WalRangeStats {
  count: number;
  bytes: number;
  /**
   * When the range's oldest and newest segments were archived (xlog.db's time; .backup and
   * .partial files aside, as Barman's WAL rate and ages see them: by position, not the extremes,
   * since archival order is not name order when files are archived concurrently).
   */
  firstMtime: number | null;
  lastMtime: number | null;
  /** Oldest and newest segment of the range. */
  firstSegment: string | null;
  lastSegment: string | null;
}

export class WalUsage {
  /** Non-history entries sorted by name. */
  private readonly names: string[];
  private readonly entries: XlogDbEntry[];
  private readonly prefixBytes: number[];
  private readonly segmentPrefix: number[];

  constructor(entries: readonly XlogDbEntry[]) {
    const kept = entries.filter((entry) => !entry.name.endsWith('.history'));
    // xlog.db is appended in archival order, which is nearly always name order: sort only if needed.
    const sorted = kept.every((entry, index) => index === 0 || kept[index - 1]!.name <= entry.name);
    this.entries = sorted ? kept : kept.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names = this.entries.map((entry) => entry.name);
    this.prefixBytes = [0];
    this.segmentPrefix = [0];
    for (const entry of this.entries) {
      // Sizes count WAL segments only (not .backup/.partial files), as Barman reports them.
      this.prefixBytes.push(this.prefixBytes.at(-1)! + (entry.name.length === 24 ? entry.size : 0));
      this.segmentPrefix.push(this.segmentPrefix.at(-1)! + (entry.name.length === 24 ? 1 : 0));
    }
  }

  /** Index of the first entry whose name is >= `name`. */
  private lowerBound(name: string): number {
    let low = 0;
    let high = this.names.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.names[middle]! < name) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Files whose segment part is in [fromSegment, toSegment] on one timeline; `exclusiveFrom`
   * skips fromSegment itself (and its .backup/.partial companions).
   */
  range(fromSegment: string, toSegment: string | null, exclusiveFrom = false): WalRangeStats {
    const timeline = fromSegment.slice(0, 8);
    // '~' sorts after every hex digit and '.', so `<segment>~` is past all of its companions.
    const start = this.lowerBound(exclusiveFrom ? `${fromSegment}~` : fromSegment);
    const end = toSegment === null ? this.lowerBound(`${timeline}~`) : this.lowerBound(`${toSegment}~`);
    const timelineEnd = this.lowerBound(`${timeline}~`);
    const stop = Math.min(end, timelineEnd);
    let first: XlogDbEntry | null = null;
    let last: XlogDbEntry | null = null;
    for (let index = start; index < stop && first === null; index += 1)
      if (this.names[index]!.length === 24) first = this.entries[index]!;
    for (let index = stop - 1; index >= start && last === null; index -= 1)
      if (this.names[index]!.length === 24) last = this.entries[index]!;
    return {
      count: stop > start ? this.segmentPrefix[stop]! - this.segmentPrefix[start]! : 0,
      bytes: stop > start ? this.prefixBytes[stop]! - this.prefixBytes[start]! : 0,
      firstMtime: first?.mtime ?? null,
      lastMtime: last?.mtime ?? null,
      firstSegment: first?.name ?? null,
      lastSegment: last?.name ?? null,
    };
  }

  /** Newest segment archived on a timeline (for "Last available"). */
  lastSegment(timeline: string): string | null {
    let index = this.lowerBound(`${timeline}~`) - 1;
    while (index >= 0 && this.names[index]!.startsWith(timeline)) {
      if (this.names[index]!.length === 24) return this.names[index]!;
      index -= 1;
    }
    return null;
  }

  has(name: string): boolean {
    const index = this.lowerBound(name);
    return this.names[index] === name;
  }
}
