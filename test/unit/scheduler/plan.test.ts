/**
 * Schedules: the configuration's cheap check of a cron expression (no scheduler library at load)
 * never accepts what node-cron rejects, and the daemon's plan holds cron plus each active
 * server's scheduled backup, with problems named by file, section and option.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validate } from 'node-cron';
import { formatProblem, loadConfig } from '../../../src/config/index.js';
import { schedulePlan } from '../../../src/scheduler/plan.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';
const SERVER = (name: string, extra = '') =>
  `[${name}]\nconninfo = host=x\nbackup_method = postgres\nstreaming_conninfo = host=x\n${extra}`;

function load(text: string) {
  const dir = writeConfigFiles({ 'barman.conf': text });
  return loadConfig({ configFile: join(dir, 'barman.conf') });
}

function scheduleErrors(expression: string): string[] {
  const entry = load(`${GLOBAL}${SERVER('pg', `backup_schedule = ${expression}\n`)}`).servers.get('pg')!;
  return entry.problems.filter((problem) => problem.severity === 'error').map(formatProblem);
}

describe('backup_schedule in the configuration', () => {
  const valid = [
    '30 2 * * *',
    '*/5 * * * * *',
    '0 2 * * 0-7',
    '0 3 * * mon-fri',
    '0 0 1,15 * *',
    '0 2 L * *',
    '0 2 * * 5#2',
  ];
  const invalid = [
    '* * *',
    '61 * * * *',
    '0 24 * * *',
    '0 0 0 * *',
    '0 0 * 13 *',
    '*/0 * * * *',
    '0 2 * * 8',
    '0 2 * * $',
  ];

  it('accepts what node-cron runs', () => {
    for (const expression of valid) {
      assert.ok(validate(expression), `node-cron runs ${expression}`);
      assert.deepEqual(scheduleErrors(expression), [], expression);
    }
  });

  it('refuses, naming file, section and option, what node-cron would refuse', () => {
    for (const expression of invalid) {
      assert.equal(validate(expression), false, `node-cron refuses ${expression}`);
      const [error, ...rest] = scheduleErrors(expression);
      assert.equal(rest.length, 0, expression);
      assert.match(error ?? '', /^\[pg\] backup_schedule: .*\(.*barman\.conf, line \d+\)$/, expression);
    }
  });
});

describe('the daemon plan', () => {
  it('runs cron on daemon_cron_schedule and each active server on its backup_schedule, with its jitter', () => {
    const config = load(
      `${GLOBAL}daemon_cron_schedule = */10 * * * * *\nbackup_schedule_jitter = 30\n` +
        `${SERVER('a', 'backup_schedule = 0 2 * * *\n')}` +
        `${SERVER('b', 'backup_schedule = 0 3 * * *\nbackup_schedule_jitter = 0\n')}` +
        `${SERVER('c')}` +
        `${SERVER('d', 'backup_schedule = 0 4 * * *\nactive = false\n')}`,
    );
    const plan = schedulePlan(config);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(
      plan.jobs.map((job) => [job.name, job.schedule, job.jitterSeconds, job.args.join(' ')]),
      [
        ['cron', '*/10 * * * * *', 0, 'cron'],
        ['backup a', '0 2 * * *', 30, 'backup a'],
        ['backup b', '0 3 * * *', 0, 'backup b'],
      ],
    );
  });

  it('names the option of a schedule node-cron refuses beyond the configuration check', () => {
    // `5#9` passes the cheap check (digits in range, allowed characters), node-cron refuses it.
    const config = load(`${GLOBAL}${SERVER('a', 'backup_schedule = 0 2 * * 5#9\n')}`);
    const plan = schedulePlan(config);
    assert.equal(validate('0 2 * * 5#9'), false);
    assert.deepEqual(
      plan.jobs.map((job) => job.name),
      ['cron'],
    );
    assert.equal(plan.problems.length, 1);
    assert.match(
      plan.problems[0]!,
      /^\[a\] backup_schedule: '0 2 \* \* 5#9' is not a valid cron expression: .*barman\.conf, line \d+\)$/,
    );
  });
});

describe('restore_drill_schedule', () => {
  it('runs verify-restore SERVER on its own schedule, without the backup jitter, beside the backups', () => {
    const config = load(
      `${GLOBAL}backup_schedule_jitter = 30\n` +
        `${SERVER('a', 'backup_schedule = 0 2 * * *\nrestore_drill_schedule = 0 5 * * 0\n')}` +
        `${SERVER('b', 'restore_drill_schedule = */20 * * * * *\nactive = false\n')}`,
    );
    const plan = schedulePlan(config);
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(
      plan.jobs.map((job) => [job.name, job.kind, job.schedule, job.jitterSeconds, job.args.join(' ')]),
      [
        ['cron', 'cron', '* * * * *', 0, 'cron'],
        ['backup a', 'backup', '0 2 * * *', 30, 'backup a'],
        ['restore-drill a', 'drill', '0 5 * * 0', 0, 'verify-restore a'],
      ],
    );
  });

  it('is validated like backup_schedule, naming its own option', () => {
    const refused = load(`${GLOBAL}${SERVER('a', 'restore_drill_schedule = weekly\n')}`).servers.get('a')!;
    assert.match(
      refused.problems.map(formatProblem).join('\n'),
      /\[a\] restore_drill_schedule: expected a cron expression of 5 or 6 fields, got 'weekly'/,
    );
    const plan = schedulePlan(load(`${GLOBAL}${SERVER('a', 'restore_drill_schedule = 0 2 * * 5#9\n')}`));
    assert.deepEqual(
      plan.jobs.map((job) => job.name),
      ['cron'],
    );
    assert.match(
      plan.problems[0]!,
      /^\[a\] restore_drill_schedule: '0 2 \* \* 5#9' is not a valid cron expression/,
    );
  });
});

describe('daemon_metrics_address', () => {
  it('is 127.0.0.1:9780 by default, HOST:PORT or off, and refused naming the option otherwise', () => {
    assert.deepEqual(load(GLOBAL).global.daemon_metrics_address, { host: '127.0.0.1', port: 9780 });
    assert.deepEqual(load(`${GLOBAL}daemon_metrics_address = [::1]:9100\n`).global.daemon_metrics_address, {
      host: '::1',
      port: 9100,
    });
    assert.equal(load(`${GLOBAL}daemon_metrics_address = off\n`).global.daemon_metrics_address, null);
    assert.throws(() => load(`${GLOBAL}daemon_metrics_address = everywhere\n`), {
      message:
        /^\[barman\] daemon_metrics_address: expected HOST:PORT \(e\.g\. 127\.0\.0\.1:9780\) or off, got 'everywhere'/,
    });
  });
});
