import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_SEGMENT_SIZE,
  backupLabelFileName,
  compareWalNames,
  formatLsn,
  hashDir,
  historyFileName,
  isSegmentName,
  isWalName,
  lsnSegmentOffset,
  lsnToSegmentName,
  nextSegmentName,
  parseLsn,
  parseWalName,
  partialFileName,
  previousSegmentName,
  segmentName,
  segmentNameFromNumber,
  segmentNumber,
  segmentStartLsn,
  segmentsBetween,
  segmentsPerLog,
  type WalName,
} from '../../../src/wal/names.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MAX_LSN = (1n << 64n) - 1n;

describe('parseWalName', () => {
  const valid: Array<[string, WalName]> = [
    [
      '000000010000000000000003',
      { name: '000000010000000000000003', kind: 'segment', timeline: 1, log: 0, segment: 3 },
    ],
    [
      '0000000a000000ff000000fe',
      { name: '0000000A000000FF000000FE', kind: 'segment', timeline: 10, log: 255, segment: 254 },
    ],
    [
      'FFFFFFFFFFFFFFFFFFFFFFFF',
      {
        name: 'FFFFFFFFFFFFFFFFFFFFFFFF',
        kind: 'segment',
        timeline: 0xffffffff,
        log: 0xffffffff,
        segment: 0xffffffff,
      },
    ],
    [
      '000000010000000000000003.00000028.backup',
      {
        name: '000000010000000000000003.00000028.backup',
        kind: 'backup',
        timeline: 1,
        log: 0,
        segment: 3,
        offset: 40,
      },
    ],
    [
      '00000001000000020000000c.0000abcd.BACKUP',
      {
        name: '00000001000000020000000C.0000ABCD.backup',
        kind: 'backup',
        timeline: 1,
        log: 2,
        segment: 12,
        offset: 0xabcd,
      },
    ],
    [
      '000000020000000100000005.partial',
      { name: '000000020000000100000005.partial', kind: 'partial', timeline: 2, log: 1, segment: 5 },
    ],
    [
      '0000000300000000000000a1.Partial',
      { name: '0000000300000000000000A1.partial', kind: 'partial', timeline: 3, log: 0, segment: 0xa1 },
    ],
    ['00000002.history', { name: '00000002.history', kind: 'history', timeline: 2, log: 0, segment: 0 }],
    ['0000001b.HISTORY', { name: '0000001B.history', kind: 'history', timeline: 27, log: 0, segment: 0 }],
  ];
  for (const [input, expected] of valid) {
    test(`accepts ${input}`, () => {
      assert.deepEqual(parseWalName(input), expected);
    });
  }

  const invalid = [
    '',
    '00000000000000000000000A', // timeline 0
    '00000000.history', // timeline 0
    'wals/000000010000000000000003',
    '0000000100000000/000000010000000000000003',
    '/000000010000000000000003',
    '0000000100000000000000030', // 25 hex digits
    '00000001000000000000003', // 23 hex digits
    '0000001.history',
    '000000001.history',
    '000000010000000000000003.gz',
    '000000010000000000000003.partial.gz',
    '000000010000000000000003.0000028.backup', // 7-digit offset
    '000000010000000000000003.00000028.partial',
    '000000010000000000000003.backup',
    '000000010000000000000003.history',
    '00000001.partial',
    'G00000010000000000000003',
    ' 000000010000000000000003',
    '000000010000000000000003\n',
    '000000010000000000000003.tmp',
  ];
  for (const input of invalid) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.equal(parseWalName(input), null);
    });
  }
});

test('isWalName and isSegmentName', () => {
  const rows: Array<[string, boolean, boolean]> = [
    ['000000010000000000000003', true, true],
    ['0000000100000000000000ab', true, true],
    ['000000010000000000000003.partial', true, false],
    ['000000010000000000000003.00000028.backup', true, false],
    ['00000001.history', true, false],
    ['00000000000000000000000A', false, false],
    ['000000010000000000000003.tmp', false, false],
    ['pg_wal/000000010000000000000003', false, false],
    ['', false, false],
  ];
  for (const [name, wal, segment] of rows) {
    assert.equal(isWalName(name), wal, `isWalName(${name})`);
    assert.equal(isSegmentName(name), segment, `isSegmentName(${name})`);
  }
});

