import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BarmanError, UsageError } from '../../../src/errors/index.js';
import {
  checkTargetAgainstBackup,
  describeTargets,
  formatTargetTime,
  parseRecoveryTargets,
  parseTargetTime,
  parseTimelineRequest,
  type RecoveryTargetInput,
  type RecoveryTargets,
  type TimelineRequest,
} from '../../../src/recovery/targets.js';

/** A fixed UTC offset, e.g. +01:00 all year round. */
const fixed = (minutes: number) => () => minutes;
const UTC = fixed(0);
const PLUS_ONE = fixed(60);

/**
 * Europe/Paris in 2026: CET (+01:00), CEST (+02:00) from 2026-03-29 01:00 UTC to
 * 2026-10-25 01:00 UTC. Independent of the TZ of the machine running the tests.
 */
const DST_START = Date.UTC(2026, 2, 29, 1, 0, 0);
const DST_END = Date.UTC(2026, 9, 25, 1, 0, 0);
const paris = (epochMs: number) => (epochMs >= DST_START && epochMs < DST_END ? 120 : 60);

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) =>
  Date.UTC(y, mo - 1, d, h, mi, s, ms);

/** Asserts a UsageError (exit 2) with exactly this message. */
function assertUsage(fn: () => unknown, message: string, hint?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
    assert.equal(error.message, message);
    assert.equal(error.code, 'usage');
    assert.equal(error.exitCode, 2);
    if (hint !== undefined) assert.equal(error.hint, hint);
    return true;
  });
}

const NONE: RecoveryTargets = {
  target: { kind: 'none' },
  timeline: null,
  exclusive: false,
  action: null,
  standbyMode: false,
};

describe('parseTargetTime: explicit zones', () => {
  const rows: Array<[string, number]> = [
    ['2026-11-21 04:58:30+00:00', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21T04:58:30Z', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21t04:58:30z', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21 04:58:30 UTC', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21 04:58:30GMT', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21 04:58:30 gmt', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-11-21 04:58:30+02', utc(2026, 11, 21, 2, 58, 30)],
    ['2026-11-21 04:58:30-07', utc(2026, 11, 21, 11, 58, 30)],
    ['2026-11-21 04:58:30+0530', utc(2026, 11, 20, 23, 28, 30)],
    ['2026-11-21 04:58:30+05:30', utc(2026, 11, 20, 23, 28, 30)],
    ['2026-11-21 04:58:30-03:30', utc(2026, 11, 21, 8, 28, 30)],
    ['2026-11-21 04:58:30-0330', utc(2026, 11, 21, 8, 28, 30)],
    ['2026-11-21 04:58:30 +01:00', utc(2026, 11, 21, 3, 58, 30)],
    ['2026-11-21 04:58Z', utc(2026, 11, 21, 4, 58, 0)],
    ['2026-11-21Z', utc(2026, 11, 21)],
    ['2026-11-21 04:58:30.5Z', utc(2026, 11, 21, 4, 58, 30, 500)],
    ['2026-11-21 04:58:30.05Z', utc(2026, 11, 21, 4, 58, 30, 50)],
    ['2026-11-21 04:58:30.123456Z', utc(2026, 11, 21, 4, 58, 30, 123)],
    ['2026-11-21 04:58:30.999999+00:00', utc(2026, 11, 21, 4, 58, 30, 999)],
    ['  2026-11-21 04:58:30Z\n', utc(2026, 11, 21, 4, 58, 30)],
    ['2026-12-31 23:30:00-01:00', utc(2027, 1, 1, 0, 30, 0)],
    ['2028-02-29 12:00:00Z', utc(2028, 2, 29, 12)],
    ['2000-02-29 12:00:00Z', utc(2000, 2, 29, 12)],
    ['2026-01-31 23:59:59Z', utc(2026, 1, 31, 23, 59, 59)],
  ];
  for (const [text, expected] of rows) {
    test(JSON.stringify(text), () => {
      // The zone in the text wins over the local offset function.
      assert.equal(parseTargetTime(text, PLUS_ONE), expected);
    });
  }
});

