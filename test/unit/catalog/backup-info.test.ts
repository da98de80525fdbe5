import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BACKUP_INFO_KEYS,
  BARMAN_34_KEYS,
  BackupInfoError,
  emptyBackupInfo,
  formatBackupInfo,
  formatTimestamp,
  LATER_VERSION_KEYS,
  parseBackupInfo,
  parseTimestamp,
  timestampFromDate,
  type BackupInfo,
} from '../../../src/catalog/backup-info.js';
import { BarmanError } from '../../../src/errors/index.js';
import { PythonTuple } from '../../../src/catalog/python-literal.js';

/** test/fixtures/barman-3.4 (this file runs from dist/test/unit/catalog/). */
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/barman-3.4/', import.meta.url));
const HANDMADE = join(FIXTURES, 'handmade');

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

function load(path: string): BackupInfo {
  return parseBackupInfo(read(path), path);
}

/** Every backup.info produced by real Barman 3.4 (scripts/generate-barman-fixtures.sh). */
const goldenFiles = readdirSync(join(FIXTURES, 'catalog'), { recursive: true, encoding: 'utf8' })
  .filter((path) => path.endsWith('/backup.info'))
  .map((path) => join(FIXTURES, 'catalog', path))
  .sort();

/** backups.tsv: server, backup id, role. */
const roles = read(join(FIXTURES, 'backups.tsv'))
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split('\t') as [string, string, string]);

function byRole(role: string): { path: string; id: string; info: BackupInfo; text: string } {
  const row = roles.find(([, , r]) => r === role);
  assert.ok(row, `no backup with role ${role} in backups.tsv`);
  const [server, id] = row;
  const path = join(FIXTURES, 'catalog', server, 'base', id, 'backup.info');
  return { path, id, info: load(path), text: read(path) };
}

const lineCount = (text: string) => text.split('\n').length - 1;