test('hashDir is the timeline+log prefix, empty for history files', () => {
  const rows: Array<[string, string]> = [
    ['000000010000000000000003', '0000000100000000'],
    ['0000000a000000ff000000fe', '0000000A000000FF'],
    ['000000020000000100000005.partial', '0000000200000001'],
    ['000000010000000300000003.00000028.backup', '0000000100000003'],
    ['00000002.history', ''],
  ];
  for (const [name, dir] of rows) assert.equal(hashDir(name), dir, name);
  for (const bad of ['foo', '', 'wals/000000010000000000000003', '00000000000000000000000A']) {
    assert.throws(() => hashDir(bad), { message: `invalid WAL file name ${JSON.stringify(bad)}` });
  }
});

test('segmentName formats %08X three times and validates its fields', () => {
  assert.equal(segmentName(1, 0, 3), '000000010000000000000003');
  assert.equal(segmentName(0xabcdef01, 0x10, 0xff), 'ABCDEF0100000010000000FF');
  assert.equal(segmentName(0xffffffff, 0xffffffff, 0xffffffff), 'FFFFFFFFFFFFFFFFFFFFFFFF');
  assert.throws(() => segmentName(0, 0, 1), {
    message: 'invalid timeline 0: expected an integer from 1 to 4294967295',
  });
  assert.throws(() => segmentName(1, -1, 1), {
    message: 'invalid log id -1: expected an integer from 0 to 4294967295',
  });
  assert.throws(() => segmentName(1, 0, 1.5), {
    message: 'invalid segment id 1.5: expected an integer from 0 to 4294967295',
  });
  assert.throws(() => segmentName(2 ** 32, 0, 0), /invalid timeline 4294967296/);
});

test('DEFAULT_SEGMENT_SIZE is 16 MiB', () => {
  assert.equal(DEFAULT_SEGMENT_SIZE, 16777216);
});

test('segmentsPerLog is 0x100000000 / segment size for powers of two from 1 MiB to 1 GiB', () => {
  const rows: Array<[number, number]> = [
    [MiB, 4096],
    [2 * MiB, 2048],
    [16 * MiB, 256],
    [64 * MiB, 64],
    [512 * MiB, 8],
    [GiB, 4],
  ];
  for (const [size, expected] of rows) assert.equal(segmentsPerLog(size), expected, `size ${size}`);
  for (const bad of [0, -16 * MiB, 512 * 1024, 3 * MiB, 24 * MiB, 2 * GiB, 16 * MiB + 0.5, NaN]) {
    assert.throws(() => segmentsPerLog(bad), {
      message: `invalid WAL segment size ${String(bad)}: expected a power of two from 1 MiB to 1 GiB`,
    });
  }
});

describe('LSN text', () => {
  test('parseLsn and formatLsn round trip', () => {
    const rows: Array<[string, bigint]> = [
      ['0/0', 0n],
      ['0/1', 1n],
      ['0/3000028', 0x3000028n],
      ['0/5000000', 0x5000000n], // 16 MiB segment boundary
      ['1/0', 0x100000000n], // log boundary
      ['16/B374D848', 0x16b374d848n],
      ['FFFFFFFF/FFFFFFFF', MAX_LSN],
    ];
    for (const [text, lsn] of rows) {
      assert.equal(parseLsn(text), lsn, `parseLsn(${text})`);
      assert.equal(formatLsn(lsn), text, `formatLsn(${text})`);
    }
  });

  test('parseLsn accepts lower-case hex and leading zeros; formatLsn normalises them', () => {
    const rows: Array<[string, bigint, string]> = [
      ['a/b0000028', 0xab0000028n, 'A/B0000028'],
      ['ffffffff/ffffffff', MAX_LSN, 'FFFFFFFF/FFFFFFFF'],
      ['00000000/00000001', 1n, '0/1'],
      ['0001/0abc', 0x100000abcn, '1/ABC'],
    ];
    for (const [text, lsn, formatted] of rows) {
      assert.equal(parseLsn(text), lsn, text);
      assert.equal(formatLsn(parseLsn(text)), formatted, text);
    }
  });

  test('parseLsn rejects malformed text with a clear message', () => {
    for (const bad of [
      '',
      '0',
      '0/',
      '/0',
      '0/3000028 ',
      ' 0/3000028',
      '123456789/0',
      '0/123456789',
      '0x0/0',
      'G/0',
      '0/1/2',
      '-1/0',
      '0 / 1',
      '3000028',
    ]) {
      assert.throws(() => parseLsn(bad), {
        message:
          `invalid LSN ${JSON.stringify(bad)}: expected two hexadecimal numbers of 1 to 8 digits ` +
          'separated by "/", e.g. 0/3000028',
      });
    }
  });

  test('formatLsn rejects values outside 64 bits', () => {
    assert.throws(() => formatLsn(-1n), {
      message: 'invalid LSN -1: outside the 64-bit range 0/0..FFFFFFFF/FFFFFFFF',
    });
    assert.throws(() => formatLsn(1n << 64n), /invalid LSN 18446744073709551616: outside the 64-bit range/);
  });
});