describe('parseTargetTime: naive times use the local offset function', () => {
  test('a fixed +01:00 zone', () => {
    assert.equal(parseTargetTime('2026-11-21 04:58:30', PLUS_ONE), utc(2026, 11, 21, 3, 58, 30));
    assert.equal(parseTargetTime('2026-11-21', PLUS_ONE), utc(2026, 11, 20, 23, 0, 0));
    assert.equal(parseTargetTime('2026-11-21 00:30', fixed(-300)), utc(2026, 11, 21, 5, 30));
    assert.equal(parseTargetTime('2026-11-21 04:58:30.25', fixed(330)), utc(2026, 11, 20, 23, 28, 30, 250));
  });

  const dst: Array<[string, string, number]> = [
    ['winter', '2026-01-15 12:00:00', utc(2026, 1, 15, 11)],
    ['summer', '2026-07-01 12:00:00', utc(2026, 7, 1, 10)],
    ['just before the spring jump', '2026-03-29 01:59:59', utc(2026, 3, 29, 0, 59, 59)],
    ['just after the spring jump', '2026-03-29 03:00:00', utc(2026, 3, 29, 1, 0, 0)],
    // 02:30 does not exist: read with the offset in force before the jump (as PostgreSQL does).
    ['inside the spring gap', '2026-03-29 02:30:00', utc(2026, 3, 29, 1, 30)],
    ['before the autumn fold', '2026-10-25 01:30:00', utc(2026, 10, 24, 23, 30)],
    // 02:30 happens twice: the later one (standard time), as PostgreSQL does.
    ['inside the autumn fold', '2026-10-25 02:30:00', utc(2026, 10, 25, 1, 30)],
    ['after the autumn fold', '2026-10-25 03:30:00', utc(2026, 10, 25, 2, 30)],
  ];
  for (const [label, text, expected] of dst) {
    test(`Europe/Paris DST: ${label} (${text})`, () => {
      assert.equal(parseTargetTime(text, paris), expected);
    });
  }
});

describe('parseTargetTime: bad input', () => {
  const bad = [
    '',
    'yesterday',
    'now',
    '2026-02-30 10:00:00',
    '2026-02-29 10:00:00',
    '2100-02-29 10:00:00',
    '2026-04-31',
    '2026-13-01',
    '2026-00-10',
    '2026-01-00',
    '2026-01-32',
    '2026-1-5',
    '26-11-21',
    '2026/11/21 10:00:00',
    '2026-11-21 24:00:00',
    '2026-11-21 23:60:00',
    '2026-11-21 23:59:60',
    '2026-11-21 4:58:30',
    '2026-11-21 04',
    '2026-11-21 04:58:30.',
    '2026-11-21 04:58:30.1234567Z',
    '2026-11-21 04:58:30+1',
    '2026-11-21 04:58:30+01:0',
    '2026-11-21 04:58:30 CET',
    '2026-11-21 04:58:30 Europe/Paris',
    '2026-11-21 04:58:30+01:75',
    '2026-11-21 04:58:30+24:00',
    '2026-11-21 04:58:30Z trailing',
    '1732165110',
  ];
  for (const text of bad) {
    test(JSON.stringify(text), () => {
      assertUsage(
        () => parseTargetTime(text, UTC),
        `invalid --target-time '${text}'`,
        "Use 'YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]'; without an offset the local time zone of the barman-ts host is used.",
      );
    });
  }
});

