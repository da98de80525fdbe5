/**
 * What the metrics say about one server's catalogue, computed from the catalogue `list-backup`
 * and `status` load (backup-catalog.ts: Barman's layout or barman-cloud's, through Storage):
 * pure, so the values are tested from a catalogue without a PostgreSQL or a Prometheus.
 */
import { BACKUP_STATUSES } from '../../../catalog/backup-info.js';
import type { CatalogBackup } from '../../../catalog/backups.js';
import { statusOf } from '../../../catalog/backups.js';
import type { RetentionStatus } from '../../../retention/policy.js';
import { pointOfRecoverability } from '../../../retention/policy.js';
import type { ServerCatalog } from '../backup-catalog.js';
import { retentionEnforced } from '../backup-catalog.js';
import type { GfsPeriod } from '../../../retention/gfs.js';
import { GFS_PERIODS } from '../../../retention/gfs.js';

/** Every status a backup can show, UNREADABLE for a backup.info that cannot be read. */
export const BACKUP_STATUS_LABELS: readonly string[] = [...BACKUP_STATUSES, 'UNREADABLE'];

/** Every retention status but `-` (backups that are not DONE, or no policy). */
export const RETENTION_STATUS_LABELS: readonly Exclude<RetentionStatus, '-'>[] = [
  'VALID',
  'OBSOLETE',
  'POTENTIALLY_OBSOLETE',
  'KEEP:FULL',
  'KEEP:STANDALONE',
];

/** How far back the catalogue's WAL archiving rate looks. */
export const RECENT_WAL_WINDOW_SECONDS = 3600;

export interface LastBackupFacts {
  id: string;
  /** end_time, seconds since the epoch. */
  endSeconds: number;
  ageSeconds: number;
  /** end_time - begin_time; null when backup.info lacks begin_time. */
  durationSeconds: number | null;
  sizeBytes: number | null;
  /** What the backup added on disk (reused files not counted); null when not recorded. */
  deduplicatedSizeBytes: number | null;
}

export interface CatalogFacts {
  /** Backups by status (every label of BACKUP_STATUS_LABELS, zero included). */
  backupsByStatus: Map<string, number>;
  /** The newest DONE backup with an end time; null when there is none. */
  lastBackup: LastBackupFacts | null;
  /**
   * The earliest time a recovery can reach with continuous WAL after it: the end of the oldest
   * DONE backup not kept standalone (a standalone backup keeps no WAL after its end). Seconds.
   */
  firstRecoverabilitySeconds: number | null;
  /** DONE backups by retention status (every label of RETENTION_STATUS_LABELS); empty without a policy. */
  backupsByRetention: Map<string, number>;
  /**
   * Whether the retention policies are met now: REDUNDANCY n has n DONE backups; a RECOVERY
   * WINDOW reaches back to its start; retention_gfs fills every slot it asks for. Null without one.
   */
  retentionSatisfied: boolean | null;
  /** With retention_gfs: the slots of each period held by a backup; empty without it. */
  gfsSlotsFilled: Map<GfsPeriod, number>;
  minimumRedundancySatisfied: boolean;
  /** WAL files the archive holds (segments only, as `status` counts them) and their stored bytes. */
  walSegments: number;
  walBytes: number;
  /** The newest archived WAL file's time (xlog.db's mtime, or the object's), seconds. */
  lastWalArchivedSeconds: number | null;
  /** Segments and bytes archived during the last RECENT_WAL_WINDOW_SECONDS (by their archive time). */
  recentWalSegments: number;
  recentWalBytes: number;
  /** Parts of the catalogue that could not be read (backup.info files, xlog.db lines). */
  unreadableParts: number;
}

const SEGMENT_NAME_LENGTH = 24;