describe('golden files written by Barman 3.4', () => {
  test('the fixture set is complete (4 backups, one per role)', () => {
    assert.equal(goldenFiles.length, 4);
    assert.deepEqual(roles.map(([, , role]) => role).sort(), [
      'done-local-rsync-name-with-wait-keep-full',
      'done-named',
      'done-tablespace-keep-standalone',
      'failed',
    ]);
  });

  for (const path of goldenFiles) {
    test(`byte-identical round trip: ${path.slice(FIXTURES.length)}`, () => {
      const text = read(path);
      const info = parseBackupInfo(text, path);
      assert.equal(formatBackupInfo(info), text);
      assert.deepEqual(info.laterKeysPresent, []);
    });
  }

  test('3.4 writes its 27 keys, plus backup_name when named', () => {
    const done = byRole('done-tablespace-keep-standalone');
    assert.equal(lineCount(done.text), 27);
    assert.deepEqual(
      done.text
        .split('\n')
        .slice(0, -1)
        .map((line) => line.split('=')[0]),
      [...BARMAN_34_KEYS],
    );
    assert.equal(lineCount(byRole('done-named').text), 28);
  });

  test('postgres-method DONE backup with a tablespace: typed values', () => {
    const { info } = byRole('done-tablespace-keep-standalone');
    assert.equal(info.status, 'DONE');
    assert.equal(info.mode, 'postgres');
    assert.equal(info.server_name, 'pg');
    assert.equal(info.backup_name, null);
    assert.equal(info.timeline, 1);
    assert.ok(
      info.version !== null && info.version >= 150000 && info.version < 160000,
      `version ${info.version}`,
    );
    assert.equal(info.xlog_segment_size, 16777216);
    assert.match(info.begin_wal ?? '', /^00000001[0-9A-F]{16}$/);
    assert.match(info.begin_xlog ?? '', /^0\/[0-9A-F]+$/);
    assert.equal(info.begin_offset, 40);
    assert.equal(info.compression, null);
    assert.equal(info.error, null);
    assert.equal(info.included_files, null);
    assert.equal(info.pgdata, '/tmp/barman-fixtures/pg/data');
    assert.equal(info.config_file, '/tmp/barman-fixtures/pg/data/postgresql.conf');
    assert.match(info.systemid ?? '', /^\d{19}$/);
    assert.equal(typeof info.size, 'number');
    assert.equal(info.size, info.deduplicated_size);

    assert.equal(info.tablespaces?.length, 1);
    const [tbs] = info.tablespaces;
    assert.equal(tbs!.name, 'tbs1');
    assert.equal(typeof tbs!.oid, 'number');
    assert.ok(tbs!.oid >= 16384, `oid ${tbs!.oid}`);
    assert.equal(tbs!.location, '/tmp/barman-fixtures/pg/tbs1');

    // backup_label: a real multi-line text whose first line agrees with begin_xlog/begin_wal
    const label = info.backup_label ?? '';
    const labelLines = label.split('\n');
    assert.equal(labelLines.length, 8);
    assert.equal(labelLines.at(-1), '');
    assert.equal(labelLines[0], `START WAL LOCATION: ${info.begin_xlog} (file ${info.begin_wal})`);
    assert.equal(labelLines[2], 'BACKUP METHOD: streamed');
    assert.equal(labelLines[5], 'LABEL: pg_basebackup base backup');
    assert.ok(!label.includes('\\n'));

    assert.ok(info.copy_stats instanceof Map);
    assert.deepEqual([...info.copy_stats.keys()], ['copy_time', 'total_time']);
    const copyTime = info.copy_stats.get('copy_time');
    assert.equal(typeof copyTime, 'number');
    assert.ok((copyTime as number) > 0);

    assert.equal(info.begin_time?.utcOffsetMinutes, 0);
    assert.equal(info.begin_time?.naive, false);
    assert.equal(
      info.begin_time?.epochMs,
      Date.parse(info.begin_time.text.replace(' ', 'T').slice(0, 23) + 'Z'),
    );
    assert.ok(info.end_time!.epochMs > info.begin_time.epochMs);
  });

  test('FAILED backup: error text, end_* and sizes are None', () => {
    const { info, id } = byRole('failed');
    assert.equal(info.status, 'FAILED');
    assert.equal(
      info.error,
      `failure copying files (data transfer failure on directory '/tmp/barman-fixtures/barman/home/pg/base/${id}/data')`,
    );
    for (const key of [
      'end_time',
      'end_wal',
      'end_xlog',
      'end_offset',
      'size',
      'deduplicated_size',
    ] as const) {
      assert.equal(info[key], null, key);
    }
    assert.equal(info.backup_label, null);
    assert.equal(info.copy_stats, null);
    assert.notEqual(info.begin_wal, null);
    assert.equal(info.tablespaces?.[0]?.name, 'tbs1');
  });

  test('named backup (taken without --wait) keeps its name', () => {
    const { info } = byRole('done-named');
    assert.equal(info.status, 'DONE');
    assert.equal(info.backup_name, 'monthly-2026-11');
  });

  test('local-rsync backup: +05:30 session time zone, rsync copy_stats, name lost with --wait', () => {
    const { info, id } = byRole('done-local-rsync-name-with-wait-keep-full');
    assert.equal(info.status, 'DONE');
    assert.equal(info.mode, 'rsync-concurrent');
    assert.equal(info.server_name, 'pgr');
    // Barman 3.4.0 quirk: `backup --name X --wait` does not save the name.
    assert.equal(info.backup_name, null);
    assert.match(info.backup_label ?? '', new RegExp(`^LABEL: Barman backup pgr ${id}$`, 'm'));

    const begin = info.begin_time!;
    assert.match(begin.text, /\+05:30$/);
    assert.equal(begin.utcOffsetMinutes, 330);
    const iso = begin.text.replace(' ', 'T').replace(/(\.\d{3})\d{3}/, '$1');
    assert.equal(begin.epochMs, Date.parse(iso));
    // the backup ID is the UTC wall time of the Barman host, the text the +05:30 wall time
    const idAsUtc = Date.UTC(
      +id.slice(0, 4),
      +id.slice(4, 6) - 1,
      +id.slice(6, 8),
      +id.slice(9, 11),
      +id.slice(11, 13),
    );
    assert.ok(Math.abs(begin.epochMs - idAsUtc) < 120_000, `${begin.text} vs ${id}`);

    const stats = info.copy_stats!;
    assert.equal(stats.get('number_of_workers'), 1n);
    const perItem = stats.get('analysis_time_per_item');
    assert.ok(perItem instanceof Map);
    assert.deepEqual([...perItem.keys()], ['tbs1', 'pgdata']);
    assert.equal(typeof perItem.get('pgdata'), 'number');
    assert.deepEqual(
      [...(stats.get('copy_time_per_item') as Map<unknown, unknown>).keys()],
      ['tbs1', 'pgdata', 'pg_control'],
    );
  });
});

