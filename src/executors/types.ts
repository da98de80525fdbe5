/**
 * The BackupExecutor contract: one per backup_method. An executor copies PGDATA (and
 * tablespaces) between the start and the stop of a PostgreSQL backup and fills the backup.info
 * fields it knows; the `backup` command owns the lifecycle (locks, status, sizes, WAL).
 */
import type { BackupInfo } from '../catalog/backup-info.js';
import type { ServerLayout } from '../catalog/layout.js';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';

export interface BackupRequest {
  config: ServerConfig;
  layout: ServerLayout;
  backupId: string;
  /** base/<id> */
  backupDirectory: string;
  /** The previous DONE backup, for reuse_backup (link/copy). */
  previous: { id: string; directory: string; beginTimeMs: number | null } | null;
  /** Effective options after CLI overrides. */
  options: {
    immediateCheckpoint: boolean;
    reuse: 'off' | 'copy' | 'link';
    jobs: number;
    bandwidthLimit: number | null;
    /** tablespace_bandwidth_limit: KB/s by tablespace name, instead of bandwidthLimit for that tablespace. */
    tablespaceBandwidthLimit: Readonly<Record<string, number>> | null;
    /** parallel_jobs_start_batch_size / _period: at most `size` copy workers start per `periodSeconds`. */
    startBatch: { size: number; periodSeconds: number };
    retryTimes: number;
    retrySleepSeconds: number;
  };
  report: Reporter;
  log: Logger;
  /** Current step, kept for the `failure <step> (...)` message of a failed backup. */
  setStep(step: string): void;
  /** Saves backup.info (atomically) with these fields merged in. */
  save(fields: Partial<BackupInfo>): Promise<void>;
}

export interface ExecutorOutcome {
  /** Taken from a standby (conninfo in recovery): its last WAL comes from the primary. */
  fromStandby: boolean;
}

export interface BackupExecutor {
  /** backup.info `mode`, and the name in "Starting backup using <mode> method". */
  readonly mode: string;
  /** "Starting backup copy via <how> for <id>". */
  readonly copyDescription: string;
  run(request: BackupRequest): Promise<ExecutorOutcome>;
}