describe('segment numbers', () => {
  test('segmentNumber is log * segmentsPerLog + segment', () => {
    const rows: Array<[string, number, bigint]> = [
      ['000000010000000000000003', 16 * MiB, 3n],
      ['0000000100000001000000FF', 16 * MiB, 511n],
      ['00000001FFFFFFFF000000FF', 16 * MiB, (1n << 40n) - 1n],
      ['000000010000000200000FFF', MiB, 2n * 4096n + 4095n],
      ['00000001000000010000003F', 64 * MiB, 127n],
      ['000000010000000500000003', GiB, 23n],
      ['000000050000000100000003.partial', 16 * MiB, 259n],
      ['000000010000000100000003.00000028.backup', 16 * MiB, 259n],
      ['0000000100000000000000ab', 16 * MiB, 171n],
    ];
    for (const [name, size, segno] of rows)
      assert.equal(segmentNumber(name, size), segno, `${name} @ ${size}`);
  });

  test('segmentNumber rejects segment ids the segment size does not have, history files, bad names', () => {
    assert.throws(() => segmentNumber('000000010000000000000100', 16 * MiB), {
      message:
        'invalid WAL segment 000000010000000000000100 for a 16 MiB segment size: ' +
        'segment id 00000100 is above 000000FF',
    });
    assert.throws(() => segmentNumber('000000010000000000000004', GiB), {
      message:
        'invalid WAL segment 000000010000000000000004 for a 1 GiB segment size: ' +
        'segment id 00000004 is above 00000003',
    });
    assert.throws(
      () => segmentNumber('000000010000000000001000', MiB),
      /segment id 00001000 is above 00000FFF/,
    );
    assert.throws(() => segmentNumber('00000002.history', 16 * MiB), {
      message: '"00000002.history" is a timeline history file, not a WAL segment',
    });
    assert.throws(() => segmentNumber('nope', 16 * MiB), { message: 'invalid WAL file name "nope"' });
    assert.throws(() => segmentNumber('000000010000000000000003', 1000), /invalid WAL segment size 1000/);
  });

  test('segmentNameFromNumber splits the number into log and segment', () => {
    const rows: Array<[number, bigint, number, string]> = [
      [1, 0n, 16 * MiB, '000000010000000000000000'],
      [2, 255n, 16 * MiB, '0000000200000000000000FF'],
      [1, 256n, 16 * MiB, '000000010000000100000000'],
      [1, (1n << 40n) - 1n, 16 * MiB, '00000001FFFFFFFF000000FF'],
      [1, 4095n, MiB, '000000010000000000000FFF'],
      [1, 4096n, MiB, '000000010000000100000000'],
      [0xa, 177n, 64 * MiB, '0000000A0000000200000031'],
      [3, 7n, GiB, '000000030000000100000003'],
    ];
    for (const [tli, segno, size, name] of rows) {
      assert.equal(segmentNameFromNumber(tli, segno, size), name, `${tli}/${segno} @ ${size}`);
      assert.equal(segmentNumber(name, size), segno, `round trip of ${name}`);
    }
  });

  test('segmentNameFromNumber rejects numbers outside the 64-bit LSN space and bad timelines', () => {
    assert.throws(() => segmentNameFromNumber(1, 1n << 40n, 16 * MiB), {
      message:
        'invalid WAL segment number 1099511627776: expected 0 to 1099511627775 for a 16 MiB segment size',
    });
    assert.throws(() => segmentNameFromNumber(1, 1n << 34n, GiB), {
      message: 'invalid WAL segment number 17179869184: expected 0 to 17179869183 for a 1 GiB segment size',
    });
    assert.throws(() => segmentNameFromNumber(1, -1n, 16 * MiB), /invalid WAL segment number -1/);
    assert.throws(() => segmentNameFromNumber(0, 1n, 16 * MiB), /invalid timeline 0/);
  });
});