describe('formatTargetTime', () => {
  const rows: Array<[string, number, (ms: number) => number, string]> = [
    ['UTC', utc(2026, 11, 21, 4, 58, 30), UTC, '2026-11-21 04:58:30+00:00'],
    ['east, whole hours', utc(2026, 11, 21, 4, 58, 30), PLUS_ONE, '2026-11-21 05:58:30+01:00'],
    ['east, half hour, next day', utc(2026, 11, 21, 20, 0, 0), fixed(330), '2026-11-22 01:30:00+05:30'],
    ['west, half hour, previous day', utc(2026, 1, 1, 2, 0, 0), fixed(-210), '2025-12-31 22:30:00-03:30'],
    ['west, -09:30', utc(2026, 6, 1, 12, 0, 0), fixed(-570), '2026-06-01 02:30:00-09:30'],
    [
      'milliseconds as microseconds',
      utc(2026, 11, 21, 4, 58, 30, 5),
      UTC,
      '2026-11-21 04:58:30.005000+00:00',
    ],
    ['padding of every field', utc(2026, 1, 2, 3, 4, 5, 60), UTC, '2026-01-02 03:04:05.060000+00:00'],
    ['DST: summer', utc(2026, 7, 1, 10), paris, '2026-07-01 12:00:00+02:00'],
    ['DST: winter', utc(2026, 1, 15, 11), paris, '2026-01-15 12:00:00+01:00'],
    ['DST: first instant of summer time', DST_START, paris, '2026-03-29 03:00:00+02:00'],
    ['DST: last instant of summer time', DST_END - 1000, paris, '2026-10-25 02:59:59+02:00'],
    ['DST: first instant of winter time', DST_END, paris, '2026-10-25 02:00:00+01:00'],
  ];
  for (const [label, epochMs, offset, expected] of rows) {
    test(label, () => {
      assert.equal(formatTargetTime(epochMs, offset), expected);
    });
  }

  test('extraMicros: the digits below the millisecond', () => {
    const at = utc(2026, 11, 21, 4, 58, 30, 123);
    assert.equal(formatTargetTime(at, UTC, 456), '2026-11-21 04:58:30.123456+00:00');
    assert.equal(formatTargetTime(utc(2026, 11, 21, 4, 58, 30), UTC, 7), '2026-11-21 04:58:30.000007+00:00');
    assert.equal(formatTargetTime(at, UTC, 0), '2026-11-21 04:58:30.123000+00:00');
  });

  test('round trip through parseTargetTime', () => {
    for (const text of [
      '2026-11-21 05:58:30+01:00',
      '2026-03-29 03:00:00+02:00',
      '2026-10-25 02:30:00+01:00',
    ]) {
      assert.equal(formatTargetTime(parseTargetTime(text, paris), paris), text);
    }
  });
});

describe('parseTimelineRequest', () => {
  const rows: Array<[string, TimelineRequest]> = [
    ['current', { kind: 'current' }],
    ['CURRENT', { kind: 'current' }],
    [' latest ', { kind: 'latest' }],
    ['Latest', { kind: 'latest' }],
    ['1', { kind: 'number', timeline: 1 }],
    ['2', { kind: 'number', timeline: 2 }],
    ['010', { kind: 'number', timeline: 10 }],
    ['4294967295', { kind: 'number', timeline: 4294967295 }],
    ['0x1A', { kind: 'number', timeline: 26 }],
    ['0X1a', { kind: 'number', timeline: 26 }],
    ['0xFFFFFFFF', { kind: 'number', timeline: 4294967295 }],
  ];
  for (const [text, expected] of rows) {
    test(JSON.stringify(text), () => {
      assert.deepEqual(parseTimelineRequest(text), expected);
    });
  }
  for (const text of [
    '',
    '0',
    '-1',
    '1.5',
    '4294967296',
    'newest',
    '0x',
    '0x0',
    '0x100000000',
    '1A',
    'tli2',
  ]) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assertUsage(
        () => parseTimelineRequest(text),
        `invalid --target-tli '${text}': expected current, latest or a timeline number`,
      );
    });
  }
});