describe('3.17-style files (hand-made)', () => {
  const v317 = join(HANDMADE, 'v3.17-backup.info');
  const parent = join(HANDMADE, 'v3.17-incremental-parent-backup.info');

  for (const path of [v317, parent]) {
    test(`byte-identical round trip: ${path.slice(FIXTURES.length)}`, () => {
      const text = read(path);
      assert.equal(formatBackupInfo(parseBackupInfo(text, path)), text);
    });
  }

  test('the six later keys are read and remembered even when None', () => {
    const info = load(v317);
    assert.equal(lineCount(read(v317)), 34);
    assert.deepEqual(info.laterKeysPresent, [...LATER_VERSION_KEYS]);
    assert.equal(info.backup_name, 'v317');
    assert.equal(info.children_backup_ids, null);
    assert.equal(info.cluster_size, 27474477);
    assert.equal(info.data_checksums, 'on');
    assert.equal(info.encryption, null);
    assert.equal(info.parent_backup_id, null);
    assert.equal(info.summarize_wal, null);
  });

  test('without the memory of present keys, null later keys are left out (3.4 layout)', () => {
    const info = { ...load(v317), laterKeysPresent: [] };
    const text = formatBackupInfo(info);
    assert.equal(lineCount(text), 30); // 27 + backup_name + cluster_size + data_checksums
    assert.match(text, /^cluster_size=27474477$/m);
    assert.doesNotMatch(text, /^children_backup_ids=/m);
    assert.doesNotMatch(text, /^encryption=/m);
  });

  test('incremental parent: id list, gpg, quoting and escapes', () => {
    const info = load(parent);
    assert.deepEqual(info.children_backup_ids, ['20261121T050300', '20261121T050410']);
    assert.equal(info.encryption, 'gpg');
    assert.equal(info.summarize_wal, 'on');
    assert.equal(info.data_checksums, 'off');
    assert.equal(info.compression, 'gzip');
    assert.deepEqual(info.included_files, [
      '/etc/postgresql/extra.conf',
      '/srv/demo/pg17/conf.d/tuning.conf',
    ]);
    assert.deepEqual(info.tablespaces, [
      { name: 'tbs1', oid: 16391, location: '/srv/demo/tbs1' },
      { name: 'tbs two', oid: 16400, location: "/srv/demo/it's" },
    ]);
    assert.match(info.backup_label ?? '', /^LABEL: Barman backup 'pg17' \\ été$/m);
    assert.equal(info.copy_stats?.get('copy_time'), 2);
    assert.equal(info.copy_stats?.get('number_of_workers'), 1n);
    assert.equal(info.begin_time?.epochMs, Date.UTC(2026, 10, 21, 5, 2, 10, 500));
    assert.equal(info.begin_time?.utcOffsetMinutes, 60);
    assert.equal(info.end_time?.epochMs, Date.UTC(2026, 10, 21, 5, 2, 13));
  });
});

