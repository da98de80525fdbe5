import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyBackupInfo, parseTimestamp, type BackupInfo } from '../../../src/catalog/backup-info.js';
import { BarmanError, UsageError } from '../../../src/errors/index.js';
import {
  buildRecoveryPlan,
  describePlan,
  type PlanInput,
  type RecoveryPlan,
} from '../../../src/recovery/plan.js';
import type { RecoveryTargets } from '../../../src/recovery/targets.js';
import type { TimelineSwitch } from '../../../src/wal/history.js';
import type { XlogDbEntry } from '../../../src/wal/xlogdb.js';

/** 16 MiB segment names, `w(1, 3)` = 000000010000000000000003. */
const w = (timeline: number, segment: number): string =>
  `${timeline.toString(16).toUpperCase().padStart(8, '0')}00000000${segment.toString(16).toUpperCase().padStart(8, '0')}`;

/** Seconds since the epoch of 2026-11-21 04:58:00 UTC. */
const T0 = Date.UTC(2026, 10, 21, 4, 58, 0) / 1000;

/** xlog.db entries: [name, seconds after T0]; sizes 100, 101, ... so that `bytes` is checkable. */
function xlog(...rows: Array<[string, number]>): XlogDbEntry[] {
  return rows.map(([name, seconds], index) => ({
    name,
    size: 100 + index,
    mtime: T0 + seconds,
    compression: null,
    encryption: null,
  }));
}

/** Timeline 1 from segment 1; the backup covers 3..5 (ended 04:58:20); 6 at 04:59, 7 at 05:00:30, 8 at 05:02. */
const ENTRIES = xlog(
  [w(1, 1), 0],
  [w(1, 2), 1],
  [w(1, 3), 10],
  [w(1, 4), 15],
  [w(1, 5), 20],
  [w(1, 6), 60],
  [w(1, 7), 150],
  [w(1, 8), 240],
);
const names = (entries: readonly XlogDbEntry[]): string[] => entries.map((entry) => entry.name);

/** Timeline 2 branched from timeline 1 at 0/7000100. */
const TL2_HISTORY = new Map<number, TimelineSwitch[]>([
  [2, [{ parentTimeline: 1, switchpoint: 0x7000100n, reason: 'promoted' }]],
]);
const TL2_ENTRIES = [
  ...ENTRIES.slice(0, 7),
  ...xlog(['00000002.history', 200], [w(2, 7), 210], [w(2, 8), 220], [w(2, 10), 230]),
];

function info(fields: Partial<BackupInfo> = {}): BackupInfo {
  return emptyBackupInfo('pg', {
    status: 'DONE',
    begin_wal: w(1, 3),
    end_wal: w(1, 5),
    begin_xlog: '0/3000028',
    end_xlog: '0/5000028',
    begin_time: parseTimestamp('2026-11-21 04:58:10.000000+00:00'),
    end_time: parseTimestamp('2026-11-21 04:58:20.123456+00:00'),
    timeline: 1,
    version: 160004,
    tablespaces: [
      { name: 'tbs1', oid: 16391, location: '/srv/pg/tbs1' },
      { name: 'tbs2', oid: 16392, location: '/srv/pg/tbs2' },
    ],
    ...fields,
  });
}

const NONE: RecoveryTargets = {
  target: { kind: 'none' },
  timeline: null,
  exclusive: false,
  action: null,
  standbyMode: false,
};

function input(over: Partial<PlanInput> = {}, infoFields: Partial<BackupInfo> = {}): PlanInput {
  return {
    server: 'pg',
    backup: { id: 'B1', directory: '/barman/pg/base/B1', info: info(infoFields) },
    destination: '/srv/rec',
    remoteCommand: null,
    tablespaceRules: [],
    targets: NONE,
    getWal: false,
    getWalCommand: null,
    delta: false,
    entries: ENTRIES,
    walTimesAreCloseTimes: true,
    histories: new Map(),
    ...over,
  };
}

const TABLESPACES = [
  { oid: 16391, name: 'tbs1', original: '/srv/pg/tbs1', location: '/srv/pg/tbs1' },
  { oid: 16392, name: 'tbs2', original: '/srv/pg/tbs2', location: '/srv/pg/tbs2' },
];

const TIME_TARGET: RecoveryTargets = {
  ...NONE,
  target: { kind: 'time', epochMs: Date.UTC(2026, 10, 21, 5, 0, 0), text: '2026-11-21 05:00:00+00:00' },
};

function assertError(
  fn: () => unknown,
  expected: { type?: typeof BarmanError; code: string; message: string; hint?: string },
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof (expected.type ?? BarmanError), `unexpected ${String(error)}`);
    assert.equal(error.code, expected.code);
    assert.equal(error.message, expected.message);
    if (expected.hint !== undefined) assert.equal(error.hint, expected.hint);
    return true;
  });
}

