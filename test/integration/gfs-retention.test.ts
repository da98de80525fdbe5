/**
 * GFS retention end to end: `barman cron` on a catalogue of backup.info files (no PostgreSQL is
 * needed to decide retention) deletes what `retention_gfs` leaves unkept, `list-backup` says why
 * the others stay, and the WAL archive keeps exactly what the surviving backups need.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { storageFor } from '../../src/storage/index.js';
import type { ChainBackupSpec } from '../harness/index.js';
import {
  makeTempDir,
  runBarman,
  storageTestConfig,
  writeBarmanConfig,
  writeChainCatalog,
} from '../harness/index.js';

/** Each backup ends at 10:05 UTC of its day; barman-ts runs in UTC, so that is its local day. */
const CATALOG: ChainBackupSpec[] = [
  { id: '20261101T100000', bytes: 1000, segment: 1 },
  { id: '20261115T100000', bytes: 1000, segment: 3 }, // the only one of ISO week 46
  { id: '20261130T100000', bytes: 1000, segment: 5 }, // a Monday (week 49), the last of November
  { id: '20261202T100000', bytes: 1000, segment: 7 },
  { id: '20261203T100000', status: 'FAILED', bytes: 0, segment: 9 },
  { id: '20261204T100000', bytes: 1000, segment: 11 },
  { id: '20261205T100000', bytes: 1000, segment: 13 },
  { id: '20261206T100000', bytes: 1000, segment: 15 },
];
const SEGMENTS = 16;
const walName = (segment: number) =>
  `00000001${'0'.repeat(8)}${segment.toString(16).toUpperCase().padStart(8, '0')}`;
const env = { TZ: 'UTC' };

describe('retention_gfs through barman cron', () => {
  let dir = '';
  let config = '';
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { env });
  const walDir = () => join(dir, 'home/pg/wals/0000000100000000');

  before(async () => {
    dir = await makeTempDir('gfs-retention');
    mkdirSync(walDir(), { recursive: true });
    for (let segment = 1; segment <= SEGMENTS; segment++)
      writeFileSync(join(walDir(), walName(segment)), 'WAL');
    writeFileSync(join(dir, 'home/pg/wals/xlog.db'), '');
    const base = await storageFor(storageTestConfig(null), {
      kind: 'posix',
      path: join(dir, 'home/pg/base'),
    });
    await writeChainCatalog(base, CATALOG);
    config = writeBarmanConfig({
      dir,
      global: { retention_policy: null, retention_gfs: '2 DAILY, 2 WEEKLY, 2 MONTHLY' },
      servers: {
        pg: {
          conninfo: 'host=/nonexistent user=postgres dbname=postgres',
          backup_method: 'postgres',
          archiver: 'on',
        },
      },
    });
    const rebuild = await barman('rebuild-xlogdb', 'pg');
    assert.equal(rebuild.exitCode, 0, rebuild.stderr);
  });

  it('list-backup says why each backup is kept before cron runs', async () => {
    const listed = await barman('-f', 'json', 'list-backup', 'pg');
    assert.equal(listed.exitCode, 0, listed.stderr);
    const rows = (JSON.parse(listed.stdout) as { pg: Array<Record<string, string>> }).pg;
    assert.deepEqual(
      Object.fromEntries(
        rows.map((row) => [row.backup_id, [row.retention_status, row.retention_reason ?? null]]),
      ),
      {
        '20261206T100000': ['-', 'daily 2026-12-06, weekly 2026-W49, monthly 2026-12'],
        '20261205T100000': ['-', 'daily 2026-12-05'],
        '20261204T100000': ['OBSOLETE', ''],
        '20261203T100000': [undefined, null],
        '20261202T100000': ['OBSOLETE', ''],
        '20261130T100000': ['-', 'monthly 2026-11'],
        '20261115T100000': ['-', 'weekly 2026-W46'],
        '20261101T100000': ['OBSOLETE', ''],
      },
    );
    const listing = await barman('list-backup', 'pg');
    assert.match(listing.stdout, /^pg 20261205T100000 - .* - VALID \(daily 2026-12-05\)$/m);
    assert.match(listing.stdout, /^pg 20261204T100000 - .* - OBSOLETE$/m);
    const shown = await barman('show-backup', 'pg', '20261130T100000');
    assert.match(shown.stdout, /Retention Policy\s*: VALID \(monthly 2026-11\)$/m);
    const status = await barman('status', 'pg');
    assert.match(
      status.stdout,
      /Retention policies: enforced \(mode: auto, retention: GFS 2 DAILY, 2 WEEKLY, 2 MONTHLY, WAL retention: MAIN\)/,
    );
  });

  it('cron deletes what no slot keeps, and only the WAL older than the oldest survivor', async () => {
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    const removed = [...cron.stdout.matchAll(/removing backup (\d{8}T\d{6})/g)]
      .map((match) => match[1])
      .sort();
    assert.deepEqual(removed, ['20261101T100000', '20261202T100000', '20261204T100000']);
    assert.deepEqual(readdirSync(join(dir, 'home/pg/base')).sort(), [
      '20261115T100000',
      '20261130T100000',
      '20261203T100000',
      '20261205T100000',
      '20261206T100000',
    ]);
    // WAL from the begin WAL of the oldest surviving backup on stays: every survivor can recover
    // to any point after it, the gaps between kept backups included.
    const expectedWal = Array.from({ length: SEGMENTS - 2 }, (_, index) => walName(index + 3));
    assert.deepEqual(readdirSync(walDir()).sort(), expectedWal);
    assert.ok(!existsSync(join(walDir(), walName(2))));
    const catalogued = readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('\t')[0]);
    assert.deepEqual(catalogued.sort(), expectedWal);

    const again = await barman('cron');
    assert.equal(again.exitCode, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /removing backup/, 'the survivors are stable');
  });
});
