import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BarmanError } from '../../../src/errors/index.js';
import type { RecoveryTarget, TimelineRequest } from '../../../src/recovery/targets.js';
import {
  resolveTargetTimeline,
  selectRecoveryWals,
  timelinePath,
  type BackupWalFacts,
  type TimelineStep,
} from '../../../src/recovery/wal-selection.js';
import type { TimelineSwitch } from '../../../src/wal/history.js';
import type { XlogDbEntry } from '../../../src/wal/xlogdb.js';

const MiB = 1024 * 1024;
const SEG16 = 16 * MiB;
const SEG64 = 64 * MiB;

/** `000000TT00000000000000SS`-style names for 16 MiB segments, written out for readability. */
const w = (timeline: number, segment: number, log = 0): string =>
  timeline.toString(16).toUpperCase().padStart(8, '0') +
  log.toString(16).toUpperCase().padStart(8, '0') +
  segment.toString(16).toUpperCase().padStart(8, '0');

/**
 * xlog.db entries: a name, or [name, mtime seconds]. Without an mtime, entries get 1000, 1001, ...
 * in list order; sizes are distinct so that a wrong entry object shows up in deepEqual.
 */
function xlog(...rows: Array<string | [string, number]>): XlogDbEntry[] {
  return rows.map((row, index) => {
    const [name, mtime] = typeof row === 'string' ? [row, 1000 + index] : row;
    return { name, size: 1000 + index, mtime, compression: 'gzip', encryption: null };
  });
}

/** Names of the selected files, in order. */
const names = (entries: readonly XlogDbEntry[]): string[] => entries.map((entry) => entry.name);

/** Timeline history contents: [parent, switchpoint] pairs. */
const history = (...rows: Array<[number, bigint]>): TimelineSwitch[] =>
  rows.map(([parentTimeline, switchpoint]) => ({ parentTimeline, switchpoint, reason: 'test' }));

const histories = (...rows: Array<[number, TimelineSwitch[]]>): Map<number, TimelineSwitch[]> =>
  new Map(rows);

/** Backup B1 on timeline 1: 0/3000028 .. 0/5000028 (segments 3 to 5). */
const B1: BackupWalFacts = {
  id: 'B1',
  timeline: 1,
  beginWal: w(1, 3),
  endWal: w(1, 5),
  endLsn: 0x5000028n,
  segmentSize: SEG16,
};

const NONE: RecoveryTarget = { kind: 'none' };
const NO_HISTORY = histories();