describe('buildRecoveryPlan: the whole plan', () => {
  test('no target, PostgreSQL 16: WALs into pg_wal with archive_status, no settings', () => {
    const plan = buildRecoveryPlan(input());
    assert.deepEqual(plan, {
      server: 'pg',
      backupId: 'B1',
      backupDirectory: '/barman/pg/base/B1',
      format: 'plain',
      chain: null,
      version: 160004,
      destination: '/srv/rec',
      remoteCommand: null,
      tablespaces: TABLESPACES,
      pitr: false,
      targets: NONE,
      targetDescription: '',
      wal: {
        mode: 'copy',
        directory: 'pg_wal',
        selection: {
          targetTimeline: 1,
          path: [{ timeline: 1, fromSegno: 3n, toSegno: null, endLsn: null }],
          files: ENTRIES.slice(2),
          lastSegment: w(1, 8),
          gap: null,
          targetTimeBeyondArchive: false,
        },
        bytes: 102 + 103 + 104 + 105 + 106 + 107,
        archiveStatus: true,
      },
      settings: { file: 'postgresql.auto.conf', lines: [], signal: null },
      delta: false,
    } satisfies RecoveryPlan);
  });

  test('a time target: WALs into barman_wal up to the first one archived after the target', () => {
    const plan = buildRecoveryPlan(input({ targets: TIME_TARGET, tablespaceRules: ['tbs1:/new/tbs1/'] }));
    assert.equal(plan.pitr, true);
    assert.equal(plan.wal.directory, 'barman_wal');
    assert.equal(plan.wal.archiveStatus, false);
    assert.deepEqual(names(plan.wal.selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)]);
    assert.equal(plan.wal.bytes, 102 + 103 + 104 + 105 + 106);
    assert.deepEqual(plan.settings, {
      file: 'postgresql.auto.conf',
      lines: [
        "restore_command = 'cp barman_wal/%f %p'",
        "recovery_end_command = 'rm -fr barman_wal'",
        "recovery_target_time = '2026-11-21 05:00:00+00:00'",
      ],
      signal: 'recovery.signal',
    });
    assert.equal(plan.targetDescription, "Recovery target time: '2026-11-21 05:00:00+00:00'");
    assert.deepEqual(describePlan(plan), [
      'Recovery plan for server pg using backup B1',
      'Destination directory: /srv/rec',
      'Tablespace tbs1 (oid 16391): /new/tbs1 (relocated from /srv/pg/tbs1)',
      'Tablespace tbs2 (oid 16392): /srv/pg/tbs2',
      "Point-in-time recovery: Recovery target time: '2026-11-21 05:00:00+00:00'",
      'Timeline path: 1',
      `WAL files to copy into barman_wal/: 5 (${w(1, 3)} to ${w(1, 7)})`,
      'Settings for postgresql.auto.conf:',
      "  restore_command = 'cp barman_wal/%f %p'",
      "  recovery_end_command = 'rm -fr barman_wal'",
      "  recovery_target_time = '2026-11-21 05:00:00+00:00'",
      'Signal file: recovery.signal',
    ]);
  });

  test('get-wal over ssh, tar format, delta, --target-tli latest across a switch, with a gap', () => {
    const plan = buildRecoveryPlan(
      input(
        {
          remoteCommand: 'ssh postgres@pg',
          targets: { ...NONE, timeline: { kind: 'latest' } },
          getWal: true,
          getWalCommand: {
            command: 'barman-wal-restore -P -U barman backup pg %f %p',
            comment: "The 'barman-wal-restore' command is provided in the 'barman-cli' package",
          },
          delta: true,
          entries: TL2_ENTRIES,
          histories: TL2_HISTORY,
          destination: '/srv/rec/',
        },
        { compression: 'gzip' },
      ),
    );
    assert.equal(plan.format, 'tar');
    assert.equal(plan.pitr, true);
    assert.equal(plan.destination, '/srv/rec');
    assert.equal(plan.wal.mode, 'get-wal');
    assert.deepEqual(plan.wal.selection.files, []);
    assert.equal(plan.wal.bytes, 0);
    assert.equal(plan.wal.archiveStatus, false);
    assert.equal(plan.wal.selection.targetTimeline, 2);
    assert.deepEqual(plan.wal.selection.gap, { after: w(2, 8), missing: w(2, 9) });
    assert.deepEqual(describePlan(plan), [
      'Recovery plan for server pg using backup B1 (tar format)',
      'Destination directory: /srv/rec (remote: ssh postgres@pg)',
      'Tablespace tbs1 (oid 16391): /srv/pg/tbs1',
      'Tablespace tbs2 (oid 16392): /srv/pg/tbs2',
      "Point-in-time recovery: Recovery target timeline: '2'",
      'Timeline path: 1 (until 0/7000100) -> 2',
      'WAL files fetched on demand by restore_command (get-wal)',
      `WARNING: the archive has a gap: ${w(2, 9)} is missing after ${w(2, 8)}`,
      'Settings for postgresql.auto.conf:',
      "  # The 'barman-wal-restore' command is provided in the 'barman-cli' package",
      "  restore_command = 'barman-wal-restore -P -U barman backup pg %f %p'",
      "  recovery_target_timeline = 'latest'",
      'Signal file: recovery.signal',
      'Delta restore: files already in the destination are reused when size and checksum match',
    ]);
  });

  test('describePlan without PITR', () => {
    assert.deepEqual(
      describePlan(buildRecoveryPlan(input({ entries: ENTRIES.slice(0, 5) }, { tablespaces: null }))),
      [
        'Recovery plan for server pg using backup B1',
        'Destination directory: /srv/rec',
        'Recovery to the end of the copied WAL (no PITR)',
        'Timeline path: 1',
        `WAL files to copy into pg_wal/: 3 (${w(1, 3)} to ${w(1, 5)})`,
      ],
    );
  });
});

