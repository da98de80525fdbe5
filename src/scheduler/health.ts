/**
 * What the daemon knows of its own runs (per job: results, the last run, the next), and the
 * /metrics endpoint it serves on daemon_metrics_address: the metrics of `barman metrics` for
 * every server, plus these. A scrape reads the catalogues as `barman metrics` does (no checks:
 * see docs/metrics.md for the cost), PostgreSQL bounded by a short timeout.
 */
import type { BarmanConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { MemoryReporter } from '../output/reporter.js';
import type { DaemonHealth } from '../commands/shared/metrics/collect.js';
import type { MetricsEndpoint } from '../commands/shared/metrics/http.js';
import type { RunOutcome } from './runs.js';

/** Seconds a scrape waits for each server's pg_stat_archiver. */
const SCRAPE_POSTGRES_TIMEOUT_SECONDS = 5;

type JobHealth = DaemonHealth['jobs'][number];

export interface DaemonSummary {
  runs: number;
  failedRuns: number;
  skippedRuns: number;
  reloads: number;
}

export class DaemonStats {
  readonly startedSeconds = Date.now() / 1000;
  reloads = 0;
  private readonly jobs = new Map<string, JobHealth>();

  private job(name: string): JobHealth {
    let health = this.jobs.get(name);
    if (!health) {
      health = {
        job: name,
        runs: { success: 0, failure: 0, skipped: 0 },
        running: false,
        last: null,
        nextSeconds: null,
      };
      this.jobs.set(name, health);
    }
    return health;
  }

  started(name: string): void {
    this.job(name).running = true;
  }

  skipped(name: string): void {
    this.job(name).runs.skipped += 1;
  }

  ended(outcome: RunOutcome): void {
    const health = this.job(outcome.job.name);
    const success = outcome.code === 0;
    health.running = false;
    health.runs[success ? 'success' : 'failure'] += 1;
    health.last = { endSeconds: Date.now() / 1000, durationSeconds: outcome.seconds, success };
  }

  /** What `barman daemon` prints when it stops (`-f json`): the totals of every job. */
  summary(): DaemonSummary {
    const jobs = [...this.jobs.values()];
    const total = (result: keyof JobHealth['runs']) => jobs.reduce((sum, job) => sum + job.runs[result], 0);
    const failedRuns = total('failure');
    return {
      runs: total('success') + failedRuns,
      failedRuns,
      skippedRuns: total('skipped'),
      reloads: this.reloads,
    };
  }

  /** The jobs scheduled now with their next due time; a job no longer scheduled keeps its counts. */
  snapshot(next: ReadonlyMap<string, Date | null>): DaemonHealth {
    for (const name of next.keys()) this.job(name);
    return {
      startedSeconds: this.startedSeconds,
      reloads: this.reloads,
      jobs: [...this.jobs.values()].map((health) => ({
        ...health,
        nextSeconds: dueSeconds(next.get(health.job)),
      })),
    };
  }
}

function dueSeconds(date: Date | null | undefined): number | null {
  return date ? date.getTime() / 1000 : null;
}

export interface HealthSource {
  config(): BarmanConfig;
  health(): DaemonHealth;
}

/** Serves /metrics on daemon_metrics_address; null when it is off. */
export async function startMetricsEndpoint(
  config: BarmanConfig,
  source: HealthSource,
  log: Logger,
  version: string,
): Promise<MetricsEndpoint | null> {
  const address = config.global.daemon_metrics_address;
  if (!address) return null;
  // Loaded only when served: prom-client and the collectors stay out of a daemon that does not.
  const [{ collectMetrics }, { MetricsExposition }, { serveMetrics }] = await Promise.all([
    import('../commands/shared/metrics/collect.js'),
    import('../commands/shared/metrics/exposition.js'),
    import('../commands/shared/metrics/http.js'),
  ]);
  const collect = async () => {
    const report = new MemoryReporter();
    const current = source.config();
    const snapshot = await collectMetrics([...current.servers.values()], {
      report,
      log,
      postgresTimeoutSeconds: SCRAPE_POSTGRES_TIMEOUT_SECONDS,
    });
    // Every problem is a metric too (barman_catalog_readable …): the journal is not flooded per scrape.
    for (const line of report.lines) log.debug(`metrics: ${line.message}`);
    return new MetricsExposition({ ...snapshot, daemon: source.health() }, version).text();
  };
  try {
    return await serveMetrics({ host: address.host, port: address.port, collect, log });
  } catch (error) {
    throw new BarmanError(
      'daemon-metrics-address',
      `barman daemon cannot serve metrics on ${address.host}:${address.port}: ${describeError(error)}`,
      {
        hint: `set daemon_metrics_address in [barman] of ${config.configFile} to a free HOST:PORT, or to off`,
      },
    );
  }
}