describe('parseRecoveryTargets', () => {
  test('no option: no target, PostgreSQL defaults', () => {
    assert.deepEqual(parseRecoveryTargets({}, UTC), NONE);
    assert.deepEqual(
      parseRecoveryTargets({ targetImmediate: false, exclusive: false, standbyMode: false }, UTC),
      NONE,
    );
  });

  const rows: Array<[string, RecoveryTargetInput, RecoveryTargets]> = [
    [
      'time with a zone, written in the local offset',
      { targetTime: '2026-11-21 04:58:30+00:00' },
      {
        ...NONE,
        target: { kind: 'time', epochMs: utc(2026, 11, 21, 4, 58, 30), text: '2026-11-21 05:58:30+01:00' },
      },
    ],
    [
      'naive time in the local zone',
      { targetTime: '2026-11-21 04:58:30' },
      {
        ...NONE,
        target: { kind: 'time', epochMs: utc(2026, 11, 21, 3, 58, 30), text: '2026-11-21 04:58:30+01:00' },
      },
    ],
    [
      'time keeps its microseconds in the text written for PostgreSQL',
      { targetTime: '2026-11-21 05:58:30.123456+01:00' },
      {
        ...NONE,
        target: {
          kind: 'time',
          epochMs: utc(2026, 11, 21, 4, 58, 30, 123),
          text: '2026-11-21 05:58:30.123456+01:00',
        },
      },
    ],
    [
      'time with a fraction of one digit',
      { targetTime: '2026-11-21 05:58:30.5' },
      {
        ...NONE,
        target: {
          kind: 'time',
          epochMs: utc(2026, 11, 21, 4, 58, 30, 500),
          text: '2026-11-21 05:58:30.500000+01:00',
        },
      },
    ],
    [
      'time with microseconds below the millisecond only',
      { targetTime: '2026-11-21 05:58:30.000007' },
      {
        ...NONE,
        target: {
          kind: 'time',
          epochMs: utc(2026, 11, 21, 4, 58, 30),
          text: '2026-11-21 05:58:30.000007+01:00',
        },
      },
    ],
    ['xid', { targetXid: '1234' }, { ...NONE, target: { kind: 'xid', xid: '1234' } }],
    [
      'xid: spaces and leading zeros',
      { targetXid: ' 0042 ' },
      { ...NONE, target: { kind: 'xid', xid: '42' } },
    ],
    [
      'xid: 64-bit maximum (epoch-qualified)',
      { targetXid: '18446744073709551615' },
      { ...NONE, target: { kind: 'xid', xid: '18446744073709551615' } },
    ],
    ['lsn', { targetLsn: '0/3000060' }, { ...NONE, target: { kind: 'lsn', lsn: 0x3000060n } }],
    [
      'lsn: lower case, spaces',
      { targetLsn: ' 16/b374d848 ' },
      { ...NONE, target: { kind: 'lsn', lsn: 0x16b374d848n } },
    ],
    [
      'name kept exactly',
      { targetName: " before 'upgrade' \\ " },
      { ...NONE, target: { kind: 'name', name: " before 'upgrade' \\ " } },
    ],
    ['immediate', { targetImmediate: true }, { ...NONE, target: { kind: 'immediate' } }],
    ['tli alone', { targetTli: 'latest' }, { ...NONE, timeline: { kind: 'latest' } }],
    [
      'xid, exclusive, tli 3, promote, standby',
      { targetXid: '77', exclusive: true, targetTli: '3', targetAction: 'promote', standbyMode: true },
      {
        target: { kind: 'xid', xid: '77' },
        timeline: { kind: 'number', timeline: 3 },
        exclusive: true,
        action: 'promote',
        standbyMode: true,
      },
    ],
    [
      'lsn, exclusive',
      { targetLsn: '0/5000000', exclusive: true },
      { ...NONE, target: { kind: 'lsn', lsn: 0x5000000n }, exclusive: true },
    ],
    [
      'name, pause',
      { targetName: 'rp1', targetAction: 'pause' },
      { ...NONE, target: { kind: 'name', name: 'rp1' }, action: 'pause' },
    ],
    [
      'immediate, shutdown, current',
      { targetImmediate: true, targetAction: 'shutdown', targetTli: 'current' },
      { ...NONE, target: { kind: 'immediate' }, action: 'shutdown', timeline: { kind: 'current' } },
    ],
    ['standby mode alone', { standbyMode: true }, { ...NONE, standbyMode: true }],
  ];
  for (const [label, input, expected] of rows) {
    test(label, () => {
      assert.deepEqual(parseRecoveryTargets(input, PLUS_ONE), expected);
    });
  }

  test('an exclusive time target', () => {
    const targets = parseRecoveryTargets({ targetTime: '2026-11-21 04:58:30Z', exclusive: true }, UTC);
    assert.equal(targets.exclusive, true);
    assert.deepEqual(targets.target, {
      kind: 'time',
      epochMs: utc(2026, 11, 21, 4, 58, 30),
      text: '2026-11-21 04:58:30+00:00',
    });
  });

  test('a naive time across DST is written with the offset in force then', () => {
    assert.deepEqual(parseRecoveryTargets({ targetTime: '2026-07-01 12:00:00' }, paris).target, {
      kind: 'time',
      epochMs: utc(2026, 7, 1, 10),
      text: '2026-07-01 12:00:00+02:00',
    });
    assert.deepEqual(parseRecoveryTargets({ targetTime: '2026-12-01 12:00:00' }, paris).target, {
      kind: 'time',
      epochMs: utc(2026, 12, 1, 11),
      text: '2026-12-01 12:00:00+01:00',
    });
  });

  const conflicts: Array<[RecoveryTargetInput, string]> = [
    [{ targetTime: '2026-11-21', targetXid: '1' }, '--target-time, --target-xid'],
    [{ targetXid: '1', targetLsn: '0/1' }, '--target-xid, --target-lsn'],
    [{ targetLsn: '0/1', targetName: 'x' }, '--target-lsn, --target-name'],
    [{ targetName: 'x', targetImmediate: true }, '--target-name, --target-immediate'],
    [
      { targetTime: 'bad', targetXid: 'bad', targetLsn: 'bad', targetName: '', targetImmediate: true },
      '--target-time, --target-xid, --target-lsn, --target-name, --target-immediate',
    ],
  ];
  for (const [input, flags] of conflicts) {
    test(`multiple targets: ${flags}`, () => {
      assertUsage(
        () => parseRecoveryTargets(input, UTC),
        `You cannot specify multiple targets for the recovery operation (${flags})`,
      );
    });
  }

  test('targetImmediate false does not count as a target', () => {
    assert.deepEqual(parseRecoveryTargets({ targetXid: '5', targetImmediate: false }, UTC).target, {
      kind: 'xid',
      xid: '5',
    });
  });

  const invalid: Array<[string, RecoveryTargetInput, string]> = [
    ['bad time', { targetTime: '2026-02-30 10:00' }, "invalid --target-time '2026-02-30 10:00'"],
    ['negative xid', { targetXid: '-1' }, "invalid --target-xid '-1': expected a transaction id (a number)"],
    ['hex xid', { targetXid: '0x10' }, "invalid --target-xid '0x10': expected a transaction id (a number)"],
    ['empty xid', { targetXid: '' }, "invalid --target-xid '': expected a transaction id (a number)"],
    [
      'fractional xid',
      { targetXid: '1.5' },
      "invalid --target-xid '1.5': expected a transaction id (a number)",
    ],
    [
      'xid above 64 bits',
      { targetXid: '18446744073709551616' },
      "invalid --target-xid '18446744073709551616': expected a transaction id (a number)",
    ],
    [
      'lsn without slash',
      { targetLsn: '3000060' },
      "invalid --target-lsn '3000060': expected an LSN such as 0/3000060",
    ],
    ['lsn half', { targetLsn: '0/' }, "invalid --target-lsn '0/': expected an LSN such as 0/3000060"],
    ['lsn not hex', { targetLsn: 'G/1' }, "invalid --target-lsn 'G/1': expected an LSN such as 0/3000060"],
    [
      'lsn too long',
      { targetLsn: '123456789/0' },
      "invalid --target-lsn '123456789/0': expected an LSN such as 0/3000060",
    ],
    ['blank name', { targetName: '   ' }, '--target-name needs the name of a restore point'],
    ['empty name', { targetName: '' }, '--target-name needs the name of a restore point'],
    [
      'bad tli',
      { targetXid: '1', targetTli: 'newest' },
      "invalid --target-tli 'newest': expected current, latest or a timeline number",
    ],
    ['exclusive alone', { exclusive: true }, '--exclusive needs --target-time, --target-xid or --target-lsn'],
    [
      'exclusive with a name',
      { targetName: 'rp', exclusive: true },
      '--exclusive needs --target-time, --target-xid or --target-lsn',
    ],
    [
      'exclusive with immediate',
      { targetImmediate: true, exclusive: true },
      '--exclusive needs --target-time, --target-xid or --target-lsn',
    ],
    [
      'unknown action',
      { targetXid: '1', targetAction: 'resume' },
      "invalid --target-action 'resume': expected pause, promote or shutdown",
    ],
    [
      'action is case-sensitive',
      { targetXid: '1', targetAction: 'Promote' },
      "invalid --target-action 'Promote': expected pause, promote or shutdown",
    ],
    [
      'unknown action without a target: the value is reported first',
      { targetAction: 'nope' },
      "invalid --target-action 'nope': expected pause, promote or shutdown",
    ],
    [
      'action without a target',
      { targetAction: 'promote' },
      "Can't enable recovery target action when PITR is not required",
    ],
    [
      'action with only a timeline',
      { targetAction: 'pause', targetTli: 'latest' },
      "Can't enable recovery target action when PITR is not required",
    ],
  ];
  for (const [label, input, message] of invalid) {
    test(`bad input: ${label}`, () => {
      assertUsage(() => parseRecoveryTargets(input, UTC), message);
    });
  }

  test('the action-without-target error has a hint naming the target options', () => {
    assertUsage(
      () => parseRecoveryTargets({ targetAction: 'shutdown' }, UTC),
      "Can't enable recovery target action when PITR is not required",
      'Give a recovery target (--target-time, --target-xid, --target-lsn, --target-name or --target-immediate).',
    );
  });
});