describe('buildRecoveryPlan: PITR detection, WAL directory, settings file and signal', () => {
  interface Row {
    label: string;
    over?: Partial<PlanInput>;
    info?: Partial<BackupInfo>;
    pitr: boolean;
    directory: string;
    archiveStatus: boolean;
    file: string;
    lines: string[];
    signal: string | null;
    targetTimeline: number;
    files: string[];
  }
  const all1 = [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8)];
  const viaTl2 = [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(2, 7), w(2, 8), '00000002.history'];
  const copyLines = ["restore_command = 'cp barman_wal/%f %p'", "recovery_end_command = 'rm -fr barman_wal'"];
  const rows: Row[] = [
    {
      label: 'PostgreSQL 9.6 without target: pg_xlog, recovery.conf',
      info: { version: 90624 },
      pitr: false,
      directory: 'pg_xlog',
      archiveStatus: true,
      file: 'recovery.conf',
      lines: [],
      signal: null,
      targetTimeline: 1,
      files: all1,
    },
    {
      label: 'PostgreSQL 16, a newer timeline and no --target-tli: PITR to it, PostgreSQL defaults to latest',
      over: { entries: TL2_ENTRIES, histories: TL2_HISTORY },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: copyLines,
      signal: 'recovery.signal',
      targetTimeline: 2,
      files: viaTl2,
    },
    {
      label:
        'PostgreSQL 11, a newer timeline and no --target-tli: the backup timeline, as PostgreSQL 11 does',
      over: { entries: TL2_ENTRIES, histories: TL2_HISTORY },
      info: { version: 110022 },
      pitr: false,
      directory: 'pg_wal',
      archiveStatus: true,
      file: 'recovery.conf',
      lines: [],
      signal: null,
      targetTimeline: 1,
      // Every history file is copied, even of a timeline not replayed.
      files: [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), '00000002.history'],
    },
    {
      label: 'PostgreSQL 11 with --target-tli latest',
      over: {
        entries: TL2_ENTRIES,
        histories: TL2_HISTORY,
        targets: { ...NONE, timeline: { kind: 'latest' } },
      },
      info: { version: 110022 },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'recovery.conf',
      lines: [...copyLines, "recovery_target_timeline = 'latest'"],
      signal: null,
      targetTimeline: 2,
      files: viaTl2,
    },
    {
      label: '--target-tli current is PITR even on the backup timeline (written as a number)',
      over: {
        entries: TL2_ENTRIES,
        histories: TL2_HISTORY,
        targets: { ...NONE, timeline: { kind: 'current' } },
      },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: [...copyLines, 'recovery_target_timeline = 1'],
      signal: 'recovery.signal',
      targetTimeline: 1,
      files: [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), '00000002.history'],
    },
    {
      label: '--target-tli 2 with an xid, exclusive, pause',
      over: {
        entries: TL2_ENTRIES,
        histories: TL2_HISTORY,
        targets: {
          ...NONE,
          target: { kind: 'xid', xid: '900' },
          exclusive: true,
          action: 'pause',
          timeline: { kind: 'number', timeline: 2 },
        },
      },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: [
        ...copyLines,
        "recovery_target_xid = '900'",
        "recovery_target_inclusive = 'False'",
        'recovery_target_timeline = 2',
        "recovery_target_action = 'pause'",
      ],
      signal: 'recovery.signal',
      targetTimeline: 2,
      files: viaTl2,
    },
    {
      label: 'immediate: the backup range only',
      over: { targets: { ...NONE, target: { kind: 'immediate' } } },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: [...copyLines, "recovery_target = 'immediate'"],
      signal: 'recovery.signal',
      targetTimeline: 1,
      files: [w(1, 3), w(1, 4), w(1, 5)],
    },
    {
      label: 'standby mode, PostgreSQL 16: WALs in pg_wal, no restore_command, standby.signal',
      over: { targets: { ...NONE, standbyMode: true } },
      pitr: false,
      directory: 'pg_wal',
      archiveStatus: true,
      file: 'postgresql.auto.conf',
      lines: [],
      signal: 'standby.signal',
      targetTimeline: 1,
      files: all1,
    },
    {
      label: 'standby mode with a target: still pg_wal',
      over: { targets: { ...NONE, standbyMode: true, target: { kind: 'name', name: 'rp' } } },
      pitr: true,
      directory: 'pg_wal',
      archiveStatus: true,
      file: 'postgresql.auto.conf',
      lines: ["recovery_target_name = 'rp'"],
      signal: 'standby.signal',
      targetTimeline: 1,
      files: all1,
    },
    {
      label: "standby mode, PostgreSQL 11: standby_mode = 'on' in recovery.conf",
      over: { targets: { ...NONE, standbyMode: true } },
      info: { version: 110022 },
      pitr: false,
      directory: 'pg_wal',
      archiveStatus: true,
      file: 'recovery.conf',
      lines: ["standby_mode = 'on'"],
      signal: null,
      targetTimeline: 1,
      files: all1,
    },
    {
      label: 'get-wal without a target: settings and signal, no WAL copied',
      over: {
        getWal: true,
        getWalCommand: { command: 'barman get-wal pg %f > %p', comment: 'runs as barman' },
      },
      pitr: false,
      directory: 'pg_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: ['# runs as barman', "restore_command = 'barman get-wal pg %f > %p'"],
      signal: 'recovery.signal',
      targetTimeline: 1,
      files: [],
    },
    {
      label: 'an LSN target: up to its segment and the next one',
      over: { targets: { ...NONE, target: { kind: 'lsn', lsn: 0x6000028n } } },
      pitr: true,
      directory: 'barman_wal',
      archiveStatus: false,
      file: 'postgresql.auto.conf',
      lines: [...copyLines, "recovery_target_lsn = '0/6000028'"],
      signal: 'recovery.signal',
      targetTimeline: 1,
      files: [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)],
    },
  ];
  for (const row of rows) {
    test(row.label, () => {
      const plan = buildRecoveryPlan(input(row.over, row.info));
      assert.deepEqual(
        {
          pitr: plan.pitr,
          directory: plan.wal.directory,
          archiveStatus: plan.wal.archiveStatus,
          file: plan.settings.file,
          lines: plan.settings.lines,
          signal: plan.settings.signal,
          targetTimeline: plan.wal.selection.targetTimeline,
          files: names(plan.wal.selection.files),
        },
        {
          pitr: row.pitr,
          directory: row.directory,
          archiveStatus: row.archiveStatus,
          file: row.file,
          lines: row.lines,
          signal: row.signal,
          targetTimeline: row.targetTimeline,
          files: row.files,
        },
      );
    });
  }

  const descriptions: Array<[string, Partial<PlanInput>, Partial<BackupInfo>, string]> = [
    ['no target, no timeline change', {}, {}, ''],
    [
      'no --target-tli, PostgreSQL 16 follows the newer timeline: it is named',
      { entries: TL2_ENTRIES, histories: TL2_HISTORY },
      {},
      "Recovery target timeline: '2'",
    ],
    [
      'no --target-tli, PostgreSQL 11 stays on the backup timeline: not named',
      { entries: TL2_ENTRIES, histories: TL2_HISTORY },
      { version: 110022 },
      '',
    ],
    [
      'a time target and no --target-tli across a switch: both named',
      { entries: TL2_ENTRIES, histories: TL2_HISTORY, targets: TIME_TARGET },
      {},
      "Recovery target time: '2026-11-21 05:00:00+00:00', Recovery target timeline: '2'",
    ],
    [
      '--target-tli current: named even on the backup timeline',
      { entries: TL2_ENTRIES, histories: TL2_HISTORY, targets: { ...NONE, timeline: { kind: 'current' } } },
      {},
      "Recovery target timeline: '1'",
    ],
  ];
  for (const [label, over, fields, expected] of descriptions) {
    test(`targetDescription: ${label}`, () => {
      assert.equal(buildRecoveryPlan(input(over, fields)).targetDescription, expected);
    });
  }

  test('the format follows backup.info compression', () => {
    for (const [compression, format] of [
      [null, 'plain'],
      ['none', 'plain'],
      ['gzip', 'tar'],
      ['lz4', 'tar'],
      ['zstd', 'tar'],
    ] as const) {
      assert.equal(buildRecoveryPlan(input({}, { compression })).format, format, String(compression));
    }
  });

  test('64 MiB segments from backup.info', () => {
    const entries = xlog(['000000010000000000000002', 0], ['000000010000000000000003', 1]);
    const plan = buildRecoveryPlan(
      input(
        { entries },
        {
          xlog_segment_size: 64 * 1024 * 1024,
          begin_wal: '000000010000000000000002',
          end_wal: '000000010000000000000003',
          begin_xlog: '0/8000028',
          end_xlog: '0/C000100',
        },
      ),
    );
    assert.deepEqual(plan.wal.selection.path, [{ timeline: 1, fromSegno: 2n, toSegno: null, endLsn: null }]);
    assert.deepEqual(names(plan.wal.selection.files), [
      '000000010000000000000002',
      '000000010000000000000003',
    ]);
  });
});

