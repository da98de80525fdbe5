/**
 * The BackupExecutor contract: one per backup_method, chosen by executorFor. An executor runs
 * the start, copy and stop phases of a backup (PGDATA and tablespaces copied between the start
 * and the stop of a PostgreSQL backup) and fills the backup.info fields it knows; the `backup`
 * command's script (commands/backup/) owns the rest of the lifecycle: checks, lock, status,
 * sizes, hooks, WAL. It also brings its method's checks, which `barman check` runs in Barman's
 * place for them.
 */
import type { BackupPageCheck } from '../catalog/page-verification.js';
import type { BackupInfo } from '../catalog/backup-info.js';
import type { CatalogBackup } from '../catalog/backups.js';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';
import type { SharedConnection } from '../postgres/index.js';
import type { PostgresProbe } from '../postgres/probe.js';
import type { PgTool } from '../process/postgres-tools.js';
import type { CloudStaging, Storage } from '../storage/index.js';

export interface BackupRequest {
  config: ServerConfig;
  /** The basebackups_directory the backup is written to (`<id>/…` in it). */
  storage: Storage;
  backupId: string;
  /** base/<id>, or the backup's s3:// location. */
  backupDirectory: string;
  /**
   * `backup --incremental`: the parent backup (checked by commands/backup/incremental.ts) and its
   * backup_manifest's path in `storage`, for UPLOAD_MANIFEST.
   */
  incremental?: { parentId: string; manifest: string } | null;
  /**
   * The data page checksum check of the copy (a cluster with data checksums), or null. Executors
   * that archive or extract files as they copy them hand it every file's bytes
   * (cloudArchiveOptions, the native plain copy: ExecutorOutcome.pagesChecked); any other copy
   * is read by the finish phase instead. Either way PostgreSQL's own check is off.
   */
  pageCheck?: BackupPageCheck | null;
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
    /**
     * Bounded local staging for the uploads of a backup to an s3:// basebackups_directory
     * (cloud_staging_directory / cloud_staging_max_size, or the --cloud-staging-* flags): give
     * it to each upload (`staging` of WriteOptions / MultipartUploads.upload). Null when the
     * backup does not stage: a local basebackups_directory, or local-to-cloud without either
     * option set (see config/cloud-staging.ts).
     */
    cloudStaging: CloudStaging | null;
  };
  /**
   * The run's regular PostgreSQL session (conninfo), shared with its checks and finish: borrow
   * it (`await connection.client()`), never close it — the run does, at its end or at once when
   * the executor fails (which ends a concurrent backup on the server).
   */
  connection: SharedConnection;
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
  /**
   * The archives the executor stored and their total size, when it knows them (object stores,
   * where nothing can be measured afterwards); otherwise the backup's directory is measured.
   */
  stored?: { size: number; archives: string[] };
  /**
   * Every file's bytes went through `request.pageCheck` as they were copied: the finish phase
   * does not read the copy again for its data page checksums.
   */
  pagesChecked?: boolean;
}

/** What an executor may tidy up for backups of its method left STARTED by a process that died. */
export interface InterruptedScope {
  config: ServerConfig;
  storage: Storage;
  log: Logger;
}

/**
 * What an executor's checks see of `barman check` (commands/shared/checks/context.ts is the
 * implementation): results go to `c` under Barman's names, facts are probed once and shared.
 */
export interface ExecutorCheckContext {
  readonly config: ServerConfig;
  readonly c: {
    /** Names the check about to run (the one a check timeout reports). */
    start(name: string): void;
    add(name: string, ok: boolean, hint?: string | null): void;
  };
  /** path_prefix then PATH, where PostgreSQL's client programs are looked for. */
  readonly searchPath: string;
  /** True for the pre-backup check of an incremental backup (`backup --incremental`). */
  readonly incrementalBackup: boolean;
  /** Aborted when check_timeout expires. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  pg(): Promise<PostgresProbe>;
  /** The replication connection's server version, else the normal connection's. */
  serverVersion(): Promise<number | null>;
  catalog(): Promise<{ readonly backups: readonly CatalogBackup[] } | null>;
  /** Adds `check`: is `tool` (`program`) compatible with a server of version `server`? */
  toolCompatibility(check: string, program: string, tool: PgTool | null, server: number | null): void;
}

export type ExecutorCheck = (ctx: ExecutorCheckContext) => Promise<void>;

export interface BackupExecutor {
  /** backup.info `mode`, and the name in "Starting backup using <mode> method". */
  readonly mode: string;
  /** backup.info `mode` with backup_options = exclusive_backup, for the methods that offer it. */
  readonly exclusiveMode?: string;
  /** The method's checks, run in this order by `barman check` (and the pre-backup check). */
  readonly checks: readonly ExecutorCheck[];
  /** "Starting backup copy via <how> for <id>". */
  readonly copyDescription: string;
  /**
   * Like barman-cloud-backup: DONE once its files are stored, without waiting for its WAL files
   * (archived by cloud-wal-archive, not by this server's archive-wal).
   */
  readonly doneWithoutWal?: boolean;
  /** backup.info fields known before the backup starts (its compression). */
  initialInfo?(config: ServerConfig): Partial<BackupInfo>;
  run(request: BackupRequest): Promise<ExecutorOutcome>;
  /** After the lifecycle marked interrupted backups of this method FAILED (ids, maybe none). */
  cleanUpInterrupted?(scope: InterruptedScope, ids: readonly string[]): Promise<void>;
}
