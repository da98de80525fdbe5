import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTimelineHistory, timelineAncestry, type TimelineSwitch } from '../../../src/wal/history.js';

/** 00000003.history as PostgreSQL writes it (a blank line between entries), plus a comment. */
const HISTORY_3 = [
  '1\t0/3000160\tno recovery target specified',
  '',
  '# promoted by the failover test',
  '2\t0/5000028\tbefore 2025-01-15 10:00:00.000000+00',
  '',
].join('\n');

describe('parseTimelineHistory', () => {
  test('a real-looking history file with two switches and a comment', () => {
    assert.deepEqual(parseTimelineHistory(HISTORY_3), [
      { parentTimeline: 1, switchpoint: 0x3000160n, reason: 'no recovery target specified' },
      { parentTimeline: 2, switchpoint: 0x5000028n, reason: 'before 2025-01-15 10:00:00.000000+00' },
    ]);
  });

  const rows: Array<[string, string, TimelineSwitch[]]> = [
    ['empty file', '', []],
    ['only comments and blank lines', '# nothing\n\n   \n\t# indented comment\n', []],
    ['missing reason', '1\t0/3000000', [{ parentTimeline: 1, switchpoint: 0x3000000n, reason: '' }]],
    [
      'spaces instead of tabs, leading whitespace',
      '  1   0/3000000   at   target  ',
      [{ parentTimeline: 1, switchpoint: 0x3000000n, reason: 'at   target' }],
    ],
    [
      'CRLF line endings',
      '1\t0/3000000\tr1\r\n\r\n2\t1/A\tr2\r\n',
      [
        { parentTimeline: 1, switchpoint: 0x3000000n, reason: 'r1' },
        { parentTimeline: 2, switchpoint: 0x10000000an, reason: 'r2' },
      ],
    ],
    [
      'parent timeline IDs are decimal, LSNs hex in either case',
      '9\t0/a000000\tx\n10\tff/FFFFFFFF\ty',
      [
        { parentTimeline: 9, switchpoint: 0xa000000n, reason: 'x' },
        { parentTimeline: 10, switchpoint: 0xffffffffffn, reason: 'y' },
      ],
    ],
    [
      'timelines may be skipped (abandoned branches)',
      '1\t0/3000000\ta\n3\t0/7000000\tb',
      [
        { parentTimeline: 1, switchpoint: 0x3000000n, reason: 'a' },
        { parentTimeline: 3, switchpoint: 0x7000000n, reason: 'b' },
      ],
    ],
  ];
  for (const [label, text, expected] of rows) {
    test(label, () => {
      assert.deepEqual(parseTimelineHistory(text), expected);
    });
  }

  const errors: Array<[string, string, string]> = [
    [
      'non-numeric timeline',
      'x\t0/1\treason',
      'invalid timeline history line 1 "x\\t0/1\\treason": expected a numeric parent timeline ID',
    ],
    [
      'hex timeline',
      '# c\n1A\t0/1',
      'invalid timeline history line 2 "1A\\t0/1": expected a numeric parent timeline ID',
    ],
    [
      'timeline 0',
      '0\t0/1',
      'invalid timeline history line 1 "0\\t0/1": expected a numeric parent timeline ID',
    ],
    [
      'negative timeline',
      '-1\t0/1',
      'invalid timeline history line 1 "-1\\t0/1": expected a numeric parent timeline ID',
    ],
    [
      'timeline above 32 bits',
      '4294967296\t0/1',
      'invalid timeline history line 1 "4294967296\\t0/1": expected a numeric parent timeline ID',
    ],
    [
      'missing switchpoint',
      '1\t0/1\tok\n\n2',
      'invalid timeline history line 3 "2": expected a switchpoint LSN after the timeline ID',
    ],
    [
      'bad switchpoint',
      '1\tnot-an-lsn\tfoo',
      'invalid timeline history line 1 "1\\tnot-an-lsn\\tfoo": invalid switchpoint LSN "not-an-lsn"',
    ],
    [
      'repeated parent timeline',
      '1\t0/1\n1\t0/2',
      'invalid timeline history line 2 "1\\t0/2": parent timeline 1 does not follow 1: timeline IDs must be increasing',
    ],
    [
      'decreasing parent timeline, line numbers count comments and blank lines',
      '# header\n\n2\t0/1\n\n1\t0/2\tr',
      'invalid timeline history line 5 "1\\t0/2\\tr": parent timeline 1 does not follow 2: timeline IDs must be increasing',
    ],
  ];
  for (const [label, text, message] of errors) {
    test(`rejects ${label}`, () => {
      assert.throws(() => parseTimelineHistory(text), { message });
    });
  }
});

describe('timelineAncestry', () => {
  test('chain from the oldest timeline to the target, each ending at its switchpoint', () => {
    assert.deepEqual(timelineAncestry(parseTimelineHistory(HISTORY_3), 3), [
      { timeline: 1, endLsn: 0x3000160n },
      { timeline: 2, endLsn: 0x5000028n },
      { timeline: 3, endLsn: null },
    ]);
  });

  test('timeline without history, skipped timelines', () => {
    assert.deepEqual(timelineAncestry([], 1), [{ timeline: 1, endLsn: null }]);
    assert.deepEqual(timelineAncestry([], 5), [{ timeline: 5, endLsn: null }]);
    const history: TimelineSwitch[] = [
      { parentTimeline: 1, switchpoint: 0x100n, reason: '' },
      { parentTimeline: 3, switchpoint: 0x200n, reason: '' },
    ];
    assert.deepEqual(timelineAncestry(history, 7), [
      { timeline: 1, endLsn: 0x100n },
      { timeline: 3, endLsn: 0x200n },
      { timeline: 7, endLsn: null },
    ]);
  });

  test('rejects a target that is not a descendant, bad timelines, unordered history', () => {
    const history = parseTimelineHistory(HISTORY_3);
    assert.throws(() => timelineAncestry(history, 2), {
      message: 'timeline 2 cannot descend from timeline 2: the history does not belong to this timeline',
    });
    assert.throws(() => timelineAncestry(history, 1), /timeline 1 cannot descend from timeline 2/);
    assert.throws(() => timelineAncestry([], 0), {
      message: 'invalid timeline 0: expected an integer from 1 to 4294967295',
    });
    assert.throws(() => timelineAncestry([], 1.5), /invalid timeline 1.5/);
    const unordered: TimelineSwitch[] = [
      { parentTimeline: 3, switchpoint: 0x100n, reason: '' },
      { parentTimeline: 2, switchpoint: 0x200n, reason: '' },
    ];
    assert.throws(() => timelineAncestry(unordered, 4), {
      message: 'invalid timeline history: parent timeline 2 does not follow 3',
    });
  });
});