describe('buildRecoveryPlan: destination and tablespaces', () => {
  const destinations: Array<[string, string]> = [
    ['/srv/rec', '/srv/rec'],
    ['/srv/rec/', '/srv/rec'],
    ['/srv/rec///', '/srv/rec'],
  ];
  for (const [destination, expected] of destinations) {
    test(`destination ${JSON.stringify(destination)}`, () => {
      assert.equal(buildRecoveryPlan(input({ destination })).destination, expected);
    });
  }

  for (const destination of ['/', '//', '///']) {
    test(`destination ${JSON.stringify(destination)} is refused`, () => {
      assertError(() => buildRecoveryPlan(input({ destination }, { tablespaces: null })), {
        type: UsageError,
        code: 'usage',
        message: "the destination directory cannot be '/'",
      });
    });
  }

  test("a ':' in the destination is refused (host:path is not a thing here)", () => {
    for (const destination of ['pg:/srv/rec', '/srv/rec:1', 'srv:rec']) {
      assertError(() => buildRecoveryPlan(input({ destination })), {
        type: UsageError,
        code: 'usage',
        message: "The destination directory parameter cannot contain the ':' character",
        hint: 'To recover to another host, use --remote-ssh-command.',
      });
    }
  });

  for (const destination of ['srv/rec', './rec', '~/rec', '']) {
    test(`a relative destination is refused: ${JSON.stringify(destination)}`, () => {
      assertError(() => buildRecoveryPlan(input({ destination })), {
        type: UsageError,
        code: 'usage',
        message: `the destination directory must be an absolute path: '${destination}'`,
      });
    });
  }

  const relocations: Array<[string, string[], Array<[string, string]>]> = [
    ['one relocated, trailing slash removed', ['tbs1:/new/tbs1/'], [['tbs1', '/new/tbs1']]],
    [
      'both relocated',
      ['tbs2:/b', 'tbs1:/a'],
      [
        ['tbs1', '/a'],
        ['tbs2', '/b'],
      ],
    ],
    ['a colon inside the location', ['tbs1:/mnt/a:b'], [['tbs1', '/mnt/a:b']]],
    ['a sibling of the destination sharing its prefix', ['tbs1:/srv/rec2'], [['tbs1', '/srv/rec2']]],
    [
      'swapped locations',
      ['tbs1:/srv/pg/tbs2', 'tbs2:/srv/pg/tbs1'],
      [
        ['tbs1', '/srv/pg/tbs2'],
        ['tbs2', '/srv/pg/tbs1'],
      ],
    ],
  ];
  for (const [label, rules, moved] of relocations) {
    test(`tablespace rules: ${label}`, () => {
      const plan = buildRecoveryPlan(input({ tablespaceRules: rules }));
      const expected = TABLESPACES.map((tablespace) => {
        const target = moved.find(([name]) => name === tablespace.name);
        return target ? { ...tablespace, location: target[1] } : tablespace;
      });
      assert.deepEqual(plan.tablespaces, expected);
    });
  }

  test('a backup without tablespaces', () => {
    assert.deepEqual(buildRecoveryPlan(input({}, { tablespaces: null })).tablespaces, []);
  });

  const badRules: Array<[string, Partial<BackupInfo>, string, string | undefined]> = [
    ['tbs1', {}, "Invalid tablespace relocation rule 'tbs1'", 'Use --tablespace NAME:LOCATION.'],
    [':/new', {}, "Invalid tablespace relocation rule ':/new'", 'Use --tablespace NAME:LOCATION.'],
    ['tbs1:', {}, "Invalid tablespace relocation rule 'tbs1:'", 'Use --tablespace NAME:LOCATION.'],
    ['', {}, "Invalid tablespace relocation rule ''", 'Use --tablespace NAME:LOCATION.'],
    ['nope:/new', {}, "Invalid tablespace name 'nope'", 'Tablespaces in this backup: tbs1, tbs2'],
    ['TBS1:/new', {}, "Invalid tablespace name 'TBS1'", 'Tablespaces in this backup: tbs1, tbs2'],
    ['tbs1:/new', { tablespaces: null }, "Invalid tablespace name 'tbs1'", 'This backup has no tablespaces.'],
    ['tbs1:/new', { tablespaces: [] }, "Invalid tablespace name 'tbs1'", 'This backup has no tablespaces.'],
    ['tbs1:new/tbs1', {}, "tablespace location for 'tbs1' must be an absolute path: 'new/tbs1'", undefined],
    ['tbs1:/', {}, "tablespace 'tbs1' cannot be '/'", undefined],
    ['tbs2://', {}, "tablespace 'tbs2' cannot be '/'", undefined],
  ];
  for (const [rule, fields, message, hint] of badRules) {
    test(`bad tablespace rule ${JSON.stringify(rule)}${fields.tablespaces !== undefined ? ' (no tablespaces)' : ''}`, () => {
      assertError(() => buildRecoveryPlan(input({ tablespaceRules: [rule] }, fields)), {
        type: UsageError,
        code: 'usage',
        message,
        ...(hint === undefined ? {} : { hint }),
      });
    });
  }

  test('a tablespace relocated twice is refused, even to the same place', () => {
    for (const rules of [
      ['tbs1:/first', 'tbs1:/second'],
      ['tbs1:/same', 'tbs2:/b', 'tbs1:/same/'],
    ]) {
      assertError(() => buildRecoveryPlan(input({ tablespaceRules: rules })), {
        type: UsageError,
        code: 'usage',
        message: "tablespace 'tbs1' is relocated twice",
      });
    }
  });

  test("a tablespace at '/' in backup.info (not relocated) is refused", () => {
    assertError(
      () => buildRecoveryPlan(input({}, { tablespaces: [{ name: 'root', oid: 1, location: '/' }] })),
      { type: UsageError, code: 'usage', message: "tablespace 'root' cannot be '/'" },
    );
  });

  const OVERLAP_HINT =
    'Give each tablespace its own location outside the destination: --tablespace NAME:LOCATION.';
  const overlaps: Array<[string, string, string[], string]> = [
    [
      'a tablespace inside the destination',
      '/srv/rec',
      ['tbs1:/srv/rec/tbs1'],
      "the destination directory (/srv/rec) and tablespace 'tbs1' (/srv/rec/tbs1) overlap",
    ],
    [
      'the destination inside a tablespace',
      '/srv/rec/',
      ['tbs2:/srv'],
      "the destination directory (/srv/rec) and tablespace 'tbs2' (/srv) overlap",
    ],
    [
      'a tablespace at the destination itself (trailing slashes ignored)',
      '/srv/rec/',
      ['tbs1:/srv/rec//'],
      "the destination directory (/srv/rec) and tablespace 'tbs1' (/srv/rec) overlap",
    ],
    [
      'a tablespace left at its original location inside the destination',
      '/srv/pg',
      [],
      "the destination directory (/srv/pg) and tablespace 'tbs1' (/srv/pg/tbs1) overlap",
    ],
    [
      'two tablespaces at the same location',
      '/srv/rec',
      ['tbs1:/mnt/tbs', 'tbs2:/mnt/tbs'],
      "tablespace 'tbs1' (/mnt/tbs) and tablespace 'tbs2' (/mnt/tbs) overlap",
    ],
    [
      'a tablespace inside another',
      '/srv/rec',
      ['tbs2:/srv/pg/tbs1/sub'],
      "tablespace 'tbs1' (/srv/pg/tbs1) and tablespace 'tbs2' (/srv/pg/tbs1/sub) overlap",
    ],
  ];
  for (const [label, destination, rules, message] of overlaps) {
    test(`overlapping locations are refused: ${label}`, () => {
      assertError(() => buildRecoveryPlan(input({ destination, tablespaceRules: rules })), {
        type: UsageError,
        code: 'usage',
        message,
        hint: OVERLAP_HINT,
      });
    });
  }

  test("'/' is reported before any overlap", () => {
    assertError(() => buildRecoveryPlan(input({ destination: '/' })), {
      type: UsageError,
      code: 'usage',
      message: "the destination directory cannot be '/'",
    });
    assertError(() => buildRecoveryPlan(input({ tablespaceRules: ['tbs2:/'] })), {
      type: UsageError,
      code: 'usage',
      message: "tablespace 'tbs2' cannot be '/'",
    });
  });
});