describe('describeTargets', () => {
  const rows: Array<[string, RecoveryTargets, number | null, string]> = [
    ['no target', NONE, null, ''],
    ['only a timeline', NONE, 3, "Recovery target timeline: '3'"],
    [
      'time',
      { ...NONE, target: { kind: 'time', epochMs: 0, text: '2026-11-21 04:58:30+00:00' } },
      null,
      "Recovery target time: '2026-11-21 04:58:30+00:00'",
    ],
    [
      'xid and timeline',
      { ...NONE, target: { kind: 'xid', xid: '1234' } },
      2,
      "Recovery target xid: '1234', Recovery target timeline: '2'",
    ],
    [
      'lsn, upper case',
      { ...NONE, target: { kind: 'lsn', lsn: 0x16b374d848n } },
      null,
      "Recovery target LSN: '16/B374D848'",
    ],
    ['name', { ...NONE, target: { kind: 'name', name: 'rp 1' } }, null, "Recovery target name: 'rp 1'"],
    [
      'immediate, timeline 1',
      { ...NONE, target: { kind: 'immediate' } },
      1,
      "Recovery target: 'immediate', Recovery target timeline: '1'",
    ],
  ];
  for (const [label, targets, timeline, expected] of rows) {
    test(label, () => {
      assert.equal(describeTargets(targets, timeline), expected);
    });
  }
});

