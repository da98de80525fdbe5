/**
 * Retention policies, as pure functions: which backups a policy keeps, and what deleting a
 * backup may remove from the WAL archive. Commands apply the plans; nothing here touches disk.
 */
import type { RetentionPolicy } from '../config/index.js';

export type KeepTarget = 'full' | 'standalone';

/** Barman's retention statuses; `-` is for backups that are not DONE (or no policy). */
export type RetentionStatus =
  'VALID' | 'OBSOLETE' | 'POTENTIALLY_OBSOLETE' | 'KEEP:FULL' | 'KEEP:STANDALONE' | '-';

export interface RetentionInput {
  id: string;
  status: string;
  /** End of the backup, ms since the epoch (null when unknown). */
  endTimeMs: number | null;
  keep: KeepTarget | null;
}

const DAY_MS = 86_400_000;
const WINDOW_UNIT_MS = { day: DAY_MS, week: 7 * DAY_MS, month: 31 * DAY_MS } as const;

/** The earliest time a RECOVERY WINDOW policy must be able to recover to. */
export function pointOfRecoverability(policy: RetentionPolicy, nowMs: number): number | null {
  return policy.kind === 'recovery-window' ? nowMs - policy.count * WINDOW_UNIT_MS[policy.unit] : null;
}

function keepStatus(keep: KeepTarget | null): RetentionStatus | null {
  if (keep === 'standalone') return 'KEEP:STANDALONE';
  if (keep === 'full') return 'KEEP:FULL';
  return null;
}

/**
 * Status of every backup under `policy`. Only DONE backups get a status; keep-annotated backups
 * count toward REDUNDANCY (as in Barman). The backup that opens a recovery window stays VALID.
 */
export function evaluateRetention(
  backups: readonly RetentionInput[],
  policy: RetentionPolicy | null,
  minimumRedundancy: number,
  nowMs: number,
): Map<string, RetentionStatus> {
  const result = new Map<string, RetentionStatus>();
  const newestFirst = [...backups].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  for (const backup of newestFirst) result.set(backup.id, '-');
  if (policy === null) return result;
  const done = newestFirst.filter((backup) => backup.status === 'DONE');

  if (policy.kind === 'redundancy') {
    const copies = Math.max(policy.copies, minimumRedundancy);
    done.forEach((backup, index) => {
      result.set(backup.id, keepStatus(backup.keep) ?? (index < copies ? 'VALID' : 'OBSOLETE'));
    });
    return result;
  }

  const point = pointOfRecoverability(policy, nowMs)!;
  let windowOpened = false;
  done.forEach((backup, index) => {
    const kept = keepStatus(backup.keep);
    if (!windowOpened) {
      // Every backup inside the window, and the first one before it (needed to reach its start).
      if (backup.endTimeMs !== null && backup.endTimeMs < point) windowOpened = true;
      result.set(backup.id, kept ?? 'VALID');
      return;
    }
    result.set(backup.id, kept ?? (index < minimumRedundancy ? 'POTENTIALLY_OBSOLETE' : 'OBSOLETE'));
  });
  return result;
}

/** Console form of a status (Barman prints POTENTIALLY_OBSOLETE as `OBSOLETE*`). */
export function retentionLabel(status: RetentionStatus): string {
  return status === 'POTENTIALLY_OBSOLETE' ? 'OBSOLETE*' : status;
}

export interface WalBackupView {
  id: string;
  status: string;
  beginWal: string | null;
  endWal: string | null;
  keep: KeepTarget | null;
}

/** Backups that a deletion keeps: DONE, or still to complete (WAITING_FOR_WALS). */
function available(backup: { status: string }): boolean {
  return backup.status === 'DONE' || backup.status === 'WAITING_FOR_WALS';
}

/**
 * Whether a backup that just became DONE is the server's first (Barman's rule), which may remove
 * the WAL archived before it: no older backup is DONE or still WAITING_FOR_WALS (one killed while
 * it waited, whose WAL cron has yet to see, needs that WAL).
 */
export function isFirstBackup(backups: readonly { id: string; status: string }[], id: string): boolean {
  return !backups.some((backup) => backup.id < id && available(backup));
}

/**
 * WAL files that become useless when `deletedId` is deleted (Barman's rules): WAL is removed
 * only when no older available backup remains (older keep:standalone backups do not count when
 * the deletion comes from retention, but their own WAL range stays). Everything older than the
 * begin WAL of the next available backup goes — or, with no newer backup, everything older than
 * the deleted backup's own begin WAL. History files are always kept.
 */
export function walFilesToRemove(
  backups: readonly WalBackupView[],
  deletedId: string,
  archivedNames: readonly string[],
  options: { fromRetention: boolean },
): string[] {
  const sorted = [...backups].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const deleted = sorted.find((backup) => backup.id === deletedId);
  if (!deleted) return [];
  const older = sorted.filter((backup) => backup.id < deletedId && available(backup));
  const protectedRanges: Array<[string, string]> = [];
  for (const backup of older) {
    if (options.fromRetention && backup.keep === 'standalone' && backup.beginWal && backup.endWal) {
      protectedRanges.push([backup.beginWal, backup.endWal]);
    } else {
      return [];
    }
  }
  const next = sorted.find((backup) => backup.id > deletedId && available(backup) && backup.beginWal);
  const until = next?.beginWal ?? deleted.beginWal;
  if (!until) return [];
  return archivedNames.filter((name) => {
    if (name.endsWith('.history')) return false;
    const segment = name.slice(0, 24);
    if (segment >= until.slice(0, 24)) return false;
    return !protectedRanges.some(([begin, end]) => segment >= begin && segment <= end);
  });
}