describe('buildRecoveryPlan: refused backups and targets', () => {
  for (const status of ['FAILED', 'STARTED', 'EMPTY', 'SYNCING'] as const) {
    test(`status ${status}`, () => {
      assertError(() => buildRecoveryPlan(input({}, { status })), {
        code: 'backup-not-recoverable',
        message: `Cannot recover from backup 'B1' of server 'pg': backup status is not DONE (${status})`,
        hint: "Pick a DONE backup from 'barman list-backup'.",
      });
    });
  }

  test('the status is checked before the destination', () => {
    assert.throws(() => buildRecoveryPlan(input({ destination: 'x:y' }, { status: 'FAILED' })), {
      code: 'backup-not-recoverable',
    });
  });

  test('WAITING_FOR_WALS is accepted when its WALs have arrived', () => {
    assert.equal(buildRecoveryPlan(input({}, { status: 'WAITING_FOR_WALS' })).backupId, 'B1');
  });

  test('WAITING_FOR_WALS whose end WAL is still missing: an error naming it', () => {
    assertError(
      () => buildRecoveryPlan(input({ entries: ENTRIES.slice(0, 4) }, { status: 'WAITING_FOR_WALS' })),
      {
        code: 'wal-missing',
        message: `WAL file ${w(1, 5)} is missing from the archive: backup B1 needs ${w(1, 3)} to ${w(1, 5)} to be consistent`,
      },
    );
  });

  for (const field of ['begin_wal', 'end_wal', 'timeline', 'version'] as const) {
    test(`backup.info without ${field}`, () => {
      assertError(() => buildRecoveryPlan(input({}, { [field]: null })), {
        code: 'backup-incomplete',
        message: "backup 'B1' has no begin/end WAL, timeline or version in its backup.info",
      });
    });
  }

  test('a target time before the backup end', () => {
    assertError(
      () =>
        buildRecoveryPlan(
          input({
            targets: {
              ...NONE,
              target: {
                kind: 'time',
                epochMs: Date.UTC(2026, 10, 21, 4, 58, 20),
                text: '2026-11-21 04:58:20+00:00',
              },
            },
          }),
        ),
      {
        code: 'target-before-backup',
        message:
          'The requested target time 2026-11-21 04:58:20+00:00 is before the backup end time 2026-11-21 04:58:20.123456+00:00',
      },
    );
  });

  test('a target LSN before the backup end', () => {
    assertError(
      () => buildRecoveryPlan(input({ targets: { ...NONE, target: { kind: 'lsn', lsn: 0x5000000n } } })),
      {
        code: 'target-before-backup',
        message: 'The requested target LSN 0/5000000 is before the backup end LSN 0/5000028',
      },
    );
  });

  test('a target LSN beyond a gap', () => {
    const entries = ENTRIES.filter((entry) => entry.name !== w(1, 6));
    assertError(
      () =>
        buildRecoveryPlan(input({ entries, targets: { ...NONE, target: { kind: 'lsn', lsn: 0x7000000n } } })),
      {
        code: 'wal-missing',
        message: `WAL file ${w(1, 6)} is missing from the archive: the recovery target needs every segment up to ${w(1, 7)}`,
      },
    );
  });

  test('a target timeline that does not exist', () => {
    assertError(
      () => buildRecoveryPlan(input({ targets: { ...NONE, timeline: { kind: 'number', timeline: 3 } } })),
      {
        code: 'target-timeline-invalid',
        message: 'target timeline 3 does not exist in the archive (no 00000003.history file)',
      },
    );
  });

  test('a gap after the end is not an error: it is in the plan', () => {
    const entries = ENTRIES.filter((entry) => entry.name !== w(1, 7));
    const plan = buildRecoveryPlan(input({ entries }));
    assert.deepEqual(plan.wal.selection.gap, { after: w(1, 6), missing: w(1, 7) });
    assert.deepEqual(names(plan.wal.selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]);
    assert.ok(
      describePlan(plan).includes(`WARNING: the archive has a gap: ${w(1, 7)} is missing after ${w(1, 6)}`),
    );
  });
});

