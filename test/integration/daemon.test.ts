/**
 * `barman daemon` against a real PostgreSQL 15: scheduled local-rsync backups every few seconds
 * completed by its cron work (WAL archived through archive_command → put-wal), a slow backup
 * never overlapped by the next scheduled one, SIGHUP picking up a changed schedule, a new server
 * and a server whose backups fail (logged, the schedule goes on), an invalid reload refused with
 * the running schedule kept, SIGTERM during a backup leaving it FAILED (and nothing of it
 * running), one daemon at a time, and a schedule only node-cron can refuse stopping the start
 * with the option named.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer, RunningBarman } from '../harness/index.js';
import {
  BARMAN_BIN,
  createDir,
  freePort,
  isRoot,
  makeTempDir,
  runAs,
  runBarman,
  startBarman,
  startPostgres,
  waitFor,
  writeBarmanConfig,
  readBackupInfoFields,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** The daemon's output so far, as it arrives. */
class RunningDaemon {
  output = '';
  constructor(readonly run: RunningBarman) {
    run.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    run.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }
  async waitForOutput(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    await waitFor(`daemon output ${pattern}`, () => pattern.test(this.output), {
      timeoutMs,
      intervalMs: 100,
    });
  }
}

describe('barman daemon', { concurrency: 1, skip: !isRoot() && 'needs root (runs as postgres)' }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let daemon: RunningDaemon | undefined;
  let metricsPort: number;
  const baseOf = (server: string) => join(dir, 'home', server, 'base');
  const backupIds = (server: string) =>
    existsSync(baseOf(server)) ? readdirSync(baseOf(server)).sort() : [];
  const infoOf = (server: string, id: string) =>
    readBackupInfoFields(join(baseOf(server), id, 'backup.info'));
  const withStatus = (server: string, status: string) =>
    backupIds(server).filter(
      (id) => existsSync(join(baseOf(server), id, 'backup.info')) && infoOf(server, id).status === status,
    );
  const server = (extra: IniSection = {}): IniSection => ({
    conninfo: pg.conninfo,
    backup_method: 'local-rsync',
    archiver: true,
    immediate_checkpoint: true,
    path_prefix: PG15_BIN,
    ...extra,
  });
  /** Rewrites the configuration file the daemon reads (archive_command, as postgres, reads it too). */
  const writeConfig = (servers: Record<string, IniSection>, global: IniSection = {}) =>
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        daemon_cron_schedule: '*/2 * * * * *',
        daemon_metrics_address: `127.0.0.1:${metricsPort}`,
        ...global,
      },
      servers,
    });
  const logLines = () =>
    readFileSync(join(dir, 'log', 'barman.log'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { msg: string; time: string });
  const startDaemon = () => new RunningDaemon(startBarman(['-c', config, 'daemon']));
  const stopDaemon = async (current: RunningDaemon) => {
    current.run.child.kill('SIGTERM');
    return current.run.exited;
  };

  before(async () => {
    dir = await makeTempDir('daemon', { owner: 'postgres' });
    metricsPort = await freePort();
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'log']) await createDir(join(dir, sub), { owner: 'postgres' });
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    await runAs('postgres', join(PG15_BIN, 'psql'), [
      ...['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-c'],
      'CREATE TABLE marker AS SELECT generate_series(1, 1000) AS id',
    ]);
  });

  after(async () => {
    if (daemon && daemon.run.child.exitCode === null) await stopDaemon(daemon);
    await pg?.stop();
  });

  it('takes the scheduled backups on time, and its cron work completes them', async () => {
    writeConfig({ main: server({ backup_schedule: '*/6 * * * * *' }) });
    daemon = startDaemon();
    await daemon.waitForOutput(
      /scheduled cron \(\*\/2 \* \* \* \* \*\), backup main \(\*\/6 \* \* \* \* \*\)/,
    );
    await waitFor('two DONE backups', () => withStatus('main', 'DONE').length >= 2, { timeoutMs: 90_000 });
    // The daemon logs when each run starts: on the 6-second marks (the backup ids, taken after
    // the run's checks, may lag under load).
    const starts = logLines()
      .filter((line) => line.msg === 'barman daemon: starting backup main')
      .map((line) => new Date(line.time));
    assert.ok(starts.length >= 2, 'two scheduled backups started');
    for (const start of starts)
      assert.ok(
        start.getSeconds() % 6 === 0 && start.getMilliseconds() < 900,
        `started on time: ${start.toISOString()}`,
      );
    assert.doesNotMatch(daemon.output, /ERROR|failed with exit code/, daemon.output);
  });

  it('SIGHUP: a slow backup is not overlapped by the next scheduled one, and a new server is picked up', async () => {
    const running = daemon!;
    const before = new Set(backupIds('main'));
    writeConfig({
      main: server({ backup_schedule: '*/2 * * * * *', pre_backup_script: 'sleep 5' }),
      second: server({ backup_schedule: '*/4 * * * * *' }),
      // A server whose backups fail: the daemon logs each failure and goes on.
      broken: server({ backup_schedule: '*/3 * * * * *', conninfo: 'host=127.0.0.1 port=1 user=postgres' }),
    });
    running.run.child.kill('SIGHUP');
    await running.waitForOutput(/configuration reloaded/);
    await running.waitForOutput(/backup main is still running: this scheduled run is skipped/);
    // Its WAL is not archived (archive_command feeds main): a started backup is what is asked here.
    await running.waitForOutput(/starting backup second/);
    await waitFor('a backup of the new server', () => backupIds('second').length >= 1, { timeoutMs: 60_000 });
    await waitFor(
      'a slow backup of main done',
      () => withStatus('main', 'DONE').some((id) => !before.has(id)),
      {
        timeoutMs: 90_000,
      },
    );
    assert.doesNotMatch(running.output, /Another backup process is running/);
    assert.match(running.output, /backup broken failed with exit code 1 after/);
    // /metrics: the catalogue's metrics and the daemon's own, skipped and failed runs included.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const value = (series: string) => {
      const line = metrics.split('\n').find((candidate) => candidate.startsWith(`${series} `));
      return line === undefined ? NaN : Number(line.slice(series.length + 1));
    };
    assert.ok(value('barman_daemon_runs_total{job="backup main",result="skipped"}') >= 1, metrics);
    assert.ok(value('barman_daemon_runs_total{job="backup broken",result="failure"}') >= 1, metrics);
    assert.equal(value('barman_daemon_reloads_total'), 1, metrics);
    assert.ok(value('barman_last_backup_timestamp_seconds{server="main"}') > 0, metrics);
    assert.ok(
      value('barman_daemon_next_run_timestamp_seconds{job="cron"}') * 1000 > Date.now() - 1000,
      metrics,
    );
    // No two backups of main ran at the same time.
    const spans = backupIds('main')
      .map((id) => infoOf('main', id))
      .filter((info) => info.status === 'DONE')
      .map((info) => [Date.parse(info.begin_time!), Date.parse(info.end_time!)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let index = 1; index < spans.length; index += 1)
      assert.ok(spans[index]![0] >= spans[index - 1]![1], 'backups of main do not overlap');
  });

  it('SIGHUP with an invalid configuration keeps the running schedule', async () => {
    const running = daemon!;
    writeConfig({ main: server({ backup_schedule: '0 2 * * 5#9' }) });
    running.run.child.kill('SIGHUP');
    await running.waitForOutput(
      /SIGHUP: the configuration was not reloaded: \[main\] backup_schedule: '0 2 \* \* 5#9'/,
    );
    assert.equal(running.run.child.exitCode, null, 'the daemon still runs');
  });

  it('a second daemon is refused while one runs', async () => {
    const second = await runBarman(['-c', config, 'daemon'], { timeoutMs: 30_000 });
    assert.equal(second.exitCode, 1);
    assert.match(second.stderr, /another barman daemon is running \(pid \d+\)/);
  });

  it('SIGTERM during a backup: the daemon stops, the backup is FAILED and nothing of it runs', async () => {
    const running = daemon!;
    writeConfig({ main: server({ backup_schedule: '*/2 * * * * *', pre_backup_script: 'sleep 300' }) });
    running.run.child.kill('SIGHUP');
    await running.waitForOutput(/configuration reloaded(.|\n)*starting backup main/);
    const before = new Set(withStatus('main', 'FAILED'));
    await waitFor('the slow backup to have begun', () => /sleep 300/.test(processes()), {
      timeoutMs: 30_000,
    });
    const stopped = await stopDaemon(running);
    assert.equal(stopped.exitCode, 0, stopped.stderr);
    assert.match(stopped.stdout, /SIGTERM received, stopping/);
    assert.match(stopped.stdout + stopped.stderr, /barman daemon: stopped/);
    const failed = withStatus('main', 'FAILED').filter((id) => !before.has(id));
    assert.equal(failed.length, 1, stopped.stdout + stopped.stderr);
    assert.equal(infoOf('main', failed[0]!).error, 'failure: the backup process was interrupted');
    assert.doesNotMatch(processes(), /sleep 300/, 'the backup hook was stopped with its run');
    // The backup lock is free: the next backup runs.
    writeConfig({ main: server() });
    const next = await runBarman(['-c', config, 'backup', '--wait', 'main'], { timeoutMs: 120_000 });
    assert.equal(next.exitCode, 0, next.stderr);
  });

  it('runs the scheduled restore drills one at a time and records their results', async () => {
    await createDir(join(dir, 'drills'), { owner: 'postgres' });
    const drill = { restore_drill_schedule: '*/2 * * * * *', restore_drill_directory: join(dir, 'drills') };
    writeConfig({ main: server(drill), second: server(drill) });
    const running = startDaemon();
    await running.waitForOutput(/restore-drill main \(\*\/2 \* \* \* \* \*\), restore-drill second/);
    await running.waitForOutput(/barman daemon: restore-drill main (finished|failed)/, 120_000);
    await running.waitForOutput(
      /restore-drill (main|second) is running: restore-drill (main|second) is skipped/,
    );
    const stopped = await stopDaemon(running);
    assert.equal(stopped.exitCode, 0, stopped.stderr);
    assert.match(running.output, /barman daemon: restore-drill main finished/, running.output);
    // Never two drills at once: each start is followed by its end before the next start.
    const messages = logLines()
      .map((entry) => entry.msg)
      .filter((message) =>
        /^barman daemon: (starting restore-drill|restore-drill \w+ (finished|failed|was ended))/.test(
          message,
        ),
      );
    let open = 0;
    for (const message of messages) {
      open += message.includes('starting restore-drill') ? 1 : -1;
      assert.ok(open <= 1, `two drills at once: ${messages.join(' | ')}`);
    }
    const results = JSON.parse(readFileSync(join(dir, 'home/main/restore-drills.json'), 'utf8')) as {
      results: Array<{ status: string }>;
    };
    assert.equal(results.results[0]!.status, 'ok');
    assert.deepEqual(readdirSync(join(dir, 'drills')), []);
  });

  it('refuses to start on a schedule node-cron refuses, naming the option', async () => {
    writeConfig({ main: server({ backup_schedule: '0 2 * * 5#9' }) });
    const run = await runBarman(['-c', config, 'daemon'], { timeoutMs: 30_000 });
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /^ERROR: \[main\] backup_schedule: '0 2 \* \* 5#9' is not a valid cron expression: .*barman\.conf, line \d+\)$/m,
    );
    assert.match(run.stderr, /barman daemon cannot start: a schedule is invalid/);
  });
});

function processes(): string {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
}