describe('LSN to segment', () => {
  const rows: Array<[string, number, number, string, number]> = [
    // lsn, timeline, segment size, segment, offset
    ['0/0', 1, 16 * MiB, '000000010000000000000000', 0],
    ['0/3000028', 1, 16 * MiB, '000000010000000000000003', 0x28],
    ['0/5000000', 1, 16 * MiB, '000000010000000000000005', 0], // boundary: first byte of the segment
    ['0/4FFFFFF', 1, 16 * MiB, '000000010000000000000004', 0xffffff],
    ['0/FFFFFFFF', 2, 16 * MiB, '0000000200000000000000FF', 0xffffff],
    ['1/0', 2, 16 * MiB, '000000020000000100000000', 0],
    ['FFFFFFFF/FFFFFFFF', 1, 16 * MiB, '00000001FFFFFFFF000000FF', 0xffffff],
    ['0/FFF00000', 1, MiB, '000000010000000000000FFF', 0],
    ['0/FFF12345', 1, MiB, '000000010000000000000FFF', 0x12345],
    ['2/C4000010', 1, 64 * MiB, '000000010000000200000031', 0x10],
    ['1/40000000', 1, GiB, '000000010000000100000001', 0],
    ['FFFFFFFF/FFFFFFFF', 7, GiB, '00000007FFFFFFFF00000003', GiB - 1],
  ];
  test('lsnToSegmentName and lsnSegmentOffset (XLByteToSeg, XLogSegmentOffset)', () => {
    for (const [lsn, tli, size, name, offset] of rows) {
      assert.equal(lsnToSegmentName(parseLsn(lsn), tli, size), name, `${lsn} @ ${size}`);
      assert.equal(lsnSegmentOffset(parseLsn(lsn), size), offset, `offset of ${lsn} @ ${size}`);
    }
  });

  test('segmentStartLsn is the LSN of byte 0 of the segment', () => {
    for (const [lsn, , size, name, offset] of rows) {
      assert.equal(segmentStartLsn(name, size), parseLsn(lsn) - BigInt(offset), `${name} @ ${size}`);
    }
    assert.equal(segmentStartLsn('000000010000000000000003.00000028.backup', 16 * MiB), 0x3000000n);
    assert.equal(segmentStartLsn('000000010000000100000003', GiB), 0x1c0000000n);
    assert.throws(() => segmentStartLsn('00000001.history', 16 * MiB), /is a timeline history file/);
  });

  test('out-of-range LSNs and bad sizes throw', () => {
    assert.throws(() => lsnToSegmentName(-1n, 1, 16 * MiB), /invalid LSN -1: outside the 64-bit range/);
    assert.throws(() => lsnToSegmentName(1n << 64n, 1, 16 * MiB), /invalid LSN 18446744073709551616/);
    assert.throws(() => lsnSegmentOffset(-5n, 16 * MiB), /invalid LSN -5/);
    assert.throws(() => lsnToSegmentName(0n, 1, 15 * MiB), /invalid WAL segment size 15728640/);
    assert.throws(() => lsnSegmentOffset(0n, 16 * MiB + 0.5), /invalid WAL segment size 16777216.5/);
    assert.throws(() => lsnToSegmentName(0n, 0, 16 * MiB), /invalid timeline 0/);
  });
});

