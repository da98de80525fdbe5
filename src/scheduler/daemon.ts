/**
 * `barman daemon`: runs the work of `barman cron`, each server's scheduled backups and restore
 * drills (one drill at a time) until stopped. One daemon per barman_lock_directory (a lock file). Each run is a child process
 * (runs.ts); a run still going when its next time comes is not overlapped (the time is skipped
 * and logged); a failing run is logged and the schedule goes on. SIGHUP reloads the
 * configuration (an invalid one is refused and the running one kept); SIGTERM or SIGINT stops
 * scheduling, passes SIGTERM on to the runs, waits for them, marks FAILED the backups they left
 * unfinished, and returns.
 */
import { join } from 'node:path';
import type { ScheduledTask } from 'node-cron';
import { createTask } from 'node-cron';
import type { BarmanConfig } from '../config/index.js';
import { loadConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import { ensureLockDirectory, lockHolder, tryAcquireLock } from '../locks/index.js';
import type { CommandContext } from '../commands/definition.js';
import { failInterruptedBackups } from '../commands/backup/abandoned.js';
import type { ScheduledJob, SchedulePlan } from './plan.js';
import { schedulePlan } from './plan.js';
import type { RunOutcome } from './runs.js';
import { RunGroup } from './runs.js';
import type { MetricsEndpoint } from '../commands/shared/metrics/http.js';
import type { DaemonSummary } from './health.js';
import { DaemonStats, startMetricsEndpoint } from './health.js';

/** The lock that keeps a second daemon from running on the same barman_lock_directory. */
export function daemonLockPath(config: BarmanConfig): string {
  return join(config.global.barman_lock_directory, '.daemon.lock');
}

export async function runDaemon(ctx: CommandContext): Promise<DaemonSummary> {
  await ensureLockDirectory(ctx.config.global.barman_lock_directory);
  const lockPath = daemonLockPath(ctx.config);
  const lock = tryAcquireLock(lockPath);
  if (!lock) {
    const pid = lockHolder(lockPath);
    throw new BarmanError('daemon-running', `another barman daemon is running${pid ? ` (pid ${pid})` : ''}`, {
      hint: `stop it first, or send it SIGHUP to reload the configuration (lock file ${lockPath})`,
    });
  }
  try {
    return await new Daemon(ctx).run();
  } finally {
    lock.release();
  }
}

class Daemon {
  private config: BarmanConfig;
  private tasks: Array<{ job: ScheduledJob; task: ScheduledTask }> = [];
  private readonly stats = new DaemonStats();
  private endpoint: MetricsEndpoint | null = null;
  private readonly runs: RunGroup;
  private readonly interrupted = new Set<string>();
  private stopping = false;
  /** The restore drill running now (its job name), if any. */
  private drill: string | null = null;
  /** node-cron's own messages (a run missed while the process was stalled) go to the log. */
  private readonly cronLogger = {
    info: (message: string) => this.ctx.log.info(`daemon: ${message}`),
    warn: (message: string) => this.ctx.log.warning(`daemon: ${message}`),
    error: (message: string | Error) => this.ctx.log.error(`daemon: ${String(message)}`),
    debug: (message: string | Error) => this.ctx.log.debug(`daemon: ${String(message)}`),
  };

  constructor(private readonly ctx: CommandContext) {
    this.config = ctx.config;
    this.runs = new RunGroup(ctx.config.configFile, {
      started: (job, pid) => ctx.log.info(`daemon: ${job.name} started`, { pid }),
      // A run logs its own messages to log_file; its stderr also holds what it could not log
      // (a crash, a hook script's output), which the daemon keeps.
      line: (job, line, stream) =>
        stream === 'stderr'
          ? ctx.log.warning(`daemon: ${job.name}: ${line}`)
          : ctx.log.debug(`daemon: ${job.name}: ${line}`),
    });
  }

  async run(): Promise<DaemonSummary> {
    const plan = schedulePlan(this.config);
    if (plan.problems.length > 0) {
      for (const problem of plan.problems) this.ctx.report.error(problem);
      throw new BarmanError('config-invalid', 'barman daemon cannot start: a schedule is invalid', {
        hint: 'fix the options named above (barman check shows them too), then start the daemon again',
      });
    }
    this.endpoint = await startMetricsEndpoint(
      this.config,
      { config: () => this.config, health: () => this.stats.snapshot(this.nextRuns()) },
      this.ctx.log,
      this.ctx.version,
    );
    if (this.endpoint)
      this.ctx.report.info(
        `barman daemon: metrics at http://${this.endpoint.host}:${this.endpoint.port}/metrics`,
      );
    this.schedule(plan);
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const onHangUp = () => void this.reload();
    process.on('SIGHUP', onHangUp);
    try {
      const signal = await stopped;
      this.ctx.report.info(`barman daemon: ${signal} received, stopping (${this.runs.size} run(s) going)`);
      await this.stop();
    } finally {
      process.off('SIGHUP', onHangUp);
    }
    return this.stats.summary();
  }

  private schedule(plan: SchedulePlan): void {
    for (const job of plan.jobs) {
      const task = createTask(job.schedule, () => this.execute(job), {
        name: job.name,
        noOverlap: true,
        maxRandomDelay: job.jitterSeconds * 1000,
        logger: this.cronLogger,
      });
      task.on('execution:overlap', () => {
        this.stats.skipped(job.name);
        this.ctx.report.warning(`barman daemon: ${job.name} is still running: this scheduled run is skipped`);
      });
      void task.start();
      this.tasks.push({ job, task });
    }
    const names = plan.jobs.map((job) => `${job.name} (${job.schedule})`).join(', ');
    this.ctx.report.info(`barman daemon: scheduled ${names}`);
  }

  private async execute(job: ScheduledJob): Promise<void> {
    if (this.stopping) return;
    // Restore drills run one at a time, whichever server: each needs a backup's worth of disk.
    if (job.kind === 'drill' && this.drill !== null) {
      this.stats.skipped(job.name);
      this.ctx.report.warning(`barman daemon: ${this.drill} is running: ${job.name} is skipped this time`);
      return;
    }
    this.ctx.report.info(`barman daemon: starting ${job.name}`);
    this.stats.started(job.name);
    if (job.kind === 'drill') this.drill = job.name;
    try {
      this.record(await this.runs.run(job));
    } finally {
      if (job.kind === 'drill') this.drill = null;
    }
  }

  private record(outcome: RunOutcome): void {
    this.stats.ended(outcome);
    const { job, code, signal, seconds } = outcome;
    const took = `${seconds.toFixed(1)} s`;
    if (code === 0) {
      this.ctx.report.info(`barman daemon: ${job.name} finished in ${took}`);
      return;
    }
    if (signal && job.server && job.kind === 'backup') this.interrupted.add(job.server);
    this.ctx.report.warning(
      `barman daemon: ${job.name} ${signal ? `was ended by ${signal}` : `failed with exit code ${code}`} after ${took} (see the log for its output)`,
    );
  }

  /** SIGHUP: a configuration that loads and whose schedules are valid replaces the running one. */
  private async reload(): Promise<void> {
    if (this.stopping) return;
    let config: BarmanConfig;
    let plan: SchedulePlan;
    try {
      config = loadConfig({ configFile: this.config.configFile });
      plan = schedulePlan(config);
    } catch (error) {
      this.ctx.report.warning(
        `barman daemon: SIGHUP: the configuration was not reloaded: ${describeError(error)}`,
      );
      return;
    }
    if (plan.problems.length > 0) {
      for (const problem of plan.problems)
        this.ctx.report.warning(`barman daemon: SIGHUP: the configuration was not reloaded: ${problem}`);
      return;
    }
    if (formatAddress(config) !== formatAddress(this.config))
      this.ctx.report.warning(
        'barman daemon: SIGHUP: daemon_metrics_address changes take effect when the daemon restarts',
      );
    await this.clearTasks();
    this.config = config;
    this.stats.reloads += 1;
    this.ctx.report.info(`barman daemon: configuration reloaded from ${config.configFile}`);
    this.schedule(plan);
  }

  /** When each scheduled job is due next. */
  private nextRuns(): Map<string, Date | null> {
    return new Map(this.tasks.map(({ job, task }) => [job.name, task.getNextRun()]));
  }

  private async clearTasks(): Promise<void> {
    const tasks = this.tasks;
    this.tasks = [];
    for (const { task } of tasks) await task.destroy();
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    await this.clearTasks();
    this.runs.signal('SIGTERM');
    for (const outcome of await this.runs.drain()) this.record(outcome);
    for (const server of this.interrupted) {
      const entry = this.config.servers.get(server);
      if (!entry) continue;
      await failInterruptedBackups(this.ctx, entry.config).catch((error: unknown) =>
        this.ctx.report.warning(
          `barman daemon: cannot check the backups of ${server}: ${describeError(error)}`,
        ),
      );
    }
    await this.endpoint?.close();
    this.ctx.report.info('barman daemon: stopped');
  }
}

function formatAddress(config: BarmanConfig): string {
  const address = config.global.daemon_metrics_address;
  return address ? `${address.host}:${address.port}` : 'off';
}
