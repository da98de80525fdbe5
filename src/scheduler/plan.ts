/**
 * What `barman daemon` runs and when, read from the configuration: the work of `barman cron` on
 * `daemon_cron_schedule`, `barman backup SERVER` on each active server's `backup_schedule`, and
 * `barman verify-restore SERVER` on its `restore_drill_schedule`.
 * Every schedule is validated field by field with node-cron here (the configuration loader only
 * checks its shape, to keep archive_command's start-up cheap); a wrong one is reported naming
 * file, section and option.
 */
import { validateDetailed } from 'node-cron';
import type { BarmanConfig, ServerEntry } from '../config/index.js';
import { formatProblem } from '../config/index.js';
import type { ConfigProblem } from '../config/index.js';

export interface ScheduledJob {
  /** `cron`, `backup <server>` or `restore-drill <server>`: the name the daemon logs. */
  name: string;
  /** `drill`: a restore drill (verify-restore); the daemon runs one at a time. */
  kind: 'cron' | 'backup' | 'drill';
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
    if (entry.disabled || !entry.config.active) continue;
    const scheduled = [
      { option: 'backup_schedule', kind: 'backup', name: 'backup', args: ['backup', entry.name] },
      {
        option: 'restore_drill_schedule',
        kind: 'drill',
        name: 'restore-drill',
        args: ['verify-restore', entry.name],
      },
    ] as const;
    for (const { option, kind, name, args } of scheduled) {
      const schedule = entry.config[option];
      if (schedule === null) continue;
      const error = scheduleError(schedule);
      if (error) {
        problems.push(formatProblem(scheduleProblem(entry, error, option)));
        continue;
      }
      jobs.push({
        name: `${name} ${entry.name}`,
        kind,
        server: entry.name,
        schedule,
        jitterSeconds: kind === 'backup' ? entry.config.backup_schedule_jitter : 0,
        args,
      });
    }
  }
  return { jobs, problems };
}

/** The problem of a server's schedule option, located where the value was written. */
export function scheduleProblem(
  entry: ServerEntry,
  message: string,
  option: 'backup_schedule' | 'restore_drill_schedule',
): ConfigProblem {
  const source = entry.sources[option];
  return source?.kind === 'file'
    ? {
        severity: 'error',
        message,
        file: source.file,
        line: source.line,
        section: source.section,
        option,
      }
    : { severity: 'error', message, section: entry.name, option };
}
