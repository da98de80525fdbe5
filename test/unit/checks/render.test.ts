/** check's console, JSON and Nagios renderings and exit codes, from hand-made results. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hasActiveFailure,
  renderCheckConsole,
  renderCheckJson,
  renderNagios,
} from '../../../src/commands/check/render.js';
import { checkJsonKey, isCritical } from '../../../src/commands/shared/checks/results.js';
import type { ServerCheckReport } from '../../../src/commands/shared/checks/server-checks.js';
import { summariseErrorFiles } from '../../../src/commands/shared/checks/server-checks.js';

const ok = (name: string, hint: string | null = null, perfdata?: number) => ({
  name,
  ok: true,
  hint,
  perfdata,
});
const failed = (name: string, hint: string | null = null) => ({ name, ok: false, hint });

function server(name: string, results: ServerCheckReport['results'], flags: Partial<ServerCheckReport> = {}) {
  return { server: name, active: true, disabled: false, results, ...flags };
}

const sizes = (bytes: number, wals: number) => [
  ok('backup minimum size', '0 B', bytes),
  ok('wal size', '0 B', wals),
];
const good = server('pg', [ok('PostgreSQL'), ...sizes(26792628, 0), ok('archiver errors')]);
const bad = server('pgb', [
  failed('WAL archive', 'please make sure WAL shipping is setup'),
  ok('PostgreSQL'),
  ...sizes(0, 0),
  failed('receive-wal running', 'See the Barman log file for more details'),
]);
const inactive = server('pgoff', [failed('PostgreSQL'), ...sizes(0, 0)], { active: false });

test('console: header flags, OK/FAILED with hints, configuration messages indented', () => {
  const disabled = server('pgdis', [failed('configuration', null)], { disabled: true });
  disabled.results[0] = { ...disabled.results[0]!, details: ['[pgdis] conninfo: missing'] };
  assert.deepEqual(renderCheckConsole([bad, inactive, disabled], false), [
    'Server pgb:',
    '\tWAL archive: FAILED (please make sure WAL shipping is setup)',
    '\tPostgreSQL: OK',
    '\tbackup minimum size: OK (0 B)',
    '\twal size: OK (0 B)',
    '\treceive-wal running: FAILED (See the Barman log file for more details)',
    'Server pgoff (inactive):',
    '\tPostgreSQL: FAILED',
    '\tbackup minimum size: OK (0 B)',
    '\twal size: OK (0 B)',
    'Server pgdis (WARNING: disabled):',
    '\tconfiguration: FAILED',
    '\t\t[pgdis] conninfo: missing',
  ]);
  assert.equal(renderCheckConsole([good], true)[1], '\tPostgreSQL: \u001b[32mOK\u001b[0m');
});

test('JSON: mangled check names, sorted keys, empty hints', () => {
  assert.equal(
    checkJsonKey('superuser or standard user with backup privileges'),
    'superuser_or_standard_user_with_backup_privileges',
  );
  assert.equal(checkJsonKey('receive-wal running'), 'receive_wal_running');
  assert.equal(checkJsonKey('ssh output clean'), 'ssh_output_clean');
  const json = renderCheckJson([bad]);
  assert.deepEqual(Object.keys(json.pgb as object), [
    'backup_minimum_size',
    'postgresql',
    'receive_wal_running',
    'wal_archive',
    'wal_size',
  ]);
  assert.deepEqual((json.pgb as Record<string, unknown>).postgresql, { hint: '', status: 'OK' });
});

test('exit code: failures of inactive servers do not count', () => {
  assert.equal(hasActiveFailure([good, inactive]), false);
  assert.equal(hasActiveFailure([good, bad]), true);
});

test('Nagios OK: one server, several, ignored inactive ones, none', () => {
  assert.deepEqual(renderNagios([good], false), {
    lines: ['BARMAN OK - Ready to serve the Espresso backup for pg|pg=26792628B pg_wals=0B'],
    exitCode: 0,
  });
  const other = server('pgr', [...sizes(27163126, 50246)]);
  assert.equal(
    renderNagios([good, other], false).lines[0],
    'BARMAN OK - Ready to serve the Espresso backup for 2 servers * pg * pgr|pg=26792628B pg_wals=0B pgr=27163126B pgr_wals=50246B',
  );
  assert.equal(
    renderNagios([good, inactive], false).lines[0],
    'BARMAN OK - Ready to serve the Espresso backup for pg * IGNORING: pgoff|pg=26792628B pg_wals=0B pgoff=0B pgoff_wals=0B',
  );
  assert.deepEqual(renderNagios([inactive], false), {
    lines: ['BARMAN OK - No server configured * IGNORING: pgoff'],
    exitCode: 0,
  });
});

test('Nagios CRITICAL: summary, perfdata, one line per failed check; global errors', () => {
  assert.deepEqual(renderNagios([bad], false), {
    lines: [
      'BARMAN CRITICAL - server pgb has issues * pgb FAILED: WAL archive, receive-wal running|pgb=0B pgb_wals=0B',
      'pgb.WAL archive: FAILED (please make sure WAL shipping is setup)',
      'pgb.receive-wal running: FAILED (See the Barman log file for more details)',
    ],
    exitCode: 2,
  });
  const many = renderNagios([good, bad, inactive], false);
  assert.equal(
    many.lines[0],
    'BARMAN CRITICAL - 2 server out of 3 have issues * pgb FAILED: WAL archive, receive-wal running * pgoff FAILED: PostgreSQL|pg=26792628B pg_wals=0B pgb=0B pgb_wals=0B pgoff=0B pgoff_wals=0B',
  );
  assert.equal(many.lines.at(-1), 'pgoff.PostgreSQL: FAILED');
  assert.deepEqual(renderNagios([], true), {
    lines: ['BARMAN CRITICAL - Global configuration errors'],
    exitCode: 2,
  });
  assert.equal(renderNagios([good], true).exitCode, 2);
});

test('critical and non-critical checks (the pre-backup rule)', () => {
  assert.equal(isCritical(failed('WAL archive')), true);
  assert.equal(isCritical(failed('minimum redundancy requirements')), false);
  assert.equal(isCritical(failed('archiver errors')), false);
  assert.equal(isCritical(ok('PostgreSQL')), false);
});

test('archiver errors are summarised by kind in order of appearance', () => {
  assert.equal(summariseErrorFiles([]), null);
  assert.equal(
    summariseErrorFiles([
      '000000010000000000000002.20261121T044955Z.duplicate',
      'notes.txt.20261121T044955Z.unknown',
      '000000010000000000000003.20261121T044955Z.duplicate',
      '0000000100000000000000F0.20261121T044955Z.error',
      'stray',
    ]),
    'duplicates: 2, unknown: 1, not relevant: 1, unknown failure: 1',
  );
});