describe('buildRecoveryPlan: --staging-wal-directory and --recovery-conf-filename', () => {
  test('a PITR copies its WAL into the absolute staging directory, quoted for the shell', () => {
    const plan = buildRecoveryPlan(
      input({ targets: TIME_TARGET, stagingWalDirectory: '/var/lib/wal stage/' }),
    );
    assert.equal(plan.wal.directory, '/var/lib/wal stage');
    assert.equal(plan.wal.archiveStatus, false);
    assert.deepEqual(plan.settings.lines.slice(0, 2), [
      "restore_command = 'cp ''/var/lib/wal stage''/%f %p'",
      "recovery_end_command = 'rm -fr ''/var/lib/wal stage'''",
    ]);
    assert.ok(
      describePlan(plan).includes(
        'WAL files to copy into /var/lib/wal stage/: 5 (000000010000000000000003 to 000000010000000000000007)',
      ),
    );
  });

  test('a directory of its own inside PGDATA is accepted', () => {
    const plan = buildRecoveryPlan(input({ targets: TIME_TARGET, stagingWalDirectory: '/srv/rec/my_wal' }));
    assert.equal(plan.wal.directory, '/srv/rec/my_wal');
  });

  const refusals: Array<[string, Partial<PlanInput>, string]> = [
    [
      'relative',
      { targets: TIME_TARGET, stagingWalDirectory: 'wal' },
      "--staging-wal-directory must be an absolute path: 'wal'",
    ],
    [
      '/',
      { targets: TIME_TARGET, stagingWalDirectory: '/' },
      "--staging-wal-directory / cannot be '/': PostgreSQL removes it (recovery_end_command) once recovery ends",
    ],
    [
      'the destination',
      { targets: TIME_TARGET, stagingWalDirectory: '/srv/rec/' },
      '--staging-wal-directory /srv/rec cannot be the destination directory or one of its parents: PostgreSQL removes it (recovery_end_command) once recovery ends',
    ],
    [
      'a parent of the destination',
      { targets: TIME_TARGET, stagingWalDirectory: '/srv' },
      '--staging-wal-directory /srv cannot be the destination directory or one of its parents: PostgreSQL removes it (recovery_end_command) once recovery ends',
    ],
    [
      'pg_wal',
      { targets: TIME_TARGET, stagingWalDirectory: '/srv/rec/pg_wal' },
      "--staging-wal-directory /srv/rec/pg_wal cannot be inside PostgreSQL's directory pg_wal: PostgreSQL removes it (recovery_end_command) once recovery ends",
    ],
    [
      'a tablespace',
      { targets: TIME_TARGET, stagingWalDirectory: '/srv/pg/tbs2/wal' },
      "--staging-wal-directory /srv/pg/tbs2/wal cannot be inside tablespace 'tbs2' (/srv/pg/tbs2): PostgreSQL removes it (recovery_end_command) once recovery ends",
    ],
    [
      'no PITR',
      { stagingWalDirectory: '/srv/wal' },
      '--staging-wal-directory is only used by a point-in-time recovery that copies WAL files',
    ],
    [
      'standby mode',
      { targets: { ...TIME_TARGET, standbyMode: true }, stagingWalDirectory: '/srv/wal' },
      '--staging-wal-directory is only used by a point-in-time recovery that copies WAL files',
    ],
    [
      'get-wal',
      { targets: TIME_TARGET, getWal: true, stagingWalDirectory: '/srv/wal' },
      '--staging-wal-directory cannot be used with get-wal: PostgreSQL fetches the WAL files with barman-wal-restore or get-wal, nothing is copied',
    ],
  ];
  for (const [label, over, message] of refusals) {
    test(`--staging-wal-directory refused: ${label}`, () => {
      assertError(() => buildRecoveryPlan(input(over)), { type: UsageError, code: 'usage', message });
    });
  }

  test('--recovery-conf-filename names the settings file (PostgreSQL 12+)', () => {
    const plan = buildRecoveryPlan(
      input({ targets: TIME_TARGET, recoveryConfFilename: 'recovery-custom.conf' }),
    );
    assert.equal(plan.settings.file, 'recovery-custom.conf');
    assert.equal(plan.settings.signal, 'recovery.signal');
    assert.ok(describePlan(plan).includes('Settings for recovery-custom.conf:'));
  });

  for (const [label, over, infoFields, message] of [
    [
      'PostgreSQL 11',
      { recoveryConfFilename: 'x.conf' },
      { version: 110022 },
      '--recovery-conf-filename needs PostgreSQL 12 or later: backup B1 is from 110022, whose recovery settings must go to recovery.conf',
    ],
    [
      'a path',
      { recoveryConfFilename: 'conf.d/x.conf' },
      {},
      "--recovery-conf-filename must be a file name in the data directory, not a path: 'conf.d/x.conf'",
    ],
    [
      '..',
      { recoveryConfFilename: '..' },
      {},
      "--recovery-conf-filename must be a file name in the data directory, not a path: '..'",
    ],
  ] as Array<[string, Partial<PlanInput>, Partial<BackupInfo>, string]>) {
    test(`--recovery-conf-filename refused: ${label}`, () => {
      assertError(() => buildRecoveryPlan(input(over, infoFields)), {
        type: UsageError,
        code: 'usage',
        message,
      });
    });
  }
});