describe('next and previous segment', () => {
  const rows: Array<[string, number, string]> = [
    ['000000010000000000000003', 16 * MiB, '000000010000000000000004'],
    ['0000000100000000000000FE', 16 * MiB, '0000000100000000000000FF'],
    ['0000000100000000000000FF', 16 * MiB, '000000010000000100000000'],
    ['00000002000000AB000000FF', 16 * MiB, '00000002000000AC00000000'],
    ['000000010000000000000FFF', MiB, '000000010000000100000000'],
    ['000000010000000000000100', MiB, '000000010000000000000101'],
    ['00000001000000000000003F', 64 * MiB, '000000010000000100000000'],
    ['000000010000000000000003', GiB, '000000010000000100000000'],
    ['000000010000000000000002', GiB, '000000010000000000000003'],
    ['00000001FFFFFFFF000000FE', 16 * MiB, '00000001FFFFFFFF000000FF'],
  ];
  test('nextSegmentName crosses log boundaries', () => {
    for (const [name, size, next] of rows)
      assert.equal(nextSegmentName(name, size), next, `${name} @ ${size}`);
  });
  test('previousSegmentName crosses log boundaries', () => {
    for (const [prev, size, name] of rows) {
      assert.equal(previousSegmentName(name, size), prev, `${name} @ ${size}`);
    }
  });
  test('.partial and .backup names stand for their segment; lower case is canonicalised', () => {
    assert.equal(nextSegmentName('000000010000000000000003.partial', 16 * MiB), '000000010000000000000004');
    assert.equal(
      previousSegmentName('000000010000000100000000.00000028.backup', 16 * MiB),
      '0000000100000000000000FF',
    );
    assert.equal(nextSegmentName('0000000a00000000000000ff', 16 * MiB), '0000000A0000000100000000');
  });
  test('ends of the WAL space and invalid names throw', () => {
    assert.throws(() => previousSegmentName('000000010000000000000000', 16 * MiB), {
      message: 'no WAL segment precedes 000000010000000000000000',
    });
    assert.throws(() => previousSegmentName('000000030000000000000000.partial', GiB), {
      message: 'no WAL segment precedes 000000030000000000000000',
    });
    assert.throws(() => nextSegmentName('00000001FFFFFFFF000000FF', 16 * MiB), /invalid WAL segment number/);
    assert.throws(
      () => nextSegmentName('000000010000000000000FFF', 16 * MiB),
      /segment id 00000FFF is above/,
    );
    assert.throws(() => nextSegmentName('00000001.history', 16 * MiB), /is a timeline history file/);
  });
});

describe('segmentsBetween', () => {
  const rows: Array<[string, string, number, string[]]> = [
    ['000000010000000000000003', '000000010000000000000003', 16 * MiB, ['000000010000000000000003']],
    [
      '0000000100000000000000FE',
      '000000010000000100000001',
      16 * MiB,
      [
        '0000000100000000000000FE',
        '0000000100000000000000FF',
        '000000010000000100000000',
        '000000010000000100000001',
      ],
    ],
    ['000000010000000000000005', '000000010000000000000004', 16 * MiB, []],
    ['000000010000000100000000', '0000000100000000000000FF', 16 * MiB, []],
    // end on another timeline: only its position counts, names are on begin's timeline
    [
      '000000020000000000000003',
      '000000010000000000000005',
      16 * MiB,
      ['000000020000000000000003', '000000020000000000000004', '000000020000000000000005'],
    ],
    [
      '000000010000000000000003.00000028.backup',
      '000000010000000000000004.partial',
      16 * MiB,
      ['000000010000000000000003', '000000010000000000000004'],
    ],
    [
      '000000010000000000000FFE',
      '000000010000000100000000',
      MiB,
      ['000000010000000000000FFE', '000000010000000000000FFF', '000000010000000100000000'],
    ],
    [
      '00000001000000000000003F',
      '000000010000000100000000',
      64 * MiB,
      ['00000001000000000000003F', '000000010000000100000000'],
    ],
    [
      '000000010000000000000002',
      '000000010000000100000001',
      GiB,
      [
        '000000010000000000000002',
        '000000010000000000000003',
        '000000010000000100000000',
        '000000010000000100000001',
      ],
    ],
    [
      '0000000a0000000000000001',
      '0000000A0000000000000002',
      16 * MiB,
      ['0000000A0000000000000001', '0000000A0000000000000002'],
    ],
  ];
  for (const [begin, end, size, expected] of rows) {
    test(`${begin} .. ${end} @ ${size / MiB} MiB`, () => {
      assert.deepEqual(segmentsBetween(begin, end, size), expected);
    });
  }

  test('long ranges are listed in order', () => {
    const names = segmentsBetween('000000010000000000000000', '00000001000000FF000000FF', 16 * MiB);
    assert.equal(names.length, 65536);
    assert.equal(names[256], '000000010000000100000000');
    assert.equal(names.at(-1), '00000001000000FF000000FF');
  });

  test('absurd ranges, history files and bad names throw', () => {
    assert.throws(() => segmentsBetween('000000010000000000000000', '00000001FFFFFFFF000000FF', 16 * MiB), {
      message:
        'refusing to list 1099511627776 WAL segments from 000000010000000000000000 to ' +
        '00000001FFFFFFFF000000FF: more than 10000000',
    });
    // 10,000,001 segments: one above the limit (segment number 10,000,000 = log 0x9896, segment 0x80)
    assert.throws(
      () => segmentsBetween('000000010000000000000000', '000000010000989600000080', 16 * MiB),
      /refusing to list 10000001 WAL segments/,
    );
    assert.throws(() => segmentsBetween('00000001.history', '000000010000000000000001', 16 * MiB), {
      message: '"00000001.history" is a timeline history file, not a WAL segment',
    });
    assert.throws(() => segmentsBetween('000000010000000000000001', 'x', 16 * MiB), {
      message: 'invalid WAL file name "x"',
    });
  });
});

