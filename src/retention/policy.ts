/**
 * Retention policies, as pure functions: which backups a policy keeps, and what deleting a
 * backup may remove from the WAL archive. Commands apply the plans; nothing here touches disk.
 */
import type { GfsPolicy, RetentionPolicy } from '../config/index.js';
import { gfsReasons } from './gfs.js';

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
  /** A block-level incremental backup: it takes the status of the root of its chain. */
  incremental: boolean;
  /** The backups built on this one (catalog/chain.ts), which share its fate. */
  descendants: readonly string[];
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

export interface RetentionRules {
  policy: RetentionPolicy | null;
  /** barman-ts's `retention_gfs` (gfs.ts), kept on top of what `policy` keeps. */
  gfs: GfsPolicy | null;
  minimumRedundancy: number;
  nowMs: number;
}

export interface RetentionDecision {
  statuses: Map<string, RetentionStatus>;
  /** With GFS only: why each backup stays (`daily 2026-12-05`, `retention_policy`, …); empty when it goes. */
  reasons: Map<string, string[]>;
}

/**
 * Status of every backup under `policy`, as Barman 3.11+ decides it. Only DONE backups that are
 * not incremental are counted and get a status of their own; keep-annotated backups count
 * toward REDUNDANCY. The backup that opens a recovery window stays VALID. A chain lives and
 * dies with its root: every descendant takes the root's status, except that a kept root's
 * incremental backups are VALID — or OBSOLETE once a root kept `standalone` falls outside the
 * policy (a standalone keep needs none of them). An incremental backup whose parent is not in
 * the catalogue gets no status (`-`): nothing decides it, so retention never deletes it
 * (Barman 3.13 stops with a KeyError on such a catalogue).
 *
 * With GFS (docs/retention.md), a DONE full backup stays VALID when `policy` keeps it, when it
 * holds a GFS slot, or when it is one of the `minimumRedundancy` newest; otherwise it is
 * OBSOLETE (POTENTIALLY_OBSOLETE does not occur: minimum_redundancy keeps such a backup VALID).
 */
export function decideRetention(
  backups: readonly RetentionInput[],
  rules: RetentionRules,
): RetentionDecision {
  const { policy, gfs, minimumRedundancy, nowMs } = rules;
  const statuses = new Map<string, RetentionStatus>();
  const reasons = new Map<string, string[]>();
  const newestFirst = [...backups].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  for (const backup of newestFirst) statuses.set(backup.id, '-');
  if (policy === null && gfs === null) return { statuses, reasons };
  const doneFulls = newestFirst.filter((backup) => backup.status === 'DONE' && !backup.incremental);
  const slots = gfs === null ? new Map<string, string[]>() : gfsReasons(doneFulls, gfs);
  const copies = policy?.kind === 'redundancy' ? Math.max(policy.copies, minimumRedundancy) : 0;
  const point = policy === null ? null : pointOfRecoverability(policy, nowMs);
  let counted = 0;
  let windowOpened = false;
  for (const backup of newestFirst) {
    if (backup.incremental) continue;
    const kept = keepStatus(backup.keep);
    let status: RetentionStatus = '-';
    // Whether the backup is beyond what `policy` keeps (a standalone keep then drops its chain).
    let outside = true;
    if (backup.status === 'DONE') {
      let verdict: RetentionStatus = 'OBSOLETE';
      if (policy === null) {
        // GFS alone: its slots and minimum_redundancy decide (below).
      } else if (point === null) {
        verdict = counted < copies ? 'VALID' : 'OBSOLETE';
        counted++;
        outside = counted > copies;
      } else if (!windowOpened) {
        // Every backup inside the window, and the first one before it (needed to reach its start).
        verdict = 'VALID';
        counted++;
        if (backup.endTimeMs !== null && backup.endTimeMs < point) windowOpened = true;
        outside = windowOpened;
      } else if (counted < minimumRedundancy) {
        verdict = 'POTENTIALLY_OBSOLETE';
        counted++;
      }
      status = kept ?? verdict;
      if (gfs !== null) {
        const why = [
          ...(kept ? [kept.toLowerCase()] : []),
          ...(verdict === 'VALID' ? ['retention_policy'] : []),
          ...(slots.get(backup.id) ?? []),
          ...(doneFulls.indexOf(backup) < minimumRedundancy ? ['minimum_redundancy'] : []),
        ];
        if (why.some((reason) => !reason.startsWith('keep:'))) outside = false;
        if (!kept) status = why.length > 0 ? 'VALID' : 'OBSOLETE';
        reasons.set(backup.id, why);
      }
    }
    statuses.set(backup.id, status);
    if (backup.descendants.length === 0) continue;
    const inherited =
      status === 'KEEP:STANDALONE'
        ? outside
          ? 'OBSOLETE'
          : 'VALID'
        : status === 'KEEP:FULL'
          ? 'VALID'
          : status;
    for (const id of backup.descendants) {
      statuses.set(id, inherited);
      if (gfs !== null) reasons.set(id, inherited === 'VALID' ? [`chain of ${backup.id}`] : []);
    }
  }
  return { statuses, reasons };
}

/** Barman's statuses alone (decideRetention without GFS). */
export function evaluateRetention(
  backups: readonly RetentionInput[],
  policy: RetentionPolicy | null,
  minimumRedundancy: number,
  nowMs: number,
): Map<string, RetentionStatus> {
  return decideRetention(backups, { policy, gfs: null, minimumRedundancy, nowMs }).statuses;
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
 * Whether deleting `deletedId` cleans up WAL at all (Barman's rule, which then announces the
 * clean-up even when no file goes): no older available backup remains — older keep:standalone
 * backups do not count when the deletion comes from retention, but their own WAL range stays
 * (`protectedRanges`).
 */
export function walCleanup(
  backups: readonly WalBackupView[],
  deletedId: string,
  options: { fromRetention: boolean },
): { applies: boolean; protectedRanges: Array<[string, string]> } {
  const protectedRanges: Array<[string, string]> = [];
  for (const backup of backups.filter((other) => other.id < deletedId && available(other))) {
    if (!(options.fromRetention && backup.keep === 'standalone' && backup.beginWal && backup.endWal))
      return { applies: false, protectedRanges: [] };
    protectedRanges.push([backup.beginWal, backup.endWal]);
  }
  return { applies: backups.some((backup) => backup.id === deletedId), protectedRanges };
}

/**
 * WAL files that become useless when `deletedId` is deleted (Barman's rules, see walCleanup).
 * Everything older than the begin WAL of the next available backup goes — or, with no newer
 * backup, everything older than the deleted backup's own begin WAL. History files are always kept.
 */
export function walFilesToRemove(
  backups: readonly WalBackupView[],
  deletedId: string,
  archivedNames: readonly string[],
  options: { fromRetention: boolean },
): string[] {
  const sorted = [...backups].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const deleted = sorted.find((backup) => backup.id === deletedId);
  const { applies, protectedRanges } = walCleanup(sorted, deletedId, options);
  if (!deleted || !applies) return [];
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