describe('checkTargetAgainstBackup', () => {
  const backup = {
    id: '20261121T045816',
    endTimeMs: utc(2026, 11, 21, 4, 58, 20),
    endTimeText: '2026-11-21 04:58:20.123456+00:00',
    endLsn: 0x5000028n,
  };
  const time = (epochMs: number): RecoveryTargets => ({
    ...NONE,
    target: { kind: 'time', epochMs, text: formatTargetTime(epochMs, UTC) },
  });
  const lsn = (value: bigint): RecoveryTargets => ({ ...NONE, target: { kind: 'lsn', lsn: value } });

  function assertBefore(fn: () => unknown, message: string, hint: string): void {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof BarmanError);
      assert.ok(!(error instanceof UsageError));
      assert.equal(error.code, 'target-before-backup');
      assert.equal(error.exitCode, 1);
      assert.equal(error.message, message);
      assert.equal(error.hint, hint);
      return true;
    });
  }

  test('a target time before the backup end is refused', () => {
    assertBefore(
      () => checkTargetAgainstBackup(time(utc(2026, 11, 21, 4, 58, 19, 999)), backup),
      'The requested target time 2026-11-21 04:58:19.999000+00:00 is before the backup end time 2026-11-21 04:58:20.123456+00:00',
      "Choose an older backup than 20261121T045816 (see 'barman list-backup'), or a later target.",
    );
  });

  test('a target LSN before the backup end is refused', () => {
    assertBefore(
      () => checkTargetAgainstBackup(lsn(0x5000027n), backup),
      'The requested target LSN 0/5000027 is before the backup end LSN 0/5000028',
      'Choose an older backup than 20261121T045816, or a later target.',
    );
  });

  const accepted: Array<[string, RecoveryTargets, typeof backup | Record<string, unknown>]> = [
    ['time equal to the end', time(backup.endTimeMs), backup],
    ['time after the end', time(backup.endTimeMs + 1), backup],
    ['time, backup without end time', time(0), { ...backup, endTimeMs: null, endTimeText: null }],
    ['LSN equal to the end', lsn(0x5000028n), backup],
    ['LSN after the end', lsn(0x100000000n), backup],
    ['LSN, backup without end LSN', lsn(0n), { ...backup, endLsn: null }],
    ['xid (not comparable)', { ...NONE, target: { kind: 'xid', xid: '1' } }, backup],
    ['name', { ...NONE, target: { kind: 'name', name: 'x' } }, backup],
    ['immediate', { ...NONE, target: { kind: 'immediate' } }, backup],
    ['no target', NONE, backup],
  ];
  for (const [label, targets, facts] of accepted) {
    test(`accepted: ${label}`, () => {
      assert.equal(checkTargetAgainstBackup(targets, facts as typeof backup), undefined);
    });
  }
});
