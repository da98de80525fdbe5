/**
 * What `barman daemon` runs and when, read from the configuration: the work of `barman cron` on
 * `daemon_cron_schedule`, and `barman backup SERVER` on each active server's `backup_schedule`.
 * Every schedule is validated field by field with node-cron here (the configuration loader only
 * checks its shape, to keep archive_command's start-up cheap); a wrong one is reported naming
 * file, section and option.
 */
import { validateDetailed } from 'node-cron';
import type { BarmanConfig, ServerEntry } from '../config/index.js';
import { formatProblem } from '../config/index.js';
import type { ConfigProblem } from '../config/index.js';

export interface ScheduledJob {
  /** `cron`, or `backup <server>`: the name the daemon logs. */
  name: string;
  kind: 'cron' | 'backup';
  server: string | null;
  /** node-cron expression (5 fields, or 6 with seconds first). */
  schedule: string;
  /** A run starts after a random delay up to this (backup_schedule_jitter). */
  jitterSeconds: number;
  /** The barman command line of the run, after `barman -c FILE`. */
  args: readonly string[];
}

export interface SchedulePlan {
  jobs: ScheduledJob[];
  /** Schedules that cannot be used, formatted for operators (the job is left out). */
  problems: string[];
}

/** Why `expression` is not a schedule node-cron can run, or null when it is one. */
export function scheduleError(expression: string): string | null {
  const result = validateDetailed(expression);
  if (result.valid) return null;
  const reasons = result.errors.map((error) => error.message).join('; ');
  return `'${expression}' is not a valid cron expression: ${reasons || 'rejected'}`;
}

export function schedulePlan(config: BarmanConfig): SchedulePlan {
  const jobs: ScheduledJob[] = [];
  const problems: string[] = [];
  const cronSchedule = config.global.daemon_cron_schedule;
  const cronError = scheduleError(cronSchedule);
  if (cronError)
    problems.push(
      formatProblem({
        severity: 'error',
        message: cronError,
        file: config.configFile,
        section: 'barman',
        option: 'daemon_cron_schedule',
      }),
    );
  else
    jobs.push({
      name: 'cron',
      kind: 'cron',
      server: null,
      schedule: cronSchedule,
      jitterSeconds: 0,
      args: ['cron'],
    });
  for (const entry of config.servers.values()) {
    const schedule = entry.config.backup_schedule;
    if (schedule === null || entry.disabled || !entry.config.active) continue;
    const error = scheduleError(schedule);
    if (error) {
      problems.push(formatProblem(backupScheduleProblem(entry, error)));
      continue;
    }
    jobs.push({
      name: `backup ${entry.name}`,
      kind: 'backup',
      server: entry.name,
      schedule,
      jitterSeconds: entry.config.backup_schedule_jitter,
      args: ['backup', entry.name],
    });
  }
  return { jobs, problems };
}

/** The problem of a server's backup_schedule, located where the value was written. */
export function backupScheduleProblem(entry: ServerEntry, message: string): ConfigProblem {
  const source = entry.sources.backup_schedule;
  return source?.kind === 'file'
    ? {
        severity: 'error',
        message,
        file: source.file,
        line: source.line,
        section: source.section,
        option: 'backup_schedule',
      }
    : { severity: 'error', message, section: entry.name, option: 'backup_schedule' };
}
