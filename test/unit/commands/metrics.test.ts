/**
 * The values `barman metrics` exposes, computed from real catalogues through the one catalogue
 * loader: Barman 3.4's (the fixture: a standalone-keep backup, a failed one, a named one, gzip
 * WAL) and a hand-built one (recovery windows, an unreadable backup.info, a WAITING_FOR_WALS
 * backup), then the exposition text itself. The bundle keeps prom-client off every path but
 * the metrics command's.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { emptyBackupInfo, formatBackupInfo, parseBackupInfo } from '../../../src/catalog/backup-info.js';
import { loadConfig } from '../../../src/config/index.js';
import { loadServerCatalog } from '../../../src/commands/shared/backup-catalog.js';
import type { CatalogFacts } from '../../../src/commands/shared/metrics/catalog-facts.js';
import { catalogFacts } from '../../../src/commands/shared/metrics/catalog-facts.js';
import type { DrillResult } from '../../../src/catalog/drills.js';
import type { MetricsSnapshot } from '../../../src/commands/shared/metrics/collect.js';
import { drillFacts } from '../../../src/commands/shared/metrics/collect.js';
import { MetricsExposition } from '../../../src/commands/shared/metrics/exposition.js';
import { queueFacts } from '../../../src/commands/shared/metrics/live-facts.js';
import { serveMetrics } from '../../../src/commands/shared/metrics/http.js';
import { silentLogger } from '../../../src/log/index.js';
import type { Reporter } from '../../../src/output/reporter.js';
import { BARMAN34_FIXTURE, fixtureBackupId } from '../../harness/fixtures.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const warnings: string[] = [];
const report = {
  info: () => undefined,
  warning: (message: string) => warnings.push(message),
  error: (message: string) => warnings.push(message),
  errorCount: 0,
} as unknown as Reporter;

function serverConfig(dir: string, options: string) {
  writeFileSync(
    join(dir, 'barman.conf'),
    `[barman]\nbarman_home = ${dir}/home\nbarman_user = root\n[pg]\nconninfo = host=127.0.0.1\n` +
      `backup_method = postgres\narchiver = on\nbackup_directory = ${dir}/pg\n${options}\n`,
  );
  const entry = loadConfig({ configFile: join(dir, 'barman.conf') }).servers.get('pg')!;
  assert.equal(entry.disabled, false, JSON.stringify(entry.problems));
  return entry.config;
}

async function factsOf(dir: string, options: string, nowMs: number): Promise<CatalogFacts> {
  const config = serverConfig(dir, options);
  return catalogFacts(await loadServerCatalog(config, report, nowMs), nowMs);
}

/** backup.info's time as Python writes it (`2026-12-05 20:07:23.147993+00:00`), in seconds (ms precision). */
const seconds = (text: string) =>
  Math.trunc(Date.parse(text.replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1'))) / 1000;

describe('metrics of a Barman 3.4 catalogue', () => {
  const fixture = join(BARMAN34_FIXTURE, 'catalog', 'pg');
  const infoOf = (id: string) =>
    parseBackupInfo(readFileSync(join(fixture, 'base', id, 'backup.info'), 'utf8'), id);
  const named = fixtureBackupId('pg', 'done-named');
  const standalone = fixtureBackupId('pg', 'done-tablespace-keep-standalone');
  const xlog = readFileSync(join(fixture, 'wals', 'xlog.db'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t'));
  const lastWal = Math.max(...xlog.map((fields) => Number(fields[2])));
  const dir = writeConfigFiles({});
  cpSync(fixture, join(dir, 'pg'), { recursive: true });

  it('gives the newest DONE backup, the counts by status and the WAL archive', async () => {
    const nowMs = (lastWal + 1800) * 1000;
    const facts = await factsOf(dir, 'retention_policy = REDUNDANCY 2', nowMs);
    const info = infoOf(named);
    const end = seconds(
      readFileSync(join(fixture, 'base', named, 'backup.info'), 'utf8').match(/^end_time=(.*)$/m)![1]!,
    );
    assert.deepEqual(facts.lastBackup, {
      id: named,
      endSeconds: end,
      ageSeconds: nowMs / 1000 - end,
      durationSeconds: end - info.begin_time!.epochMs / 1000,
      sizeBytes: info.size,
      deduplicatedSizeBytes: info.deduplicated_size,
    });
    assert.ok(facts.lastBackup.durationSeconds > 0 && facts.lastBackup.durationSeconds < 600);
    assert.deepEqual(Object.fromEntries(facts.backupsByStatus), {
      EMPTY: 0,
      STARTED: 0,
      WAITING_FOR_WALS: 0,
      DONE: 2,
      SYNCING: 0,
      FAILED: 1,
      UNREADABLE: 0,
    });
    // The standalone backup keeps no WAL after it: the continuous window starts at the named one.
    assert.equal(facts.firstRecoverabilitySeconds, end);
    assert.deepEqual(Object.fromEntries(facts.backupsByRetention), {
      VALID: 1,
      OBSOLETE: 0,
      POTENTIALLY_OBSOLETE: 0,
      'KEEP:FULL': 0,
      'KEEP:STANDALONE': 1,
    });
    assert.equal(facts.retentionSatisfied, true);
    assert.equal(facts.minimumRedundancySatisfied, true);
    assert.equal(facts.walSegments, xlog.length);
    assert.equal(
      facts.walBytes,
      xlog.reduce((sum, fields) => sum + Number(fields[1]), 0),
    );
    assert.equal(facts.lastWalArchivedSeconds, lastWal);
    // Half an hour after the last one: every segment is in the last hour's throughput.
    assert.equal(
      facts.recentWalSegments,
      xlog.filter((fields) => Number(fields[2]) >= lastWal + 1800 - 3600).length,
    );
    assert.equal(facts.unreadableParts, 0);
    assert.ok(standalone < named);
  });

  it('REDUNDANCY 3 is not met with two DONE backups; no policy gives no retention counts', async () => {
    const nowMs = Date.now();
    assert.equal((await factsOf(dir, 'retention_policy = REDUNDANCY 3', nowMs)).retentionSatisfied, false);
    const none = await factsOf(dir, '', nowMs);
    assert.equal(none.retentionSatisfied, null);
    assert.equal(none.backupsByRetention.size, 0);
    assert.equal((await factsOf(dir, 'minimum_redundancy = 3', nowMs)).minimumRedundancySatisfied, false);
    // A day later nothing was archived in the last hour.
    assert.equal((await factsOf(dir, '', (lastWal + 86_400) * 1000)).recentWalSegments, 0);
  });
});

describe('metrics of a hand-built catalogue', () => {
  const DAY = 86_400;
  const nowMs = Date.parse('2026-06-15T12:00:00Z');
  const dir = writeConfigFiles({});
  const base = join(dir, 'pg', 'base');
  const write = (id: string, status: 'DONE' | 'WAITING_FOR_WALS' | 'FAILED', endDaysAgo: number) => {
    const end = new Date(nowMs - endDaysAgo * DAY * 1000);
    const begin = new Date(end.getTime() - 90_000);
    const python = (date: Date) => `${date.toISOString().replace('T', ' ').replace('Z', '')}+00:00`;
    const info = parseBackupInfo(
      formatBackupInfo(
        emptyBackupInfo('pg', {
          status,
          size: 1000,
          begin_wal: '000000010000000000000002',
          end_wal: '000000010000000000000002',
        }),
      )
        .replace(/^begin_time=.*$/m, `begin_time=${python(begin)}`)
        .replace(/^end_time=.*$/m, `end_time=${python(end)}`),
      id,
    );
    mkdirSync(join(base, id), { recursive: true });
    writeFileSync(join(base, id, 'backup.info'), formatBackupInfo(info));
  };
  write('20260601T000000', 'DONE', 14);
  write('20260608T000000', 'DONE', 7);
  write('20260614T000000', 'FAILED', 1);
  write('20260615T000000', 'WAITING_FOR_WALS', 0);
  mkdirSync(join(base, '20260610T000000'));
  writeFileSync(join(base, '20260610T000000', 'backup.info'), 'status=DONE\nbegin_time=not a time\n');

  it('counts an unreadable backup.info and a WAITING_FOR_WALS backup, and measures the window', async () => {
    const facts = await factsOf(dir, 'retention_policy = RECOVERY WINDOW OF 10 DAYS', nowMs);
    assert.equal(facts.backupsByStatus.get('UNREADABLE'), 1);
    assert.equal(facts.backupsByStatus.get('WAITING_FOR_WALS'), 1);
    assert.equal(facts.unreadableParts, 1);
    assert.equal(facts.lastBackup!.id, '20260608T000000');
    assert.equal(facts.lastBackup!.ageSeconds, 7 * DAY);
    assert.equal(facts.lastBackup!.durationSeconds, 90);
    assert.equal(facts.firstRecoverabilitySeconds, nowMs / 1000 - 14 * DAY);
    assert.equal(facts.retentionSatisfied, true);
    const short = await factsOf(dir, 'retention_policy = RECOVERY WINDOW OF 3 WEEKS', nowMs);
    assert.equal(short.retentionSatisfied, false);
    assert.ok(warnings.some((warning) => warning.includes('20260610T000000')));
  });

  it('retention_gfs: slots held by period; met only when every slot asked for is held', async () => {
    const met = await factsOf(dir, 'retention_gfs = 2 DAILY, 1 WEEKLY', nowMs);
    assert.deepEqual(Object.fromEntries(met.gfsSlotsFilled), { daily: 2, weekly: 1, monthly: 0 });
    assert.equal(met.retentionSatisfied, true);
    assert.equal(met.backupsByRetention.get('VALID'), 2);
    const short = await factsOf(dir, 'retention_gfs = 3 DAILY, 2 MONTHLY', nowMs);
    assert.deepEqual(Object.fromEntries(short.gfsSlotsFilled), { daily: 2, weekly: 0, monthly: 1 });
    assert.equal(short.retentionSatisfied, false);
    // With both policies, both must be met.
    const both = await factsOf(dir, 'retention_policy = REDUNDANCY 3\nretention_gfs = 1 DAILY', nowMs);
    assert.equal(both.retentionSatisfied, false);
    assert.equal((await factsOf(dir, '', nowMs)).gfsSlotsFilled.size, 0);
  });

  it('counts the files waiting in incoming/ and streaming/, not temp files or the .partial', async () => {
    const config = serverConfig(dir, '');
    mkdirSync(config.incoming_wals_directory, { recursive: true });
    mkdirSync(config.streaming_wals_directory, { recursive: true });
    writeFileSync(join(config.incoming_wals_directory, '000000010000000000000003'), Buffer.alloc(1000));
    writeFileSync(join(config.incoming_wals_directory, '.000000010000000000000004.tmp'), Buffer.alloc(10));
    writeFileSync(join(config.streaming_wals_directory, '000000010000000000000003'), Buffer.alloc(700));
    writeFileSync(
      join(config.streaming_wals_directory, '000000010000000000000004.partial'),
      Buffer.alloc(50),
    );
    const now = Date.now() + 60_000;
    const incoming = await queueFacts(config, 'incoming', now);
    assert.deepEqual(
      { ...incoming, oldestAgeSeconds: null },
      { queue: 'incoming', files: 1, bytes: 1000, oldestAgeSeconds: null },
    );
    assert.ok(incoming.oldestAgeSeconds! >= 59 && incoming.oldestAgeSeconds! < 120);
    const streaming = await queueFacts(config, 'streaming', now);
    assert.deepEqual([streaming.files, streaming.bytes], [1, 700]);
    // errors/ was never created: nothing waits there.
    assert.deepEqual(await queueFacts(config, 'errors', now), {
      queue: 'errors',
      files: 0,
      bytes: 0,
      oldestAgeSeconds: null,
    });
  });
});

function drillResult(status: 'ok' | 'failed', endedAt: string, seconds: number): DrillResult {
  return {
    backup_id: '20270101T000000',
    status,
    started_at: endedAt,
    ended_at: endedAt,
    duration_seconds: seconds,
    target: 'end of the WAL archive',
    error: status === 'ok' ? null : 'amcheck: corruption found',
    steps: [],
  };
}

describe('the exposition', () => {
  it('writes each series with its labels, leaves unknown values out and names failed checks', async () => {
    const snapshot: MetricsSnapshot = {
      nowMs: 1_800_000_000_000,
      durationSeconds: 0.25,
      servers: [
        {
          server: 'off',
          active: false,
          disabled: true,
          catalog: null,
          catalogError: null,
          queues: [],
          postgres: null,
          checks: null,
          drill: null,
          corruptPages: null,
        },
        {
          server: 'pg',
          active: true,
          disabled: false,
          catalog: null,
          catalogError: 'bucket unreachable',
          queues: [{ queue: 'incoming', files: 2, bytes: 32, oldestAgeSeconds: 5 }],
          postgres: { up: false, error: 'timed out' },
          checks: [
            { name: 'PostgreSQL', ok: true, hint: null },
            { name: 'wal_level', ok: false, hint: 'please set it' },
            { name: 'wal_level', ok: true, hint: null },
          ],
          drill: drillFacts([
            drillResult('failed', '2027-01-15T08:00:00.000Z', 42.5),
            drillResult('ok', '2027-01-14T08:00:00.000Z', 40),
          ]),
          corruptPages: 2,
        },
      ],
    };
    const text = await new MetricsExposition(snapshot, '9.9.9').text();
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(samples, [
      `barman_build_info{version="9.9.9",nodejs="${process.version}"} 1`,
      'barman_metrics_scrape_duration_seconds 0.25',
      'barman_metrics_collection_timestamp_seconds 1800000000',
      'barman_server_active{server="off"} 0',
      'barman_server_active{server="pg"} 1',
      'barman_server_disabled{server="off"} 1',
      'barman_server_disabled{server="pg"} 0',
      'barman_catalog_readable{server="pg"} 0',
      'barman_wal_queue_files{server="pg",queue="incoming"} 2',
      'barman_wal_queue_bytes{server="pg",queue="incoming"} 32',
      'barman_wal_queue_oldest_age_seconds{server="pg",queue="incoming"} 5',
      'barman_postgres_up{server="pg"} 0',
      'barman_last_backup_corrupt_data_pages{server="pg"} 2',
      'barman_restore_drill_last_success{server="pg"} 0',
      `barman_restore_drill_last_timestamp_seconds{server="pg"} ${Date.parse('2027-01-15T08:00:00Z') / 1000}`,
      'barman_restore_drill_last_duration_seconds{server="pg"} 42.5',
      `barman_restore_drill_last_success_timestamp_seconds{server="pg"} ${Date.parse('2027-01-14T08:00:00Z') / 1000}`,
      'barman_check_ok{server="pg",check="PostgreSQL"} 1',
      'barman_check_ok{server="pg",check="wal_level"} 0',
    ]);
    assert.match(text, /^# TYPE barman_postgres_archived_wals_total counter$/m);
  });
});

describe('the /metrics endpoint', () => {
  it('shares one collection between concurrent scrapes and answers a failed one with 500 and its reason', async () => {
    let calls = 0;
    let fail = false;
    let release: () => void = () => undefined;
    const endpoint = await serveMetrics({
      port: 0,
      log: silentLogger,
      collect: async () => {
        calls += 1;
        await new Promise<void>((resolve) => (release = resolve));
        if (fail) throw new Error('catalogue gone');
        return 'barman_up 1\n';
      },
    });
    try {
      const url = `http://127.0.0.1:${endpoint.port}/metrics`;
      const scrapes = [fetch(url), fetch(url)];
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      const responses = await Promise.all(scrapes);
      assert.equal(calls, 1);
      for (const response of responses) {
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
        assert.equal(await response.text(), 'barman_up 1\n');
      }
      fail = true;
      const failed = fetch(url);
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      const response = await failed;
      assert.equal(response.status, 500);
      assert.equal(await response.text(), 'catalogue gone\n');
      assert.equal(calls, 2);
    } finally {
      await endpoint.close();
    }
  });
});

describe('the bundle', () => {
  it('loads prom-client only from the metrics chunk, never from an entry point', () => {
    const meta = JSON.parse(
      readFileSync(new URL('../../../../dist/bundle-meta.json', import.meta.url), 'utf8'),
    ) as {
      outputs: Record<
        string,
        {
          inputs: Record<string, unknown>;
          imports: Array<{ path: string; kind: string }>;
          entryPoint?: string;
        }
      >;
    };
    const outputs = meta.outputs;
    const holders = Object.keys(outputs).filter((out) =>
      Object.keys(outputs[out]!.inputs).some((input) => input.includes('node_modules/prom-client/')),
    );
    assert.equal(holders.length, 1, holders.join(', '));
    // What every entry point and every other command loads (static imports, followed): never that chunk.
    const name = (path: string) => path.split('/').at(-1)!;
    const byName = new Map(Object.keys(outputs).map((out) => [name(out), out]));
    // The CLI entries, the compression worker and every command but the two that serve metrics
    // (metrics, and the daemon whose endpoint imports the collectors lazily).
    const servesMetrics =
      /(?:commands\/metrics\/run|commands\/shared\/metrics\/[\w-]+|scheduler\/health)\.js$/;
    for (const entry of Object.keys(outputs).filter((out) => {
      const entryPoint = outputs[out]!.entryPoint;
      return entryPoint !== undefined && out !== holders[0] && !servesMetrics.test(entryPoint);
    })) {
      const seen = new Set<string>();
      const walk = (out: string) => {
        if (seen.has(out)) return;
        seen.add(out);
        for (const imported of outputs[out]!.imports) {
          const target = byName.get(name(imported.path));
          if (imported.kind === 'import-statement' && target) walk(target);
        }
      };
      walk(entry);
      assert.ok(!seen.has(holders[0]!), `${entry} loads prom-client at start`);
    }
  });
});
