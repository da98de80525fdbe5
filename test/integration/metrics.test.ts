/**
 * `barman metrics` against real parts: PostgreSQL 15 archiving into server `main` (a real
 * pg_basebackup backup), a local-to-cloud backup of the same cluster in s3rver (`cloud`), and a
 * copy of Barman 3.4's catalogue (`old34`, hours old) whose PostgreSQL accepts connections and
 * never answers. The output passes `promtool check metrics`; a real Prometheus scrapes it from a
 * `/metrics` endpoint (commands/shared/metrics/http.ts, one `barman metrics` run per scrape), the series appear in
 * its API, an overdue-backup query and alert name `old34` alone, and the alert rules of
 * docs/metrics.md load and evaluate.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MetricsEndpoint } from '../../src/commands/shared/metrics/http.js';
import { serveMetrics } from '../../src/commands/shared/metrics/http.js';
import { silentLogger } from '../../src/log/index.js';
import type { PostgresServer, PrometheusServer, S3Server } from '../harness/index.js';
import {
  BARMAN34_FIXTURE,
  BARMAN_BIN,
  makeTempDir,
  PROMTOOL_BIN,
  requireDebianPackages,
  runBarman,
  startPostgres,
  startPrometheus,
  startS3Server,
  switchWalAndWaitArchived,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'metrics';
const DOCS = new URL('../../../docs/metrics.md', import.meta.url);

/** `name{labels} value` lines of an exposition, by series text. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

describe('barman metrics with PostgreSQL, s3rver and Prometheus', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let s3: S3Server;
  let prometheus: PrometheusServer | undefined;
  let endpoint: MetricsEndpoint | undefined;
  let silent: TcpServer;
  const sockets: Socket[] = [];
  let dir: string;
  let config: string;

  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: s3.env, timeoutMs: 300_000 });

  const writeConfig = (port?: number) =>
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: {
        barman_user: 'postgres',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
      },
      servers: {
        main: {
          conninfo: `host=127.0.0.1${port === undefined ? '' : ` port=${port}`} user=postgres dbname=postgres`,
          backup_method: 'postgres',
          archiver: true,
          retention_policy: 'REDUNDANCY 1',
        },
        cloud: {
          conninfo: `host=127.0.0.1${port === undefined ? '' : ` port=${port}`} user=postgres dbname=postgres`,
          backup_method: 'local-to-cloud',
          backup_compression: 'gzip',
          immediate_checkpoint: true,
          basebackups_directory: `s3://${BUCKET}/barman/cloud/base`,
          wals_directory: `s3://${BUCKET}/barman/cloud/wals`,
        },
        old34: {
          conninfo: `host=127.0.0.1 port=${(silent.address() as AddressInfo).port} user=postgres dbname=postgres`,
          backup_method: 'postgres',
          archiver: true,
          backup_directory: join(dir, 'old34'),
        },
      },
    });

  before(async () => {
    requireDebianPackages('prometheus');
    // A PostgreSQL that accepts connections and never answers: the scrape must not wait for it.
    silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('metrics', { owner: 'postgres' });
    cpSync(join(BARMAN34_FIXTURE, 'catalog', 'pg'), join(dir, 'old34'), { recursive: true });
    execFileSync('chown', ['-R', 'postgres', join(dir, 'old34')]);
    config = writeConfig();
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeConfig(pg.port);
    await pg.query('CREATE TABLE items AS SELECT generate_series(1, 1000) AS id');
    await switchWalAndWaitArchived(pg);
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    for (const server of ['main', 'cloud']) {
      const backup = await barman('backup', '--wait', server);
      assert.equal(backup.exitCode, 0, `${server}: ${backup.stderr}${backup.stdout}`);
    }
    // A segment waiting in old34's incoming/ (after cron, which would have archived it).
    mkdirSync(join(dir, 'old34', 'incoming'), { recursive: true });
    writeFileSync(join(dir, 'old34', 'incoming', '00000001000000000000000D'), Buffer.alloc(4096));
    execFileSync('chown', ['-R', 'postgres', join(dir, 'old34', 'incoming')]);
  });

  after(async () => {
    await prometheus?.stop();
    await endpoint?.close();
    for (const socket of sockets) socket.destroy();
    silent?.close();
    await pg?.stop();
    await s3?.stop();
  });

  it('prints metrics promtool accepts, with the real backups, the bucket and a hanging server', async () => {
    const started = Date.now();
    const run = await barman('metrics', '--postgres-timeout', '2');
    assert.equal(run.exitCode, 0, run.stderr);
    // Servers are collected concurrently: the silent PostgreSQL costs its 2 s, not more.
    assert.ok(Date.now() - started < 20_000, `metrics took ${Date.now() - started} ms`);
    const lint = execFileSync(PROMTOOL_BIN, ['check', 'metrics'], { input: run.stdout, encoding: 'utf8' });
    assert.equal(lint, '');
    const values = samples(run.stdout);
    const value = (series: string) => {
      assert.ok(values.has(series), `${series} missing from:\n${run.stdout}`);
      return values.get(series)!;
    };
    for (const server of ['main', 'cloud']) {
      assert.equal(value(`barman_backups{server="${server}",status="DONE"}`), 1);
      assert.ok(value(`barman_last_backup_age_seconds{server="${server}"}`) < 600);
      assert.ok(value(`barman_last_backup_size_bytes{server="${server}"}`) > 1_000_000);
      assert.ok(value(`barman_last_backup_duration_seconds{server="${server}"}`) > 0);
      assert.equal(value(`barman_catalog_readable{server="${server}"}`), 1);
    }
    // main's WAL came through archive_command: PostgreSQL and the catalogue both say so.
    assert.equal(value('barman_postgres_up{server="main"}'), 1);
    assert.ok(value('barman_postgres_archived_wals_total{server="main"}') >= 2);
    assert.equal(value('barman_postgres_archive_failures_total{server="main"}'), 0);
    // The first backup removed the WAL before it: its own segment is left.
    assert.ok(value('barman_wal_archive_segments{server="main"}') >= 1);
    assert.ok(value('barman_wal_archived_last_hour_segments{server="main"}') >= 1);
    assert.ok(value('barman_wal_last_archived_age_seconds{server="main"}') < 600);
    assert.equal(value('barman_retention_policy_satisfied{server="main"}'), 1);
    assert.equal(value('barman_retention_backups{server="main",status="VALID"}'), 1);
    assert.equal(
      value('barman_first_recoverability_point_timestamp_seconds{server="main"}'),
      value('barman_last_backup_timestamp_seconds{server="main"}'),
    );
    // The Barman 3.4 catalogue: hours old, its PostgreSQL silent, a segment waiting.
    assert.ok(value('barman_last_backup_age_seconds{server="old34"}') > 3600);
    assert.equal(value('barman_backups{server="old34",status="FAILED"}'), 1);
    assert.equal(value('barman_postgres_up{server="old34"}'), 0);
    assert.equal(value('barman_wal_queue_files{server="old34",queue="incoming"}'), 1);
    assert.equal(value('barman_wal_queue_bytes{server="old34",queue="incoming"}'), 4096);
  });

  it('--checks adds one series per check; -f json gives the same metrics; a bad server name fails', async () => {
    const run = await barman('metrics', '--checks', '--no-postgres', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    execFileSync(PROMTOOL_BIN, ['check', 'metrics'], { input: run.stdout });
    const values = samples(run.stdout);
    assert.equal(values.get('barman_check_ok{server="main",check="PostgreSQL"}'), 1);
    assert.equal(values.get('barman_check_ok{server="main",check="wal_level"}'), 1);
    assert.equal(values.get('barman_check_ok{server="main",check="continuous archiving"}'), 1);
    assert.ok(!values.has('barman_postgres_up{server="main"}'));
    assert.ok(![...values.keys()].some((series) => series.includes('server="old34"')));

    const json = await barman('-f', 'json', 'metrics', '--no-postgres', 'old34');
    assert.equal(json.exitCode, 0, json.stderr);
    const document = JSON.parse(json.stdout) as {
      metrics: Array<{
        name: string;
        type: string;
        values: Array<{ labels: Record<string, string>; value: number }>;
      }>;
    };
    const age = document.metrics.find((metric) => metric.name === 'barman_last_backup_age_seconds')!;
    assert.equal(age.type, 'gauge');
    assert.deepEqual(age.values[0]!.labels, { server: 'old34' });
    assert.ok(age.values[0]!.value > 3600);

    const unknown = await barman('metrics', 'nosuch');
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /Unknown server 'nosuch'/);
  });

  it('a real Prometheus scrapes the output: the series appear and the overdue server is the one found', async () => {
    const docRules = /<!-- alert-rules:begin -->\s*```yaml\n([\s\S]*?)```\s*<!-- alert-rules:end -->/.exec(
      readFileSync(DOCS, 'utf8'),
    );
    assert.ok(docRules, 'docs/metrics.md has its alert rules block');
    const rulesFile = join(dir, 'doc-rules.yml');
    writeFileSync(rulesFile, docRules[1]!);
    execFileSync(PROMTOOL_BIN, ['check', 'rules', rulesFile]);
    const testRules = [
      'groups:',
      '  - name: test',
      '    rules:',
      '      - alert: TestBackupOverdue',
      '        expr: barman_last_backup_age_seconds > 3600',
    ].join('\n');

    // The endpoint the scheduler will serve, here answering each scrape with one CLI run.
    let scrapes = 0;
    endpoint = await serveMetrics({
      port: 0,
      log: silentLogger,
      collect: async () => {
        scrapes += 1;
        const run = await barman('metrics', '--no-postgres');
        if (run.exitCode !== 0) throw new Error(`barman metrics exited ${run.exitCode}: ${run.stderr}`);
        return run.stdout;
      },
    });
    const target = `127.0.0.1:${endpoint.port}`;
    assert.equal(endpoint.host, '127.0.0.1');
    assert.equal((await fetch(`http://${target}/`)).status, 404);
    assert.equal((await fetch(`http://${target}/metrics`, { method: 'POST' })).status, 405);
    prometheus = await startPrometheus({ targets: [target], ruleFiles: [docRules[1]!, testRules] });
    const p = prometheus;

    try {
      await waitFor(
        'the barman series in Prometheus',
        async () => (await p.query('barman_build_info')).length === 1,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
        },
      );
      const servers = (await p.query('barman_server_active')).map((row) => row.metric.server).sort();
      assert.deepEqual(servers, ['cloud', 'main', 'old34']);
      const overdue = await p.query('barman_last_backup_age_seconds > 3600');
      assert.deepEqual(
        overdue.map((row) => row.metric.server),
        ['old34'],
      );
      await waitFor(
        'TestBackupOverdue firing',
        async () => {
          const { alerts } = await p.api<{
            alerts: Array<{ labels: Record<string, string>; state: string }>;
          }>('/api/v1/alerts');
          const firing = alerts.filter((alert) => alert.labels.alertname === 'TestBackupOverdue');
          return firing.length === 1 && firing[0]!.labels.server === 'old34' && firing[0]!.state === 'firing';
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      const { groups } = await p.api<{
        groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }>;
      }>('/api/v1/rules');
      const documented = groups.find((group) => group.name === 'barman')!;
      assert.ok(documented.rules.length >= 5);
      for (const rule of documented.rules) assert.equal(rule.health, 'ok', `${rule.name} evaluates`);
      assert.ok(scrapes >= 1);
      const [up] = await p.query('up{job="barman"}');
      assert.equal(up!.value[1], '1');
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- prometheus log ---\n${p.logTail()}`, {
        cause: error,
      });
    }
  });
});
