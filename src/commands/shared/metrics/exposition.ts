/**
 * A collection (collect.ts) in Prometheus' text exposition format, through prom-client (the only
 * importer of it: loaded by `barman metrics` only, never on the archive_command path). Names
 * follow Prometheus' conventions: the `barman_` prefix, base units in the name (`_seconds`,
 * `_bytes`), `_timestamp_seconds` for points in time, `_total` for counters, 1/0 for states.
 * A value the catalogue does not have (no backup yet, no connection) is left out, never faked.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { DaemonHealth, MetricsSnapshot, ServerSnapshot } from './collect.js';
import { BACKUP_STATUS_LABELS, RECENT_WAL_WINDOW_SECONDS } from './catalog-facts.js';

type Labels = Record<string, string>;

interface MetricSpec {
  help: string;
  labels: readonly string[];
  counter?: boolean;
  /** Only in the daemon's /metrics (prom-client would print an unlabelled one as 0 everywhere). */
  daemon?: boolean;
}

const S = ['server'] as const;

/** Every metric barman-ts exposes (docs/metrics.md describes them). */
export const METRICS = {
  barman_build_info: { help: 'barman-ts version (always 1)', labels: ['version', 'nodejs'] },
  barman_metrics_scrape_duration_seconds: { help: 'Seconds this collection of metrics took', labels: [] },
  barman_metrics_collection_timestamp_seconds: { help: 'When this collection started', labels: [] },
  barman_server_active: { help: 'Whether the server is active (1) or not (0)', labels: S },
  barman_server_disabled: {
    help: 'Whether configuration errors disable the server (1): nothing else is collected for it',
    labels: S,
  },
  barman_catalog_readable: {
    help: 'Whether the backup catalogue could be read (0: the catalogue series are missing)',
    labels: S,
  },
  barman_catalog_unreadable_parts: {
    help: 'backup.info files and xlog.db lines that could not be read (deletions refuse while > 0)',
    labels: S,
  },
  barman_backups: { help: 'Backups in the catalogue by status', labels: ['server', 'status'] },
  barman_last_backup_timestamp_seconds: { help: 'End time of the newest DONE backup', labels: S },
  barman_last_backup_age_seconds: { help: 'Seconds since the end of the newest DONE backup', labels: S },
  barman_last_backup_duration_seconds: {
    help: 'Seconds the newest DONE backup took (end time - begin time)',
    labels: S,
  },
  barman_last_backup_size_bytes: { help: 'Size of the newest DONE backup', labels: S },
  barman_last_backup_deduplicated_size_bytes: {
    help: 'Bytes the newest DONE backup added (files reused from the previous backup not counted)',
    labels: S,
  },
  barman_first_recoverability_point_timestamp_seconds: {
    help: 'Earliest point a recovery can reach with WAL after it: end of the oldest DONE backup not kept standalone',
    labels: S,
  },
  barman_recovery_window_seconds: {
    help: 'Seconds between the first recoverability point and now',
    labels: S,
  },
  barman_retention_backups: {
    help: 'DONE backups by retention status under the retention policy (absent without a policy)',
    labels: ['server', 'status'],
  },
  barman_retention_policy_satisfied: {
    help: 'Whether the retention policies are met: REDUNDANCY n has n DONE backups, a RECOVERY WINDOW reaches its start, retention_gfs fills its slots',
    labels: S,
  },
  barman_retention_gfs_slots: {
    help: 'retention_gfs slots held by a backup, by period (absent without retention_gfs)',
    labels: ['server', 'period'],
  },
  barman_minimum_redundancy_satisfied: {
    help: 'Whether there are at least minimum_redundancy DONE backups',
    labels: S,
  },
  barman_wal_archive_segments: { help: 'WAL segments in the archive', labels: S },
  barman_wal_archive_bytes: { help: 'Bytes the archived WAL segments take (as stored)', labels: S },
  barman_wal_last_archived_timestamp_seconds: {
    help: "Archive time of the newest file in the WAL archive (xlog.db's time, or the object's)",
    labels: S,
  },
  barman_wal_last_archived_age_seconds: {
    help: 'Seconds since the newest file of the WAL archive was archived',
    labels: S,
  },
  barman_wal_archived_last_hour_segments: {
    help: `WAL segments archived during the last ${RECENT_WAL_WINDOW_SECONDS} seconds (archive throughput)`,
    labels: S,
  },
  barman_wal_archived_last_hour_bytes: {
    help: `Bytes of WAL archived during the last ${RECENT_WAL_WINDOW_SECONDS} seconds (archive throughput)`,
    labels: S,
  },
  barman_wal_queue_files: {
    help: 'Files waiting in a local WAL directory: incoming (the async spool for a cloud archive), streaming, errors',
    labels: ['server', 'queue'],
  },
  barman_wal_queue_bytes: { help: 'Bytes waiting in a local WAL directory', labels: ['server', 'queue'] },
  barman_wal_queue_oldest_age_seconds: {
    help: 'Age of the oldest file waiting in a local WAL directory',
    labels: ['server', 'queue'],
  },
  barman_postgres_up: {
    help: "Whether PostgreSQL's pg_stat_archiver could be read within the timeout",
    labels: S,
  },
  barman_postgres_archived_wals_total: {
    help: 'WAL files PostgreSQL archived successfully since its statistics were reset (pg_stat_archiver)',
    labels: S,
    counter: true,
  },
  barman_postgres_archive_failures_total: {
    help: 'Failed archive_command runs since the statistics were reset (pg_stat_archiver)',
    labels: S,
    counter: true,
  },
  barman_postgres_last_archived_timestamp_seconds: {
    help: 'When PostgreSQL last archived a WAL file successfully',
    labels: S,
  },
  barman_postgres_last_archived_age_seconds: {
    help: 'Seconds since PostgreSQL last archived a WAL file successfully',
    labels: S,
  },
  barman_postgres_last_archive_failure_timestamp_seconds: {
    help: "When PostgreSQL's archive_command last failed",
    labels: S,
  },
  barman_last_backup_corrupt_data_pages: {
    help: 'Data pages of the newest DONE backup that failed checksum verification (absent when it was not verified)',
    labels: S,
  },
  barman_restore_drill_last_success: {
    help: 'Whether the newest restore drill (verify-restore) passed: 1 passed, 0 failed (absent before the first)',
    labels: S,
  },
  barman_restore_drill_last_timestamp_seconds: { help: 'When the newest restore drill ended', labels: S },
  barman_restore_drill_last_duration_seconds: { help: 'Seconds the newest restore drill took', labels: S },
  barman_restore_drill_last_success_timestamp_seconds: {
    help: 'When the newest restore drill that passed ended',
    labels: S,
  },
  barman_check_ok: {
    help: "Result of each of barman check's checks: 1 passed, 0 failed (only with --checks)",
    labels: ['server', 'check'],
  },
  barman_daemon_start_time_seconds: {
    help: 'When the barman daemon serving these metrics started',
    labels: [],
    daemon: true,
  },
  barman_daemon_reloads_total: {
    help: 'Configuration reloads (SIGHUP) of the barman daemon',
    labels: [],
    counter: true,
    daemon: true,
  },
  barman_daemon_runs_total: {
    help: "Runs of each of the daemon's jobs by result (success, failure, skipped: still running when due)",
    labels: ['job', 'result'],
    counter: true,
    daemon: true,
  },
  barman_daemon_job_running: {
    help: "Whether one of the daemon's jobs is running now",
    labels: ['job'],
    daemon: true,
  },
  barman_daemon_last_run_timestamp_seconds: {
    help: "When the last run of one of the daemon's jobs ended",
    labels: ['job'],
    daemon: true,
  },
  barman_daemon_last_run_duration_seconds: {
    help: "How long the last run of one of the daemon's jobs took",
    labels: ['job'],
    daemon: true,
  },
  barman_daemon_last_run_success: {
    help: "Whether the last run of one of the daemon's jobs succeeded (exit code 0)",
    labels: ['job'],
    daemon: true,
  },
  barman_daemon_next_run_timestamp_seconds: {
    help: "When one of the daemon's jobs is due next",
    labels: ['job'],
    daemon: true,
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;

/** A registry holding one collection; `text()` is the exposition, `json()` prom-client's objects. */
export class MetricsExposition {
  private readonly registry = new Registry();
  private readonly gauges = new Map<MetricName, Gauge | Counter>();

  constructor(snapshot: MetricsSnapshot, version: string) {
    for (const [name, spec] of Object.entries(METRICS) as Array<[MetricName, MetricSpec]>) {
      if (spec.daemon && !snapshot.daemon) continue;
      const options = { name, help: spec.help, labelNames: [...spec.labels], registers: [this.registry] };
      this.gauges.set(name, spec.counter ? new Counter(options) : new Gauge(options));
    }
    this.set('barman_build_info', { version, nodejs: process.version }, 1);
    this.set('barman_metrics_scrape_duration_seconds', {}, snapshot.durationSeconds);
    this.set('barman_metrics_collection_timestamp_seconds', {}, snapshot.nowMs / 1000);
    for (const server of snapshot.servers) this.addServer(server, snapshot.nowMs / 1000);
    if (snapshot.daemon) this.addDaemon(snapshot.daemon);
  }

  private addDaemon(daemon: DaemonHealth): void {
    this.set('barman_daemon_start_time_seconds', {}, daemon.startedSeconds);
    this.set('barman_daemon_reloads_total', {}, daemon.reloads);
    for (const { job, runs, running, last, nextSeconds } of daemon.jobs) {
      for (const [result, count] of Object.entries(runs))
        this.set('barman_daemon_runs_total', { job, result }, count);
      this.set('barman_daemon_job_running', { job }, running);
      this.set('barman_daemon_last_run_timestamp_seconds', { job }, last?.endSeconds);
      this.set('barman_daemon_last_run_duration_seconds', { job }, last?.durationSeconds);
      this.set('barman_daemon_last_run_success', { job }, last?.success);
      this.set('barman_daemon_next_run_timestamp_seconds', { job }, nextSeconds);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  async json(): Promise<unknown[]> {
    return (await this.registry.getMetricsAsJSON()).map(({ name, help, type, values }) => ({
      name,
      help,
      type,
      values: values.map(({ labels, value }) => ({ labels, value })),
    }));
  }

  private set(name: MetricName, labels: Labels, value: number | boolean | null | undefined): void {
    if (value === null || value === undefined) return;
    const metric = this.gauges.get(name)!;
    const number = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    if (metric instanceof Counter) metric.inc(labels, number);
    else metric.set(labels, number);
  }

  private addServer(snapshot: ServerSnapshot, now: number): void {
    const server = { server: snapshot.server };
    this.set('barman_server_active', server, snapshot.active);
    this.set('barman_server_disabled', server, snapshot.disabled);
    if (snapshot.disabled) return;
    this.set('barman_catalog_readable', server, snapshot.catalog !== null);
    const catalog = snapshot.catalog;
    if (catalog) {
      this.set('barman_catalog_unreadable_parts', server, catalog.unreadableParts);
      for (const status of BACKUP_STATUS_LABELS) {
        this.set('barman_backups', { ...server, status }, catalog.backupsByStatus.get(status) ?? 0);
      }
      const last = catalog.lastBackup;
      if (last) {
        this.set('barman_last_backup_timestamp_seconds', server, last.endSeconds);
        this.set('barman_last_backup_age_seconds', server, last.ageSeconds);
        this.set('barman_last_backup_duration_seconds', server, last.durationSeconds);
        this.set('barman_last_backup_size_bytes', server, last.sizeBytes);
        this.set('barman_last_backup_deduplicated_size_bytes', server, last.deduplicatedSizeBytes);
      }
      const first = catalog.firstRecoverabilitySeconds;
      this.set('barman_first_recoverability_point_timestamp_seconds', server, first);
      if (first !== null) this.set('barman_recovery_window_seconds', server, Math.max(0, now - first));
      for (const [status, count] of catalog.backupsByRetention) {
        this.set('barman_retention_backups', { ...server, status }, count);
      }
      this.set('barman_retention_policy_satisfied', server, catalog.retentionSatisfied);
      for (const [period, filled] of catalog.gfsSlotsFilled) {
        this.set('barman_retention_gfs_slots', { ...server, period }, filled);
      }
      this.set('barman_minimum_redundancy_satisfied', server, catalog.minimumRedundancySatisfied);
      this.set('barman_wal_archive_segments', server, catalog.walSegments);
      this.set('barman_wal_archive_bytes', server, catalog.walBytes);
      const lastWal = catalog.lastWalArchivedSeconds;
      this.set('barman_wal_last_archived_timestamp_seconds', server, lastWal);
      if (lastWal !== null)
        this.set('barman_wal_last_archived_age_seconds', server, Math.max(0, now - lastWal));
      this.set('barman_wal_archived_last_hour_segments', server, catalog.recentWalSegments);
      this.set('barman_wal_archived_last_hour_bytes', server, catalog.recentWalBytes);
    }
    for (const queue of snapshot.queues) {
      const labels = { ...server, queue: queue.queue };
      this.set('barman_wal_queue_files', labels, queue.files);
      this.set('barman_wal_queue_bytes', labels, queue.bytes);
      this.set('barman_wal_queue_oldest_age_seconds', labels, queue.oldestAgeSeconds ?? 0);
    }
    const postgres = snapshot.postgres;
    if (postgres) {
      this.set('barman_postgres_up', server, postgres.up);
      if (postgres.up) {
        const archiver = postgres.archiver;
        this.set('barman_postgres_archived_wals_total', server, archiver.archivedCount);
        this.set('barman_postgres_archive_failures_total', server, archiver.failedCount);
        const archived = archiver.lastArchivedTime ? archiver.lastArchivedTime.epochMs / 1000 : null;
        this.set('barman_postgres_last_archived_timestamp_seconds', server, archived);
        if (archived !== null) {
          this.set('barman_postgres_last_archived_age_seconds', server, Math.max(0, now - archived));
        }
        const failed = archiver.lastFailedTime ? archiver.lastFailedTime.epochMs / 1000 : null;
        this.set('barman_postgres_last_archive_failure_timestamp_seconds', server, failed);
      }
    }
    this.set('barman_last_backup_corrupt_data_pages', server, snapshot.corruptPages);
    const drill = snapshot.drill;
    if (drill) {
      this.set('barman_restore_drill_last_success', server, drill.lastSuccess);
      this.set('barman_restore_drill_last_timestamp_seconds', server, drill.lastEndSeconds);
      this.set('barman_restore_drill_last_duration_seconds', server, drill.lastDurationSeconds);
      this.set('barman_restore_drill_last_success_timestamp_seconds', server, drill.lastSuccessEndSeconds);
    }
    // A check that reports under one name twice counts as failed if either failed.
    const checks = new Map<string, boolean>();
    for (const check of snapshot.checks ?? [])
      checks.set(check.name, (checks.get(check.name) ?? true) && check.ok);
    for (const [check, ok] of checks) this.set('barman_check_ok', { ...server, check }, ok);
  }
}
