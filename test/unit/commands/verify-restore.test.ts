/**
 * Restore drills without PostgreSQL: the options (duration, margin, niceness) and their refusals,
 * the verdicts read from pg_amcheck's and pg_verifybackup's output (as PostgreSQL 15 prints
 * them), the probe's freshness rule, the program search path and the results file (kept beside
 * the catalogue, newest first, bounded, a damaged one named).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { DrillResult } from '../../../src/catalog/drills.js';
import {
  DRILL_RESULTS_KEPT,
  describeDrill,
  readDrillResults,
  recordDrillResult,
} from '../../../src/catalog/drills.js';
import { posixBackupStore } from '../../../src/catalog/store.js';
import { formatProblem, loadConfig } from '../../../src/config/index.js';
import {
  amcheckVerdict,
  probeVerdict,
  verifybackupVerdict,
} from '../../../src/commands/verify-restore/checks.js';
import { drillSearchPath, majorOfVersionNumber } from '../../../src/commands/shared/drill-programs.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';
const SERVER = (extra = '') =>
  `[pg]\nconninfo = host=x\nbackup_method = postgres\nstreaming_conninfo = host=x\n${extra}`;

function server(extra: string) {
  const dir = writeConfigFiles({ 'barman.conf': `${GLOBAL}${SERVER(extra)}` });
  return loadConfig({ configFile: join(dir, 'barman.conf') }).servers.get('pg')!;
}

function errors(extra: string): string[] {
  return server(extra)
    .problems.filter((problem) => problem.severity === 'error')
    .map(formatProblem);
}

describe('restore drill options', () => {
  it('have working defaults and read durations in any unit', () => {
    const config = server('').config;
    assert.equal(config.restore_drill_space_margin, 120);
    assert.equal(config.restore_drill_nice, 10);
    assert.equal(config.restore_drill_probe_database, 'postgres');
    assert.equal(config.restore_drill_probe_max_age, null);
    assert.equal(config.restore_drill_directory, null);
    assert.equal(config.restore_drill_timeout, 4 * 3600);
    assert.equal(server('restore_drill_timeout = 90 seconds\n').config.restore_drill_timeout, 90);
    assert.equal(server('restore_drill_timeout = 1\n').config.restore_drill_timeout, 1);
    for (const [text, seconds] of [
      ['30 minutes', 1800],
      ['1 minute', 60],
      ['2 hours', 7200],
      ['1 day', 86_400],
      ['1 week', 604_800],
      ['45', 45],
      ['90 seconds', 90],
    ] as const)
      assert.equal(
        server(`restore_drill_probe_max_age = ${text}\n`).config.restore_drill_probe_max_age,
        seconds,
      );
  });

  it('are refused naming the option and the value', () => {
    const cases: Array<[string, RegExp]> = [
      [
        'restore_drill_probe_max_age = soon',
        /restore_drill_probe_max_age: expected '<n> SECONDS.*got 'soon'/,
      ],
      ['restore_drill_probe_max_age = -5 minutes', /restore_drill_probe_max_age: expected/],
      ['restore_drill_space_margin = 50', /restore_drill_space_margin: .*100/],
      ['restore_drill_timeout = 0', /restore_drill_timeout: must be at least 1 second, got '0'/],
      ['restore_drill_timeout = 0 minutes', /restore_drill_timeout: must be at least 1 second/],
      [
        'restore_drill_timeout = forever',
        /restore_drill_timeout: expected '<n> SECONDS\|MINUTES\|HOURS\|DAYS\|WEEKS' \(e\.g\. 30 minutes\), got 'forever'/,
      ],
      ['restore_drill_nice = 20', /restore_drill_nice: .*19/],
      ['restore_drill_directory = drills', /restore_drill_directory: must be an absolute path/],
      ['restore_drill_bin_path = bin', /restore_drill_bin_path: must be an absolute path/],
    ];
    for (const [line, expected] of cases) assert.match(errors(`${line}\n`).join('\n'), expected, line);
  });
});

describe('pg_amcheck verdicts', () => {
  it('passes on exit 0 and names the relation and block of a damaged page', () => {
    assert.equal(amcheckVerdict(0, '', '').ok, true);
    const verdict = amcheckVerdict(
      2,
      'heap table "postgres.public.items":\n    ERROR:  invalid page in block 1 of relation base/5/16384\n',
      'WARNING:  page verification failed, calculated checksum 32572 but expected 2321\n',
    );
    assert.deepEqual(verdict, {
      ok: false,
      detail:
        'corruption found: heap table "postgres.public.items": ERROR:  invalid page in block 1 of relation base/5/16384',
    });
  });

  it('reports a run that could not check anything with its own error', () => {
    const verdict = amcheckVerdict(1, '', 'pg_amcheck: error: connection to server failed: no such role\n');
    assert.equal(verdict.ok, false);
    assert.equal(verdict.detail, 'pg_amcheck exited with code 1: connection to server failed: no such role');
  });
});

describe('pg_verifybackup verdicts', () => {
  it('passes on exit 0 and names the files that do not match', () => {
    assert.deepEqual(verifybackupVerdict(0, 'backup successfully verified\n', ''), {
      ok: true,
      detail: 'backup successfully verified',
    });
    const verdict = verifybackupVerdict(
      1,
      '',
      'pg_verifybackup: error: checksum mismatch for file "base/5/16384"\npg_verifybackup: error: "base/5/1" is present on disk but not in the manifest\n',
    );
    assert.deepEqual(verdict, {
      ok: false,
      detail:
        'checksum mismatch for file "base/5/16384"; "base/5/1" is present on disk but not in the manifest',
    });
  });
});

describe('the probe', () => {
  const end = Date.parse('2026-12-01T12:00:00Z');
  it('fails on NULL and on a value older than the reference minus the maximum age', () => {
    assert.equal(probeVerdict(null, end, 1800, 'the backup end').ok, false);
    assert.equal(probeVerdict(end - 1800_000, end, 1800, 'the backup end').ok, true);
    const stale = probeVerdict(end - 1801_000, end, 1800, 'the backup end');
    assert.equal(stale.ok, false);
    assert.equal(
      stale.detail,
      'stale data: the probe returned 2026-12-01T11:29:59.000Z, older than 2026-12-01T11:30:00.000Z ' +
        '(the backup end 2026-12-01T12:00:00.000Z minus restore_drill_probe_max_age 1800 s)',
    );
  });

  it('passes any value without a maximum age', () => {
    assert.equal(probeVerdict(0, end, null, 'the backup end').ok, true);
  });
});

describe('the programs of a drill', () => {
  it("search restore_drill_bin_path, path_prefix, Debian's directory of the major, then PATH", () => {
    const config = server('restore_drill_bin_path = /opt/pg/bin\npath_prefix = /a:/b\n').config;
    assert.deepEqual(drillSearchPath(config, 15, '/usr/bin:/bin'), [
      '/opt/pg/bin',
      '/a',
      '/b',
      '/usr/lib/postgresql/15/bin',
      '/usr/bin',
      '/bin',
    ]);
    assert.equal(majorOfVersionNumber(150018), 15);
    assert.equal(majorOfVersionNumber(170002), 17);
    assert.equal(majorOfVersionNumber(90624), 9.6);
  });
});

function result(index: number, status: 'ok' | 'failed' = 'ok'): DrillResult {
  return {
    backup_id: `20261201T${String(index).padStart(6, '0')}`,
    status,
    started_at: '2026-12-01T00:00:00.000Z',
    ended_at: '2026-12-01T00:01:00.000Z',
    duration_seconds: 60,
    target: 'end of the WAL archive',
    error: status === 'ok' ? null : 'amcheck: corruption found',
    steps: [],
  };
}

describe('the drill results file', () => {
  it('keeps the newest results first, bounded, beside the catalogue', async () => {
    const dir = writeConfigFiles({});
    const store = posixBackupStore({
      server: 'pg',
      backupDirectory: dir,
      basebackupsDirectory: join(dir, 'base'),
      walsDirectory: join(dir, 'wals'),
      lockDirectory: dir,
    } as Parameters<typeof posixBackupStore>[0]);
    assert.deepEqual(await readDrillResults(store), []);
    for (let index = 0; index < DRILL_RESULTS_KEPT + 2; index += 1)
      await recordDrillResult(store, result(index));
    const where = await recordDrillResult(store, result(99, 'failed'));
    assert.equal(where, join(dir, 'restore-drills.json'));
    const results = await readDrillResults(store);
    assert.equal(results.length, DRILL_RESULTS_KEPT);
    assert.equal(results[0]!.backup_id, '20261201T000099');
    assert.equal(results[1]!.backup_id, `20261201T${String(DRILL_RESULTS_KEPT + 1).padStart(6, '0')}`);
    assert.match(
      describeDrill(results[0]!),
      /^FAILED \(amcheck: corruption found\) at 2026-12-01T00:01:00.000Z/,
    );
    assert.equal((JSON.parse(readFileSync(where, 'utf8')) as { server: string }).server, 'pg');
    writeFileSync(where, '{ damaged');
    await assert.rejects(
      readDrillResults(store),
      /cannot read the restore drill results .*restore-drills\.json/,
    );
  });
});
