/**
 * Grandfather-father-son retention (barman-ts's `retention_gfs`), as pure functions: which DONE
 * full backup holds each daily, weekly and monthly slot. evaluateRetention (policy.ts) combines
 * the slots with retention_policy, minimum_redundancy, keep annotations and incremental chains.
 */
import type { GfsPolicy } from '../config/index.js';

export type GfsPeriod = 'daily' | 'weekly' | 'monthly';

export interface GfsCandidate {
  id: string;
  /** End of the backup, ms since the epoch (null when unknown). */
  endTimeMs: number | null;
}

const DAY_MS = 86_400_000;
export const GFS_PERIODS: readonly GfsPeriod[] = ['daily', 'weekly', 'monthly'];

const pad = (value: number) => String(value).padStart(2, '0');

/** ISO 8601 week of a local date (weeks start on Monday; week 1 holds the year's first Thursday). */
function isoWeekLabel(date: Date): string {
  const mondayBased = (date.getDay() + 6) % 7;
  const thursday = new Date(date.getFullYear(), date.getMonth(), date.getDate() - mondayBased + 3);
  const year = thursday.getFullYear();
  // Rounded: a daylight-saving change makes a local day 23 or 25 hours long.
  const dayOfYear = Math.round((thursday.getTime() - new Date(year, 0, 1).getTime()) / DAY_MS);
  return `${year}-W${pad(Math.floor(dayOfYear / 7) + 1)}`;
}

/** The calendar period (in the local time zone of barman-ts) a moment falls in. */
export function periodLabel(period: GfsPeriod, epochMs: number): string {
  const date = new Date(epochMs);
  const month = `${date.getFullYear()}-${pad(date.getMonth() + 1)}`;
  if (period === 'monthly') return month;
  if (period === 'weekly') return isoWeekLabel(date);
  return `${month}-${pad(date.getDate())}`;
}

/**
 * Why GFS keeps each backup: `daily 2026-12-05`, `weekly 2026-W49`, `monthly 2026-12`. The
 * backup that holds a period's slot is the newest candidate that ended in it; the slots go to the
 * N most recent periods that have a candidate, so a period without backups uses no slot (a
 * stopped schedule never makes the old backups go). `candidates` are the DONE full backups;
 * one whose end time is unknown holds no slot.
 */
export function gfsReasons(candidates: readonly GfsCandidate[], policy: GfsPolicy): Map<string, string[]> {
  const reasons = new Map<string, string[]>();
  const newestFirst = candidates
    .filter((candidate): candidate is GfsCandidate & { endTimeMs: number } => candidate.endTimeMs !== null)
    .sort((a, b) => b.endTimeMs - a.endTimeMs || (a.id < b.id ? 1 : -1));
  for (const period of GFS_PERIODS) {
    const slots = policy[period];
    const filled = new Set<string>();
    for (const candidate of newestFirst) {
      const label = periodLabel(period, candidate.endTimeMs);
      if (filled.has(label)) continue;
      if (filled.size >= slots) break;
      filled.add(label);
      reasons.set(candidate.id, [...(reasons.get(candidate.id) ?? []), `${period} ${label}`]);
    }
  }
  return reasons;
}
