/**
 * One collection of the metrics of a set of servers, as plain data (exposition.ts turns it into
 * Prometheus' format). `barman metrics` calls it once per run; a long-running process serving
 * /metrics calls it per scrape with the same servers and options, and may hand in check
 * results it keeps (`checkResults`) instead of running `check` on every scrape.
 *
 * Cost per server: the catalogue as `list-backup` reads it (a directory listing and every
 * backup.info plus xlog.db; for an s3:// catalogue two object listings), a listing and a stat
 * per file of incoming/, streaming/ and errors/, and, unless disabled, one PostgreSQL session
 * reading pg_stat_archiver, bounded by the timeout, and one read of the restore drill results
 * (catalog/drills.ts). Servers are collected concurrently.
 */
import type { ServerEntry } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import type { Logger } from '../../../log/index.js';
import type { Reporter } from '../../../output/reporter.js';
import { loadServerCatalog } from '../backup-catalog.js';
import type { CheckResult } from '../checks/results.js';
import type { CatalogFacts } from './catalog-facts.js';
import { catalogFacts } from './catalog-facts.js';
import { statusOf } from '../../../catalog/backups.js';
import { loadPageChecksumResult } from '../../../catalog/page-verification.js';
import type { DrillResult } from '../../../catalog/drills.js';
import { loadDrillResults } from '../../../catalog/drills.js';
import type { ArchiverProbe, QueueFacts, WalQueue } from './live-facts.js';
import { probeArchiver, queueFacts } from './live-facts.js';

export interface ServerSnapshot {
  server: string;
  active: boolean;
  /** Configuration errors disable the server: nothing else is collected for it. */
  disabled: boolean;
  /** Null when the catalogue could not be read (catalogError says why) or the server is disabled. */
  catalog: CatalogFacts | null;
  catalogError: string | null;
  queues: QueueFacts[];
  /** Null when PostgreSQL was not asked (disabled by option, no conninfo, archiver off). */
  postgres: ArchiverProbe | null;
  /** Null when no check results were asked for. */
  checks: readonly CheckResult[] | null;
  /** The newest restore drill (verify-restore) and the newest that passed; null before the first. */
  drill: DrillFacts | null;
  /** Corrupt data pages in the newest DONE backup; null when it was not verified (or none). */
  corruptPages: number | null;
}

export interface DrillFacts {
  lastSuccess: boolean;
  lastEndSeconds: number;
  lastDurationSeconds: number;
  lastSuccessEndSeconds: number | null;
}

/** What `barman daemon` tells of itself when it serves /metrics. */
export interface DaemonHealth {
  startedSeconds: number;
  reloads: number;
  jobs: Array<{
    job: string;
    runs: { success: number; failure: number; skipped: number };
    running: boolean;
    last: { endSeconds: number; durationSeconds: number; success: boolean } | null;
    nextSeconds: number | null;
  }>;
}

export interface MetricsSnapshot {
  servers: ServerSnapshot[];
  /** Set by the daemon serving /metrics; absent for `barman metrics`. */
  daemon?: DaemonHealth;
  /** When the collection started, ms since the epoch (ages are measured from it). */
  nowMs: number;
  durationSeconds: number;
}

export interface CollectOptions {
  report: Reporter;
  log: Logger;
  /** Seconds for the pg_stat_archiver session of each server; null: PostgreSQL is not asked. */
  postgresTimeoutSeconds: number | null;
  /** The check results to expose for a server (e.g. runServerChecks); absent: none. */
  checkResults?: (entry: ServerEntry) => Promise<readonly CheckResult[] | null>;
  nowMs?: number;
}

const QUEUES: readonly WalQueue[] = ['incoming', 'streaming', 'errors'];

export async function collectMetrics(
  entries: readonly ServerEntry[],
  options: CollectOptions,
): Promise<MetricsSnapshot> {
  const started = process.hrtime.bigint();
  const nowMs = options.nowMs ?? Date.now();
  const servers = await Promise.all(entries.map((entry) => collectServer(entry, options, nowMs)));
  return { servers, nowMs, durationSeconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function collectServer(
  entry: ServerEntry,
  options: CollectOptions,
  nowMs: number,
): Promise<ServerSnapshot> {
  const config = entry.config;
  const snapshot: ServerSnapshot = {
    server: entry.name,
    active: config.active !== false,
    disabled: entry.disabled,
    catalog: null,
    catalogError: null,
    queues: [],
    postgres: null,
    checks: null,
    drill: null,
    corruptPages: null,
  };
  if (entry.disabled) return snapshot;
  const log = options.log.child({ server: entry.name });

  const postgres =
    options.postgresTimeoutSeconds !== null && config.conninfo && config.archiver
      ? probeArchiver(config, options.postgresTimeoutSeconds)
      : Promise.resolve(null);
  // Settled here: it runs while the catalogue is read, and must never be an unhandled rejection.
  const checks = (options.checkResults?.(entry) ?? Promise.resolve(null)).catch((error: unknown) => {
    options.report.warning(`no check results for server '${entry.name}': ${describeError(error)}`);
    return null;
  });

  try {
    const catalog = await loadServerCatalog(config, options.report, nowMs);
    snapshot.catalog = catalogFacts(catalog, nowMs);
    const newest = catalog.backups.filter((backup) => statusOf(backup) === 'DONE').at(-1);
    if (newest) {
      const pages = await loadPageChecksumResult(config, newest.id);
      if (pages.error) options.report.warning(`server '${entry.name}': ${pages.error}`);
      snapshot.corruptPages = pages.result?.corrupt_total ?? null;
    }
  } catch (error) {
    snapshot.catalogError = describeError(error);
    options.report.warning(
      `cannot read the backup catalogue of server '${entry.name}': ${snapshot.catalogError}`,
    );
  }
  for (const queue of QUEUES) {
    try {
      snapshot.queues.push(await queueFacts(config, queue, nowMs));
    } catch (error) {
      options.report.warning(
        `cannot list the ${queue} WAL directory of server '${entry.name}': ${describeError(error)}`,
      );
    }
  }
  const drills = await loadDrillResults(config);
  if (drills.error) options.report.warning(`server '${entry.name}': ${drills.error}`);
  snapshot.drill = drillFacts(drills.results);
  snapshot.postgres = await postgres;
  if (snapshot.postgres && !snapshot.postgres.up) {
    log.warning(`metrics: PostgreSQL of server '${entry.name}' not reached: ${snapshot.postgres.error}`);
  }
  snapshot.checks = await checks;
  return snapshot;
}

/** Drill results (newest first) as the metrics tell them. */
export function drillFacts(results: readonly DrillResult[]): DrillFacts | null {
  const [last] = results;
  if (!last) return null;
  const passed = results.find((result) => result.status === 'ok');
  return {
    lastSuccess: last.status === 'ok',
    lastEndSeconds: Date.parse(last.ended_at) / 1000,
    lastDurationSeconds: last.duration_seconds,
    lastSuccessEndSeconds: passed ? Date.parse(passed.ended_at) / 1000 : null,
  };
}