function assertBarmanError(fn: () => unknown, code: string, message: string, hint?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BarmanError, `expected a BarmanError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    if (hint !== undefined) assert.equal(error.hint, hint);
    return true;
  });
}

const CONSISTENCY_HINT =
  "Run 'barman archive-wal' if it is still in incoming/, or check the archiver ('barman check').";

describe('resolveTargetTimeline', () => {
  /** TL2 from 1 after the backup, TL3 from 2. */
  const chain = histories([2, history([1, 0x8000060n])], [3, history([1, 0x8000060n], [2, 0xa000000n])]);

  const rows: Array<[string, TimelineRequest | null, BackupWalFacts, Map<number, TimelineSwitch[]>, number]> =
    [
      ['default without histories: the backup timeline', null, B1, NO_HISTORY, 1],
      ['latest without histories', { kind: 'latest' }, B1, NO_HISTORY, 1],
      ['default (null) is latest', null, B1, chain, 3],
      ['latest follows the descendants', { kind: 'latest' }, B1, chain, 3],
      ['current ignores the histories', { kind: 'current' }, B1, chain, 1],
      ['a number on the path', { kind: 'number', timeline: 2 }, B1, chain, 2],
      ['the backup timeline as a number', { kind: 'number', timeline: 1 }, B1, chain, 1],
      [
        'latest skips a timeline that branched before the backup ended',
        { kind: 'latest' },
        B1,
        histories([2, history([1, 0x4000000n])]),
        1,
      ],
      [
        'latest: a higher sibling that branched before the backup end loses to a lower one after it',
        { kind: 'latest' },
        B1,
        histories([2, history([1, 0x9000000n])], [3, history([1, 0x3000000n])]),
        2,
      ],
      [
        'latest skips a timeline that does not descend from the backup timeline',
        { kind: 'latest' },
        { ...B1, timeline: 2, beginWal: w(2, 9), endWal: w(2, 9), endLsn: 0x9000100n },
        histories([2, history([1, 0x8000000n])], [3, history([1, 0x7000000n])]),
        2,
      ],
      [
        'a switchpoint equal to the backup end LSN is accepted',
        { kind: 'number', timeline: 2 },
        B1,
        histories([2, history([1, 0x5000028n])]),
        2,
      ],
      [
        'without an end LSN (old catalogue) the switchpoint is not checked',
        { kind: 'number', timeline: 2 },
        { ...B1, endLsn: null },
        histories([2, history([1, 0x1000000n])]),
        2,
      ],
    ];
  for (const [label, request, backup, known, expected] of rows) {
    test(label, () => {
      assert.equal(resolveTargetTimeline(request, backup, known), expected);
    });
  }

  const hint = "Use --target-tli current, latest, or a timeline listed by the archive's .history files.";
  const errors: Array<[string, number, BackupWalFacts, Map<number, TimelineSwitch[]>, string]> = [
    [
      'older than the backup',
      1,
      { ...B1, timeline: 2, beginWal: w(2, 9), endWal: w(2, 9) },
      chain,
      "target timeline 1 is older than the backup's timeline 2 (backup B1)",
    ],
    [
      'unknown timeline',
      4,
      B1,
      chain,
      'target timeline 4 does not exist in the archive (no 00000004.history file)',
    ],
    [
      'unknown timeline in hex in the file name',
      26,
      B1,
      chain,
      'target timeline 26 does not exist in the archive (no 0000001A.history file)',
    ],
    [
      'a branch of another timeline',
      3,
      { ...B1, timeline: 2, beginWal: w(2, 9), endWal: w(2, 9), endLsn: 0x9000100n },
      histories([2, history([1, 0x8000000n])], [3, history([1, 0x7000000n])]),
      'target timeline 3 does not descend from timeline 2 of backup B1',
    ],
    [
      'a branch before the backup ended',
      2,
      B1,
      histories([2, history([1, 0x4000000n])]),
      'target timeline 2 branched off timeline 1 at 0/4000000, before backup B1 ended (0/5000028)',
    ],
    [
      'an indirect branch before the backup ended',
      3,
      B1,
      histories([3, history([1, 0x5000000n], [2, 0x9000000n])]),
      'target timeline 3 branched off timeline 1 at 0/5000000, before backup B1 ended (0/5000028)',
    ],
  ];
  for (const [label, timeline, backup, known, message] of errors) {
    test(`refused: ${label}`, () => {
      assertBarmanError(
        () => resolveTargetTimeline({ kind: 'number', timeline }, backup, known),
        'target-timeline-invalid',
        message,
        hint,
      );
    });
  }
});

describe('timelinePath', () => {
  test('the backup timeline alone: open-ended from the begin segment', () => {
    assert.deepEqual(timelinePath(1, B1, NO_HISTORY), [
      { timeline: 1, fromSegno: 3n, toSegno: null, endLsn: null },
    ]);
  });

  test('two switches: each step ends in the segment holding the switchpoint', () => {
    const known = histories([3, history([1, 0x8000060n], [2, 0xa000000n])]);
    assert.deepEqual(timelinePath(3, B1, known), [
      { timeline: 1, fromSegno: 3n, toSegno: 8n, endLsn: 0x8000060n },
      { timeline: 2, fromSegno: 8n, toSegno: 10n, endLsn: 0xa000000n },
      { timeline: 3, fromSegno: 10n, toSegno: null, endLsn: null },
    ] satisfies TimelineStep[]);
  });

  test('a backup on a later timeline starts there, not at timeline 1', () => {
    const backup = { ...B1, timeline: 2, beginWal: w(2, 9), endWal: w(2, 9), endLsn: 0x9000100n };
    const known = histories([3, history([1, 0x3000000n], [2, 0xc000000n])]);
    assert.deepEqual(timelinePath(3, backup, known), [
      { timeline: 2, fromSegno: 9n, toSegno: 12n, endLsn: 0xc000000n },
      { timeline: 3, fromSegno: 12n, toSegno: null, endLsn: null },
    ]);
  });

  test('64 MiB segments: segment numbers are LSN / 64 MiB', () => {
    const backup = { ...B1, beginWal: w(1, 2), endWal: w(1, 3), endLsn: 0xc000100n, segmentSize: SEG64 };
    const known = histories([2, history([1, 0x1a000000n])]);
    assert.deepEqual(timelinePath(2, backup, known), [
      { timeline: 1, fromSegno: 2n, toSegno: 6n, endLsn: 0x1a000000n },
      { timeline: 2, fromSegno: 6n, toSegno: null, endLsn: null },
    ]);
  });
});

describe('selectRecoveryWals: one timeline', () => {
  const select = (entries: XlogDbEntry[], target: RecoveryTarget = NONE, backup = B1) =>
    selectRecoveryWals({ entries, backup, histories: NO_HISTORY, timeline: null, target });

  test('everything from the begin WAL to the end of the archive, in replay order', () => {
    const entries = xlog(
      w(1, 1),
      w(1, 2),
      w(1, 6),
      w(1, 3),
      `${w(1, 3)}.00000028.backup`,
      w(1, 4),
      w(1, 5),
      `${w(1, 8)}.partial`,
      w(1, 7),
    );
    const selection = select(entries);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)]);
    // The very entry objects from xlog.db (sizes, compression) are kept.
    assert.equal(selection.files[0], entries[3]);
    assert.equal(selection.files[3], entries[2]);
    assert.equal(selection.targetTimeline, 1);
    assert.deepEqual(selection.path, [{ timeline: 1, fromSegno: 3n, toSegno: null, endLsn: null }]);
    assert.equal(selection.lastSegment, w(1, 7));
    assert.equal(selection.gap, null);
  });

  test('only the backup range when nothing was archived after it', () => {
    const selection = select(xlog(w(1, 3), w(1, 4), w(1, 5)));
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5)]);
    assert.equal(selection.lastSegment, w(1, 5));
  });

  test('a segment archived twice is copied once (the last catalogue entry)', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 4), w(1, 5));
    const selection = select(entries);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5)]);
    assert.equal(selection.files[1], entries[2]);
  });

  test('lower-case names in xlog.db are matched', () => {
    const entries = xlog(
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 10).toLowerCase(),
      w(1, 6),
      w(1, 7),
      w(1, 8),
      w(1, 9),
    );
    assert.deepEqual(names(select(entries).files).at(-1), w(1, 10).toLowerCase());
  });

  const missing: Array<[string, XlogDbEntry[], string]> = [
    ['an empty archive: the begin WAL', [], w(1, 3)],
    ['the begin WAL', xlog(w(1, 4), w(1, 5), w(1, 6)), w(1, 3)],
    ['in the middle', xlog(w(1, 3), w(1, 5), w(1, 6)), w(1, 4)],
    ['the first of several missing', xlog(w(1, 3), w(1, 6)), w(1, 4)],
    ['the end WAL, nothing after it', xlog(w(1, 3), w(1, 4)), w(1, 5)],
    ['the end WAL, later segments present', xlog(w(1, 3), w(1, 4), w(1, 6), w(1, 7)), w(1, 5)],
    ['present only on another timeline', xlog(w(1, 3), w(2, 4), w(1, 5)), w(1, 4)],
  ];
  for (const [label, entries, first] of missing) {
    test(`a missing segment between begin and end WAL is an error: ${label}`, () => {
      assertBarmanError(
        () => select(entries),
        'wal-missing',
        `WAL file ${first} is missing from the archive: backup B1 needs ${w(1, 3)} to ${w(1, 5)} to be consistent`,
        CONSISTENCY_HINT,
      );
    });
  }

  test('a missing segment in the backup range is an error whatever the target', () => {
    for (const target of [
      { kind: 'immediate' },
      { kind: 'lsn', lsn: 0x9000000n },
      { kind: 'xid', xid: '1' },
      { kind: 'time', epochMs: 0, text: 'x' },
    ] satisfies RecoveryTarget[]) {
      assert.throws(() => select(xlog(w(1, 3), w(1, 5)), target), { code: 'wal-missing' });
    }
  });

  test('a gap after the end WAL: replay stops before it, the gap is reported', () => {
    const selection = select(xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 8), w(1, 9)));
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]);
    assert.equal(selection.lastSegment, w(1, 6));
    assert.deepEqual(selection.gap, { after: w(1, 6), missing: w(1, 7) });
  });

  test('a gap right after the end WAL', () => {
    const selection = select(xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 7)));
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5)]);
    assert.deepEqual(selection.gap, { after: w(1, 5), missing: w(1, 6) });
  });

  test('a one-segment backup followed by a gap', () => {
    const backup = { ...B1, endWal: w(1, 3), endLsn: 0x3000100n };
    const selection = select(xlog(w(1, 3), w(1, 5)), NONE, backup);
    assert.deepEqual(names(selection.files), [w(1, 3)]);
    assert.deepEqual(selection.gap, { after: w(1, 3), missing: w(1, 4) });
  });

  test('a gap across a log id boundary (16 MiB: ...000000FF then ...0100000000)', () => {
    const backup = { ...B1, beginWal: w(1, 0xfd), endWal: w(1, 0xfe), endLsn: 0xfe000100n };
    const selection = select(xlog(w(1, 0xfd), w(1, 0xfe), w(1, 0xff), w(1, 1, 1)), NONE, backup);
    assert.deepEqual(names(selection.files), [w(1, 0xfd), w(1, 0xfe), w(1, 0xff)]);
    assert.deepEqual(selection.gap, { after: w(1, 0xff), missing: w(1, 0, 1) });
  });

  const all = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8), w(1, 9));
  const targets: Array<[string, RecoveryTarget, string[]]> = [
    ['immediate: the backup range only', { kind: 'immediate' }, [w(1, 3), w(1, 4), w(1, 5)]],
    [
      'LSN: up to its segment, then the next one (the ending record may start there)',
      { kind: 'lsn', lsn: 0x7000100n },
      [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8)],
    ],
    [
      'LSN at a segment start: that segment and the next one',
      { kind: 'lsn', lsn: 0x7000000n },
      [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8)],
    ],
    [
      'LSN at the last byte of a segment: that segment and the next one',
      { kind: 'lsn', lsn: 0x6ffffffn },
      [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)],
    ],
    [
      'LSN in the end segment: the next one too',
      { kind: 'lsn', lsn: 0x5000100n },
      [w(1, 3), w(1, 4), w(1, 5), w(1, 6)],
    ],
    [
      'LSN in the last archived segment: no next one to copy, not an error',
      { kind: 'lsn', lsn: 0x9000100n },
      names(all),
    ],
    ['xid: to the end of the archive', { kind: 'xid', xid: '1234' }, names(all)],
    ['name: to the end of the archive', { kind: 'name', name: 'rp' }, names(all)],
  ];
  for (const [label, target, expected] of targets) {
    test(`target ${label}`, () => {
      const selection = select(all, target);
      assert.deepEqual(names(selection.files), expected);
      assert.equal(selection.lastSegment, expected.at(-1));
      assert.equal(selection.gap, null);
    });
  }

  test('an LSN target beyond a gap is an error naming the first missing segment', () => {
    assertBarmanError(
      () =>
        select(xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 8), w(1, 9)), { kind: 'lsn', lsn: 0x8000010n }),
      'wal-missing',
      `WAL file ${w(1, 7)} is missing from the archive: the recovery target needs every segment up to ${w(1, 8)}`,
    );
  });

  test('an LSN target just before a gap is fine: the next segment is missing, not copied', () => {
    const selection = select(xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 8)), {
      kind: 'lsn',
      lsn: 0x6000010n,
    });
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]);
    assert.equal(selection.lastSegment, w(1, 6));
    assert.equal(selection.gap, null);
  });

  const ARCHIVE_HINT =
    "Archive the server's current WAL first ('barman switch-wal --force --archive'), or choose an earlier target.";
  test('an LSN target in the segment after the last archived one is an error naming it', () => {
    assertBarmanError(
      () => select(all, { kind: 'lsn', lsn: 0xa000010n }),
      'wal-missing',
      `WAL file ${w(1, 10)} is missing from the archive: the recovery target needs every segment up to ${w(1, 10)}`,
      ARCHIVE_HINT,
    );
  });

  test('an LSN target well past the end of the archive names the next missing segment', () => {
    assertBarmanError(
      () => select(all, { kind: 'lsn', lsn: 0xc000000n }),
      'wal-missing',
      `WAL file ${w(1, 10)} is missing from the archive: the recovery target needs every segment up to ${w(1, 12)}`,
      ARCHIVE_HINT,
    );
  });

  test('an immediate target ignores a gap after the end WAL', () => {
    const selection = select(xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 7)), { kind: 'immediate' });
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5)]);
    assert.equal(selection.gap, null);
  });

  describe('time target: stops after the first segment archived after the target', () => {
    // mtimes: 3..5 in the backup, then 400, 500, 600 seconds.
    const timed = xlog(
      [w(1, 3), 100],
      [w(1, 4), 900],
      [w(1, 5), 300],
      [w(1, 6), 400],
      [w(1, 7), 500],
      [w(1, 8), 600],
      [w(1, 9), 700],
    );
    const rows: Array<[string, number, string[]]> = [
      ['between two segments', 450_000, [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)]],
      [
        'equal to an mtime: that segment and the next',
        400_000,
        [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)],
      ],
      ['just before an mtime', 399_999, [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]],
      // Inside the backup range every segment is copied, whatever its mtime.
      ['before every mtime', 50_000, [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]],
      ['after every mtime: the whole archive', 10_000_000, names(timed)],
    ];
    for (const [label, epochMs, expected] of rows) {
      test(label, () => {
        const selection = select(timed, { kind: 'time', epochMs, text: 'ignored' });
        assert.deepEqual(names(selection.files), expected);
        assert.equal(selection.gap, null);
      });
    }

    test('fractional mtimes are compared in milliseconds', () => {
      const entries = xlog([w(1, 3), 1], [w(1, 4), 1], [w(1, 5), 1], [w(1, 6), 400.25], [w(1, 7), 400.5]);
      assert.deepEqual(names(select(entries, { kind: 'time', epochMs: 400_300, text: '' }).files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
        w(1, 7),
      ]);
      assert.deepEqual(names(select(entries, { kind: 'time', epochMs: 400_200, text: '' }).files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
      ]);
    });

    test('upload times (an object listing) do not cut the WAL copied for a time target', () => {
      // Segment 4 was uploaded late (its object is newer than the target): every segment is copied.
      const entries = xlog([w(1, 3), 1], [w(1, 4), 1], [w(1, 5), 1], [w(1, 6), 900], [w(1, 7), 901]);
      const selection = selectRecoveryWals({
        entries,
        walTimesAreCloseTimes: false,
        backup: B1,
        histories: NO_HISTORY,
        timeline: null,
        target: { kind: 'time', epochMs: 2_000, text: '' },
      });
      assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7)]);
      assert.deepEqual(names(select(entries, { kind: 'time', epochMs: 2_000, text: '' }).files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
      ]);
    });

    test('a gap before the target time is reported, not an error', () => {
      const entries = xlog([w(1, 3), 1], [w(1, 4), 1], [w(1, 5), 1], [w(1, 6), 2], [w(1, 8), 3]);
      const selection = select(entries, { kind: 'time', epochMs: 2_500, text: '' });
      assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6)]);
      assert.deepEqual(selection.gap, { after: w(1, 6), missing: w(1, 7) });
    });
  });
});

describe('selectRecoveryWals: timelines', () => {
  /** TL2 branched from TL1 at 0/7000100 (in segment 7). */
  const tl2 = histories([2, history([1, 0x7000100n])]);
  const hist2 = '00000002.history';
  const select = (
    entries: XlogDbEntry[],
    known: Map<number, TimelineSwitch[]>,
    timeline: TimelineRequest | null = null,
    target: RecoveryTarget = NONE,
    backup = B1,
  ) => selectRecoveryWals({ entries, backup, histories: known, timeline, target });

  test('an LSN target on the parent timeline: the following segment comes from the parent too', () => {
    // Switch to TL2 in segment 8; the target (segment 6) is followed by segment 7, read on TL1.
    const known = histories([2, history([1, 0x8000100n])]);
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8), hist2, w(2, 8), w(2, 9));
    const selection = select(entries, known, null, { kind: 'lsn', lsn: 0x6000010n });
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), hist2]);
    assert.equal(selection.lastSegment, w(1, 7));
  });

  test('a switch: the parent up to the switch segment, the child from it, then the history file', () => {
    const entries = xlog(
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      w(1, 7),
      // The old primary went on after the switch: not on the path.
      w(1, 8),
      w(1, 9),
      hist2,
      w(2, 7),
      w(2, 8),
      w(2, 9),
    );
    const selection = select(entries, tl2);
    assert.equal(selection.targetTimeline, 2);
    assert.deepEqual(selection.path, [
      { timeline: 1, fromSegno: 3n, toSegno: 7n, endLsn: 0x7000100n },
      { timeline: 2, fromSegno: 7n, toSegno: null, endLsn: null },
    ]);
    assert.deepEqual(names(selection.files), [
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      w(1, 7),
      w(2, 7),
      w(2, 8),
      w(2, 9),
      hist2,
    ]);
    assert.equal(selection.files.at(-1), entries[7]);
    assert.equal(selection.lastSegment, w(2, 9));
    assert.equal(selection.gap, null);
  });

  test('the switchpoint segment exists only on the child timeline', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, tl2);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(2, 7), w(2, 8), hist2]);
    assert.equal(selection.gap, null);
  });

  test('a switchpoint on a segment boundary: the parent segment is not needed', () => {
    const known = histories([2, history([1, 0x7000000n])]);
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, known);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(2, 7), w(2, 8), hist2]);
  });

  test('--target-tli current stays on the backup timeline, still with every history file', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, tl2, { kind: 'current' });
    assert.equal(selection.targetTimeline, 1);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8), hist2]);
    assert.equal(selection.lastSegment, w(1, 8));
  });

  test('a target timeline that branched before the backup end: refused as a number, skipped by latest', () => {
    const early = histories([2, history([1, 0x4000000n])]);
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), hist2, w(2, 4), w(2, 5), w(2, 6));
    assertBarmanError(
      () => select(entries, early, { kind: 'number', timeline: 2 }),
      'target-timeline-invalid',
      'target timeline 2 branched off timeline 1 at 0/4000000, before backup B1 ended (0/5000028)',
    );
    const selection = select(entries, early, { kind: 'latest' });
    assert.equal(selection.targetTimeline, 1);
    // Its segments are not copied; its history file is (PostgreSQL must not reuse timeline 2).
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), w(1, 6), hist2]);
  });

  describe('sibling branches of timeline 1', () => {
    // TL2 from TL1 at 0/6000080, TL3 from TL1 at 0/8000080: each has its own history.
    const siblings = histories([2, history([1, 0x6000080n])], [3, history([1, 0x8000080n])]);
    const entries = xlog(
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      w(1, 7),
      w(1, 8),
      w(1, 9),
      hist2,
      w(2, 6),
      w(2, 7),
      '00000003.history',
      w(3, 8),
      w(3, 9),
      w(3, 10),
    );

    test("latest: the highest; timeline 2's segments are not copied, its history file is", () => {
      const selection = select(entries, siblings);
      assert.equal(selection.targetTimeline, 3);
      assert.deepEqual(names(selection.files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
        w(1, 7),
        w(1, 8),
        w(3, 8),
        w(3, 9),
        w(3, 10),
        hist2,
        '00000003.history',
      ]);
    });

    test("--target-tli 2: timeline 3's segments are not copied, its history file is", () => {
      const selection = select(entries, siblings, { kind: 'number', timeline: 2 });
      assert.deepEqual(names(selection.files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
        w(2, 6),
        w(2, 7),
        hist2,
        '00000003.history',
      ]);
      assert.equal(selection.lastSegment, w(2, 7));
    });
  });

  describe('two switches (1 -> 2 -> 3)', () => {
    const known = histories([2, history([1, 0x7000100n])], [3, history([1, 0x7000100n], [2, 0x9000000n])]);
    const entries = xlog(
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      w(1, 7),
      hist2,
      w(2, 7),
      w(2, 8),
      w(2, 9),
      '00000003.history',
      w(3, 9),
      w(3, 10),
      w(3, 11),
    );

    test('every timeline of the path, the history files in path order', () => {
      const selection = select(entries, known);
      assert.equal(selection.targetTimeline, 3);
      assert.deepEqual(names(selection.files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
        w(1, 7),
        w(2, 7),
        w(2, 8),
        w(2, 9),
        w(3, 9),
        w(3, 10),
        w(3, 11),
        hist2,
        '00000003.history',
      ]);
    });

    test('an LSN target on the middle timeline stops there, plus the next segment (on timeline 3)', () => {
      const selection = select(
        entries,
        known,
        { kind: 'number', timeline: 3 },
        { kind: 'lsn', lsn: 0x8000010n },
      );
      assert.deepEqual(names(selection.files), [
        w(1, 3),
        w(1, 4),
        w(1, 5),
        w(1, 6),
        w(1, 7),
        w(2, 7),
        w(2, 8),
        // The switch to timeline 3 is at 0/9000000: segment 9 is read from timeline 3.
        w(3, 9),
        hist2,
        '00000003.history',
      ]);
      assert.equal(selection.lastSegment, w(3, 9));
    });

    test('a missing history file is left out (nothing to copy)', () => {
      const selection = select(
        entries.filter((entry) => entry.name !== hist2),
        known,
      );
      assert.deepEqual(names(selection.files).slice(-1), ['00000003.history']);
      assert.equal(names(selection.files).includes(hist2), false);
    });
  });

  test('a gap on the parent timeline, after the backup end: the gap is reported there', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 7), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, tl2);
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), hist2]);
    assert.equal(selection.lastSegment, w(1, 5));
    assert.deepEqual(selection.gap, { after: w(1, 5), missing: w(1, 6) });
  });

  test('a gap on the child timeline, with an LSN target beyond it: an error naming the child segment', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), hist2, w(2, 7), w(2, 9));
    assertBarmanError(
      () => select(entries, tl2, null, { kind: 'lsn', lsn: 0x9000000n }),
      'wal-missing',
      `WAL file ${w(2, 8)} is missing from the archive: the recovery target needs every segment up to ${w(2, 9)}`,
    );
  });

  test('an immediate target with a later timeline: only the backup range, plus the history', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, tl2, null, { kind: 'immediate' });
    assert.deepEqual(names(selection.files), [w(1, 3), w(1, 4), w(1, 5), hist2]);
  });

  test('a backup on timeline 2: timeline 1 segments and history are never needed', () => {
    const backup: BackupWalFacts = {
      ...B1,
      timeline: 2,
      beginWal: w(2, 8),
      endWal: w(2, 9),
      endLsn: 0x9000100n,
    };
    const entries = xlog(w(1, 7), w(1, 8), w(1, 9), hist2, w(2, 7), w(2, 8), w(2, 9), w(2, 10));
    const selection = select(entries, tl2, null, NONE, backup);
    assert.equal(selection.targetTimeline, 2);
    // The history of the backup's own timeline is copied (PostgreSQL reads it when it starts).
    assert.deepEqual(names(selection.files), [w(2, 8), w(2, 9), w(2, 10), hist2]);
  });

  test('every history file in xlog.db order, after the segments, even of timelines off the path', () => {
    const entries = xlog(
      '00000005.history',
      w(1, 3),
      w(1, 4),
      hist2,
      w(1, 5),
      '00000003.history',
      w(1, 6),
      `${w(1, 5)}.00000028.backup`,
    );
    const selection = select(entries, NO_HISTORY, { kind: 'current' });
    assert.equal(selection.targetTimeline, 1);
    assert.deepEqual(names(selection.files), [
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      '00000005.history',
      hist2,
      '00000003.history',
    ]);
    // The very xlog.db entries, and lastSegment is a segment, never a history file.
    assert.equal(selection.files[4], entries[0]);
    assert.equal(selection.lastSegment, w(1, 6));
  });

  test('an LSN target: the next segment goes before the history files', () => {
    const entries = xlog(w(1, 3), w(1, 4), w(1, 5), w(1, 6), w(1, 7), w(1, 8), hist2, w(2, 7), w(2, 8));
    const selection = select(entries, tl2, null, { kind: 'lsn', lsn: 0x7000200n });
    assert.equal(selection.targetTimeline, 2);
    assert.deepEqual(names(selection.files), [
      w(1, 3),
      w(1, 4),
      w(1, 5),
      w(1, 6),
      w(1, 7),
      w(2, 7),
      w(2, 8),
      hist2,
    ]);
    assert.equal(selection.files[6], entries[8]);
    assert.equal(selection.lastSegment, w(2, 8));
  });
});

describe('selectRecoveryWals: 64 MiB segments', () => {
  const SEG = (timeline: number, segno: number) => w(timeline, segno % 64, Math.floor(segno / 64)); // 64 segments per log id
  const backup: BackupWalFacts = {
    id: 'B64',
    timeline: 1,
    beginWal: SEG(1, 62),
    endWal: SEG(1, 63),
    endLsn: 0xfc000100n,
    segmentSize: SEG64,
  };

  test('names cross the log id after segment 0000003F', () => {
    assert.equal(SEG(1, 63), '00000001000000000000003F');
    assert.equal(SEG(1, 64), '000000010000000100000000');
    const entries = xlog(SEG(1, 61), SEG(1, 62), SEG(1, 63), SEG(1, 64), SEG(1, 65));
    const selection = selectRecoveryWals({
      entries,
      backup,
      histories: NO_HISTORY,
      timeline: null,
      target: NONE,
    });
    assert.deepEqual(names(selection.files), [
      '00000001000000000000003E',
      '00000001000000000000003F',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
  });

  test('a missing segment in the backup range', () => {
    assertBarmanError(
      () =>
        selectRecoveryWals({
          entries: xlog(SEG(1, 62)),
          backup,
          histories: NO_HISTORY,
          timeline: null,
          target: NONE,
        }),
      'wal-missing',
      'WAL file 00000001000000000000003F is missing from the archive: backup B64 needs 00000001000000000000003E to 00000001000000000000003F to be consistent',
    );
  });

  test('an LSN target: 1/4000010 is in segment 65 (000000010000000100000001), 66 is copied too', () => {
    const entries = xlog(SEG(1, 62), SEG(1, 63), SEG(1, 64), SEG(1, 65), SEG(1, 66));
    const selection = selectRecoveryWals({
      entries,
      backup,
      histories: NO_HISTORY,
      timeline: null,
      target: { kind: 'lsn', lsn: 0x104000010n },
    });
    assert.deepEqual(names(selection.files), [
      '00000001000000000000003E',
      '00000001000000000000003F',
      '000000010000000100000000',
      '000000010000000100000001',
      '000000010000000100000002',
    ]);
    assert.equal(selection.lastSegment, '000000010000000100000002');
  });

  test('a gap, and a switch to timeline 2 at 1/2000000 (segment 64)', () => {
    const known = histories([2, history([1, 0x102000000n])]);
    const entries = xlog(SEG(1, 62), SEG(1, 63), SEG(1, 64), '00000002.history', SEG(2, 64), SEG(2, 66));
    const selection = selectRecoveryWals({ entries, backup, histories: known, timeline: null, target: NONE });
    assert.deepEqual(selection.path, [
      { timeline: 1, fromSegno: 62n, toSegno: 64n, endLsn: 0x102000000n },
      { timeline: 2, fromSegno: 64n, toSegno: null, endLsn: null },
    ]);
    assert.deepEqual(names(selection.files), [
      '00000001000000000000003E',
      '00000001000000000000003F',
      '000000010000000100000000',
      '000000020000000100000000',
      '00000002.history',
    ]);
    assert.deepEqual(selection.gap, {
      after: '000000020000000100000000',
      missing: '000000020000000100000001',
    });
  });
});