test('compareWalNames sorts archive content by timeline, log, segment', () => {
  const ordered = [
    '00000001.history',
    '000000010000000000000002',
    '000000010000000000000003',
    '000000010000000000000003.00000028.backup',
    '000000010000000000000003.partial',
    '000000010000000000000004',
    '0000000100000000000000FF',
    '000000010000000100000000',
    '00000002.history',
    '000000020000000000000000',
    '0000000A.history',
    '0000000A0000000000000001',
    '000000100000000000000000',
  ];
  const shuffled = [...ordered].reverse();
  [shuffled[0], shuffled[5]] = [shuffled[5]!, shuffled[0]!];
  assert.deepEqual(shuffled.sort(compareWalNames), ordered);

  const rows: Array<[string, string, number]> = [
    ['000000010000000000000003', '000000010000000000000004', -1],
    ['000000010000000000000004', '000000010000000000000003', 1],
    ['000000010000000000000003', '000000010000000000000003', 0],
    // canonical forms are compared: lower-case hex is not sorted after upper-case
    ['0000000a0000000000000001', '0000000A0000000000000001', 0],
    ['0000000a0000000000000001', '0000000B0000000000000001', -1],
    ['00000001000000000000000f.partial', '00000001000000000000000E', 1],
    ['00000002.history', '0000000100000000000000FF', 1],
    ['00000002.history', '000000020000000000000000', -1],
  ];
  for (const [a, b, sign] of rows) assert.equal(Math.sign(compareWalNames(a, b)), sign, `${a} vs ${b}`);
});

test('backupLabelFileName, historyFileName, partialFileName', () => {
  assert.equal(
    backupLabelFileName('000000010000000000000003', 40),
    '000000010000000000000003.00000028.backup',
  );
  assert.equal(
    backupLabelFileName('0000000100000000000000ab', 0xffffff),
    '0000000100000000000000AB.00FFFFFF.backup',
  );
  assert.equal(parseWalName(backupLabelFileName('000000020000000100000005', 0x1234))?.offset, 0x1234);
  assert.throws(() => backupLabelFileName('000000010000000000000003.partial', 0), {
    message: '"000000010000000000000003.partial" is not a plain WAL segment name',
  });
  assert.throws(() => backupLabelFileName('000000010000000000000003', -1), {
    message: 'invalid backup offset -1: expected an integer from 0 to 4294967295',
  });

  assert.equal(historyFileName(1), '00000001.history');
  assert.equal(historyFileName(0x1f), '0000001F.history');
  assert.equal(historyFileName(0xffffffff), 'FFFFFFFF.history');
  assert.throws(() => historyFileName(0), {
    message: 'invalid timeline 0: expected an integer from 1 to 4294967295',
  });
  assert.throws(() => historyFileName(2 ** 32), /invalid timeline 4294967296/);

  assert.equal(partialFileName('000000010000000000000003'), '000000010000000000000003.partial');
  assert.equal(partialFileName('0000000100000000000000ab'), '0000000100000000000000AB.partial');
  assert.throws(() => partialFileName('00000001.history'), {
    message: '"00000001.history" is not a plain WAL segment name',
  });
  assert.throws(() => partialFileName('bogus'), { message: 'invalid WAL file name "bogus"' });
});