describe('reader rules', () => {
  test('comments, blank lines, spaces around =, missing status -> EMPTY', () => {
    const info = load(join(HANDMADE, 'comments-no-status.info'));
    assert.equal(info.status, 'EMPTY');
    assert.equal(info.begin_wal, '000000010000000000000004');
    assert.equal(info.end_wal, '000000010000000000000005');
    assert.equal(info.timeline, 1);
    assert.equal(info.begin_xlog, null);
    assert.equal(info.server_name, null);
    assert.equal(info.xlog_segment_size, 16777216);
    const text = formatBackupInfo(info);
    assert.equal(lineCount(text), 27);
    assert.match(text, /^status=EMPTY$/m);
    assert.match(text, /^server_name=None$/m);
  });

  test('None is null for every kind of key', () => {
    const text = [
      'backup_label=None',
      'begin_time=None',
      'children_backup_ids=None',
      'copy_stats=None',
      'error=None',
      'tablespaces=None',
      'timeline=None',
      'status=STARTED',
    ].join('\n');
    const info = parseBackupInfo(text, 'x');
    assert.equal(info.status, 'STARTED');
    for (const key of [
      'backup_label',
      'begin_time',
      'children_backup_ids',
      'copy_stats',
      'error',
      'tablespaces',
      'timeline',
    ] as const) {
      assert.equal(info[key], null, key);
    }
    assert.deepEqual(info.laterKeysPresent, ['children_backup_ids']);
  });

  test('the last of repeated keys wins, CRLF line ends are tolerated, values are stripped', () => {
    const info = parseBackupInfo('status=STARTED\r\nstatus = DONE \r\nerror=  some text  \r\n', 'x');
    assert.equal(info.status, 'DONE');
    assert.equal(info.error, 'some text');
  });

  test('empty tablespace list reads as null; strings keep = signs after the first', () => {
    const info = parseBackupInfo('tablespaces=[]\nerror=a=b\nstatus=FAILED\n', 'x');
    assert.equal(info.tablespaces, null);
    assert.equal(info.error, 'a=b');
  });

  const inline: Array<[string, string, number, RegExp]> = [
    ['status=None', 'status', 1, /bad value for status: None is not allowed/],
    ['status=DONE\nstatus=BROKEN', 'unknown status', 2, /unknown status "BROKEN"/],
    ['xlog_segment_size=None', 'segment size None', 1, /bad value for xlog_segment_size/],
    ['size=12.5', 'float size', 1, /invalid integer "12.5"/],
    ['size=99999999999999999999', 'huge int', 1, /out of range/],
    ['begin_time=yesterday', 'timestamp', 1, /bad value for begin_time: invalid timestamp/],
    ["backup_label=['x']", 'label type', 1, /expected a string literal, got a list/],
    ['copy_stats=[1]', 'copy_stats type', 1, /expected a dict literal/],
    ["included_files=['a', 1]", 'included_files type', 1, /expected a list of strings/],
    ["tablespaces=[('a', 1)]", 'tablespace arity', 1, /tablespace #1 is not a \(name, oid, location\) tuple/],
    ['# only a comment\n\n', 'comments only', 2, /no key=value line/],
  ];
  for (const [text, label, line, reason] of inline) {
    test(`rejects ${label}`, () => {
      assert.throws(
        () => parseBackupInfo(text, '/srv/x/backup.info'),
        (error: unknown) => {
          assert.ok(error instanceof BackupInfoError);
          assert.equal(error.line, line);
          assert.match(error.message, reason);
          assert.ok(error.message.startsWith(`/srv/x/backup.info, line ${line}`), error.message);
          return true;
        },
      );
    });
  }

  test('a bad literal reports the column inside the line', () => {
    assert.throws(
      () => parseBackupInfo("status=DONE\ncopy_stats = {'a' 1}\n", 'f'),
      (error: unknown) => {
        assert.ok(error instanceof BackupInfoError);
        assert.equal(error.line, 2);
        assert.equal(error.column, 19); // the 1 after 'a'
        assert.match(
          error.message,
          /^f, line 2, column 19: bad value for copy_stats: invalid Python literal: ':' expected/,
        );
        return true;
      },
    );
  });
});

describe('bad files (hand-made)', () => {
  const bad: Array<[string, number, RegExp]> = [
    ['bad-empty.info', 1, /empty file/],
    ['bad-no-equals.info', 5, /invalid line "begin_xlog 0\/4000028" \(expected key=value\)/],
    ['bad-indented-comment.info', 2, /invalid line "# an indented comment/],
    [
      'bad-unknown-key.info',
      10,
      /unknown key "foo_new": the file may have been written by a newer version of Barman/,
    ],
    [
      'bad-truncated-literal.info',
      8,
      /bad value for copy_stats: invalid Python literal: unexpected end of input.*\(the file looks truncated\)/,
    ],
    [
      'bad-truncated-label.info',
      1,
      /column 14: bad value for backup_label: invalid Python literal: unterminated string literal \(the file looks truncated\)/,
    ],
    ['bad-int.info', 2, /bad value for begin_offset: invalid integer "4O"/],
    [
      'bad-timestamp.info',
      6,
      /bad value for end_time: invalid date in timestamp "2026-13-21 06:11:26.827662\+00:00"/,
    ],
    ['bad-tablespaces.info', 2, /tablespace #1 must be \(str, int, str\)/],
  ];
  for (const [name, line, reason] of bad) {
    test(`${name}: error names the file and line ${line}`, () => {
      const path = join(HANDMADE, name);
      assert.throws(
        () => load(path),
        (error: unknown) => {
          assert.ok(error instanceof BackupInfoError, `not a BackupInfoError: ${String(error)}`);
          assert.ok(error instanceof BarmanError);
          assert.equal(error.file, path);
          assert.equal(error.line, line);
          assert.ok(error.message.startsWith(`${path}, line ${line}`), error.message);
          assert.match(error.message, reason);
          return true;
        },
      );
    });
  }
});

describe('writer', () => {
  test('emptyBackupInfo writes the 27 keys of 3.4, sorted, None for null', () => {
    const text = formatBackupInfo(emptyBackupInfo('pg'));
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(
      lines.map((line) => line.split('=')[0]),
      [...BARMAN_34_KEYS],
    );
    assert.ok(lines.includes('server_name=pg'));
    assert.ok(lines.includes('status=EMPTY'));
    assert.ok(lines.includes('xlog_segment_size=16777216'));
    assert.ok(lines.includes('tablespaces=None'));
    assert.equal(lines.filter((line) => line.endsWith('=None')).length, 24);
  });

  test('BACKUP_INFO_KEYS is the sorted union of all 35 keys', () => {
    assert.equal(BACKUP_INFO_KEYS.length, 35);
    assert.deepEqual([...BACKUP_INFO_KEYS], [...BACKUP_INFO_KEYS].sort());
  });

  test('set values are written as Barman does; later keys appear once set', () => {
    const info = emptyBackupInfo('pg', {
      status: 'DONE',
      backup_name: 'nightly',
      begin_time: timestampFromDate(new Date(Date.UTC(2026, 10, 21, 4, 49, 7, 99)), 0, 213),
      backup_label: "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\nLABEL: it's\n",
      copy_stats: new Map([
        ['copy_time', 2],
        ['total_time', 2.5],
      ]),
      tablespaces: [{ name: 'tbs1', oid: 16391, location: '/srv/demo/tbs1' }],
      included_files: [],
      children_backup_ids: ['20261121T050300', '20261121T050410'],
      cluster_size: 1024,
      snapshots_info: new Map([['provider', 'gcp']]),
    });
    const text = formatBackupInfo(info);
    assert.match(text, /^backup_name=nightly$/m);
    assert.match(text, /^begin_time=2026-11-21 04:49:07\.099213\+00:00$/m);
    assert.match(
      text,
      /^backup_label="START WAL LOCATION: 0\/3000028 \(file 000000010000000000000003\)\\nLABEL: it's\\n"$/m,
    );
    assert.match(text, /^copy_stats=\{'copy_time': 2\.0, 'total_time': 2\.5\}$/m);
    assert.match(text, /^tablespaces=\[\('tbs1', 16391, '\/srv\/demo\/tbs1'\)\]$/m);
    assert.match(text, /^included_files=None$/m);
    assert.match(text, /^children_backup_ids=20261121T050300,20261121T050410$/m);
    assert.match(text, /^cluster_size=1024$/m);
    assert.match(text, /^snapshots_info=\{'provider': 'gcp'\}$/m);
    assert.doesNotMatch(text, /^encryption=/m);
    assert.equal(lineCount(text), 27 + 4);
    // and it reads back to the same values
    const again = parseBackupInfo(text, 'x');
    assert.deepEqual(again.tablespaces, info.tablespaces);
    assert.equal(again.backup_label, info.backup_label);
    assert.equal(again.begin_time?.epochMs, Date.UTC(2026, 10, 21, 4, 49, 7, 99));
    assert.equal(formatBackupInfo(again), text);
  });

  test('refuses values that would corrupt the file', () => {
    assert.throws(() => formatBackupInfo(emptyBackupInfo('pg', { error: 'two\nlines' })), TypeError);
    assert.throws(() => formatBackupInfo(emptyBackupInfo('pg', { size: 1.5 })), TypeError);
  });

  test('a PythonTuple in the API is the same class the parser uses', () => {
    const value = new PythonTuple(['a']);
    assert.deepEqual(value.items, ['a']);
  });
});

describe('timestamps', () => {
  const good: Array<[string, number, number]> = [
    ['2026-11-21 04:49:07.099213+00:00', Date.UTC(2026, 10, 21, 4, 49, 7, 99), 0],
    ['2026-11-21 04:49:07+00:00', Date.UTC(2026, 10, 21, 4, 49, 7), 0],
    ['2026-11-21T04:49:07.5Z', Date.UTC(2026, 10, 21, 4, 49, 7, 500), 0],
    ['2026-11-21 10:19:07.099213+05:30', Date.UTC(2026, 10, 21, 4, 49, 7, 99), 330],
    ['2026-11-21 10:19:07+0530', Date.UTC(2026, 10, 21, 4, 49, 7), 330],
    ['2026-11-21 01:49:07-03', Date.UTC(2026, 10, 21, 4, 49, 7), -180],
    ['2026-11-21 04:49 UTC', Date.UTC(2026, 10, 21, 4, 49), 0],
    ['2024-02-29 23:59:59.999999-01:30', Date.UTC(2024, 2, 1, 1, 29, 59, 999), -90],
  ];
  for (const [text, epochMs, offset] of good) {
    test(`reads ${text}`, () => {
      assert.deepEqual(parseTimestamp(text), { text, epochMs, utcOffsetMinutes: offset, naive: false });
    });
  }

  describe('naive times are local time of the process', () => {
    const savedTz = process.env.TZ;
    before(() => {
      process.env.TZ = 'Asia/Kolkata';
    });
    after(() => {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    });
    test('2026-11-21 10:19:07 in Asia/Kolkata', () => {
      assert.deepEqual(parseTimestamp('2026-11-21 10:19:07'), {
        text: '2026-11-21 10:19:07',
        epochMs: Date.UTC(2026, 10, 21, 4, 49, 7),
        utcOffsetMinutes: 330,
        naive: true,
      });
    });
  });

  for (const bad of [
    'yesterday',
    '2026-11-21',
    '2026-02-29 00:00:00+00:00',
    '2026-04-31 00:00:00+00:00',
    '2026-11-21 24:00:00+00:00',
    '2026-11-21 12:60:00+00:00',
    '2026-11-21 12:00:00+24:00',
    '2026-11-21 12:00:00+05:75',
    '2026-11-21 12:00:00 +00:00 extra',
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseTimestamp(bad), RangeError);
    });
  }

  test('formatTimestamp prints like Python str(datetime)', () => {
    const at = new Date(Date.UTC(2026, 10, 21, 4, 49, 7, 99));
    assert.equal(formatTimestamp(at, 0), '2026-11-21 04:49:07.099000+00:00');
    assert.equal(formatTimestamp(at, 0, 213), '2026-11-21 04:49:07.099213+00:00');
    assert.equal(formatTimestamp(at, 330, 213), '2026-11-21 10:19:07.099213+05:30');
    const whole = new Date(Date.UTC(2026, 0, 1, 0, 30, 0));
    assert.equal(formatTimestamp(whole, -90), '2025-12-31 23:00:00-01:30');
    assert.equal(formatTimestamp(whole, 0), '2026-01-01 00:30:00+00:00');
    assert.equal(formatTimestamp(new Date(Date.UTC(999, 0, 1)), 0), '0999-01-01 00:00:00+00:00');
  });

  test('formatTimestamp refuses what cannot be written', () => {
    assert.throws(() => formatTimestamp(new Date(NaN), 0), RangeError);
    assert.throws(() => formatTimestamp(new Date(), 1440), RangeError);
    assert.throws(() => formatTimestamp(new Date(), 0.5), RangeError);
    assert.throws(() => formatTimestamp(new Date(), 0, 1000), RangeError);
  });

  test('format then parse gives the same instant and offset', () => {
    for (const offset of [0, 60, -300, 345, -720]) {
      const at = new Date(Date.UTC(2026, 5, 30, 23, 59, 58, 7));
      const stamp = timestampFromDate(at, offset);
      assert.equal(stamp.epochMs, at.getTime());
      assert.equal(stamp.utcOffsetMinutes, offset);
      assert.equal(stamp.text, formatTimestamp(at, offset));
    }
  });
});