export function catalogFacts(catalog: ServerCatalog, nowMs: number): CatalogFacts {
  const backupsByStatus = new Map(BACKUP_STATUS_LABELS.map((status) => [status, 0]));
  for (const backup of catalog.backups) {
    const status = statusOf(backup);
    backupsByStatus.set(status, (backupsByStatus.get(status) ?? 0) + 1);
  }
  const done = catalog.backups.filter((backup) => statusOf(backup) === 'DONE' && backup.info?.end_time);
  const policy = catalog.config.retention_policy;

  const backupsByRetention = new Map<string, number>();
  if (retentionEnforced(catalog.config)) {
    for (const label of RETENTION_STATUS_LABELS) backupsByRetention.set(label, 0);
    for (const status of catalog.retention.values()) {
      if (status !== '-') backupsByRetention.set(status, (backupsByRetention.get(status) ?? 0) + 1);
    }
  }

  const windowStart = done.find((backup) => backup.keep !== 'standalone');
  const firstRecoverabilitySeconds = windowStart ? endSeconds(windowStart) : null;
  let retentionSatisfied: boolean | null = null;
  if (policy?.kind === 'redundancy') retentionSatisfied = done.length >= policy.copies;
  if (policy?.kind === 'recovery-window') {
    const point = pointOfRecoverability(policy, nowMs)! / 1000;
    retentionSatisfied = firstRecoverabilitySeconds !== null && firstRecoverabilitySeconds <= point;
  }
  const gfs = catalog.config.retention_gfs;
  const gfsSlotsFilled = new Map<GfsPeriod, number>();
  if (gfs) {
    for (const period of GFS_PERIODS) gfsSlotsFilled.set(period, 0);
    for (const reasons of catalog.retentionReasons.values()) {
      for (const period of GFS_PERIODS) {
        if (reasons.some((reason) => reason.startsWith(`${period} `)))
          gfsSlotsFilled.set(period, gfsSlotsFilled.get(period)! + 1);
      }
    }
    const filled = GFS_PERIODS.every((period) => gfsSlotsFilled.get(period)! >= gfs[period]);
    retentionSatisfied = (retentionSatisfied ?? true) && filled;
  }

  let walSegments = 0;
  let walBytes = 0;
  let lastWalArchivedSeconds: number | null = null;
  let recentWalSegments = 0;
  let recentWalBytes = 0;
  const recentSince = nowMs / 1000 - RECENT_WAL_WINDOW_SECONDS;
  for (const entry of catalog.xlog) {
    lastWalArchivedSeconds = Math.max(lastWalArchivedSeconds ?? entry.mtime, entry.mtime);
    if (entry.name.length !== SEGMENT_NAME_LENGTH) continue;
    walSegments += 1;
    walBytes += entry.size;
    if (entry.mtime >= recentSince) {
      recentWalSegments += 1;
      recentWalBytes += entry.size;
    }
  }

  const last = done.at(-1);
  return {
    backupsByStatus,
    lastBackup: last ? lastBackupFacts(last, nowMs) : null,
    firstRecoverabilitySeconds,
    backupsByRetention,
    retentionSatisfied,
    gfsSlotsFilled,
    minimumRedundancySatisfied:
      catalog.backups.filter((backup) => statusOf(backup) === 'DONE').length >=
      catalog.config.minimum_redundancy,
    walSegments,
    walBytes,
    lastWalArchivedSeconds,
    recentWalSegments,
    recentWalBytes,
    unreadableParts: catalog.unreadable.length,
  };
}

function endSeconds(backup: CatalogBackup): number {
  return backup.info!.end_time!.epochMs / 1000;
}

function lastBackupFacts(backup: CatalogBackup, nowMs: number): LastBackupFacts {
  const info = backup.info!;
  const end = endSeconds(backup);
  return {
    id: backup.id,
    endSeconds: end,
    ageSeconds: Math.max(0, nowMs / 1000 - end),
    durationSeconds: info.begin_time ? Math.max(0, end - info.begin_time.epochMs / 1000) : null,
    sizeBytes: info.size,
    deduplicatedSizeBytes: info.deduplicated_size,
  };
}
