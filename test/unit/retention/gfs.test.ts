import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GfsPolicy } from '../../../src/config/index.js';
import { gfsReasons, periodLabel } from '../../../src/retention/gfs.js';
import type { RetentionInput } from '../../../src/retention/policy.js';
import { decideRetention } from '../../../src/retention/policy.js';

/** A local wall time (GFS periods are calendar periods in barman-ts's local time zone). */
const at = (year: number, month: number, day: number, hour = 12) =>
  new Date(year, month - 1, day, hour).getTime();
const idOf = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}T${p(d.getHours())}${p(d.getMinutes())}00`;
};
const NOW = at(2026, 12, 6);

function backup(endMs: number, extra: Partial<RetentionInput> = {}): RetentionInput {
  return {
    id: idOf(endMs),
    status: 'DONE',
    endTimeMs: endMs,
    keep: null,
    incremental: false,
    descendants: [],
    ...extra,
  };
}

const gfs = (daily: number, weekly = 0, monthly = 0): GfsPolicy => ({ daily, weekly, monthly });

function decide(backups: RetentionInput[], policy: GfsPolicy, minimumRedundancy = 0) {
  const { statuses, reasons } = decideRetention(backups, {
    policy: null,
    gfs: policy,
    minimumRedundancy,
    nowMs: NOW,
  });
  return Object.fromEntries(
    [...statuses.keys()]
      .sort()
      .map((id) => [id, `${statuses.get(id)} ${(reasons.get(id) ?? []).join(', ')}`.trim()]),
  );
}

describe('periodLabel', () => {
  const cases: Array<[string, number, string, string, string]> = [
    ['a Monday opens its ISO week', at(2026, 11, 30, 0), '2026-11-30', '2026-W49', '2026-11'],
    ['the Sunday before is in the previous week', at(2026, 11, 29, 23), '2026-11-29', '2026-W48', '2026-11'],
    [
      '31 December can be in week 1 of the next ISO year',
      at(2024, 12, 31),
      '2024-12-31',
      '2025-W01',
      '2024-12',
    ],
    [
      '1 January can be in week 53 of the previous ISO year',
      at(2021, 1, 1),
      '2021-01-01',
      '2020-W53',
      '2021-01',
    ],
    ['29 February', at(2028, 2, 29, 23), '2028-02-29', '2028-W09', '2028-02'],
    [
      'the first minute of a month',
      new Date(2026, 11, 1, 0, 0).getTime(),
      '2026-12-01',
      '2026-W49',
      '2026-12',
    ],
    [
      'the last minute of a month',
      new Date(2026, 10, 30, 23, 59).getTime(),
      '2026-11-30',
      '2026-W49',
      '2026-11',
    ],
  ];
  for (const [name, ms, day, week, month] of cases) {
    it(name, () => {
      assert.deepEqual(
        [periodLabel('daily', ms), periodLabel('weekly', ms), periodLabel('monthly', ms)],
        [day, week, month],
      );
    });
  }
});

describe('gfsReasons', () => {
  const cases: Array<{ name: string; ends: number[]; policy: GfsPolicy; kept: Record<string, string> }> = [
    {
      name: 'several backups a day: the newest of each day holds its slot',
      ends: [at(2026, 12, 5, 1), at(2026, 12, 5, 13), at(2026, 12, 6, 1), at(2026, 12, 6, 9)],
      policy: gfs(2),
      kept: { '20261205T130000': 'daily 2026-12-05', '20261206T090000': 'daily 2026-12-06' },
    },
    {
      name: 'days without a backup use no slot',
      ends: [at(2026, 11, 1), at(2026, 11, 20), at(2026, 12, 6)],
      policy: gfs(2),
      kept: { '20261120T120000': 'daily 2026-11-20', '20261206T120000': 'daily 2026-12-06' },
    },
    {
      name: 'fewer backups than slots: every one is kept',
      ends: [at(2026, 12, 5), at(2026, 12, 6)],
      policy: gfs(7, 4, 12),
      kept: {
        '20261205T120000': 'daily 2026-12-05',
        '20261206T120000': 'daily 2026-12-06, weekly 2026-W49, monthly 2026-12',
      },
    },
    {
      name: 'weeks start on Monday: Sunday holds the previous week',
      ends: [at(2026, 11, 28), at(2026, 11, 29), at(2026, 11, 30), at(2026, 12, 1)],
      policy: gfs(0, 2),
      kept: { '20261129T120000': 'weekly 2026-W48', '20261201T120000': 'weekly 2026-W49' },
    },
    {
      name: 'month ends: the last backup of November holds the November slot',
      ends: [at(2026, 10, 31, 23), at(2026, 11, 1, 0), at(2026, 11, 30, 23), at(2026, 12, 1, 0)],
      policy: gfs(0, 0, 3),
      kept: {
        '20261031T230000': 'monthly 2026-10',
        '20261130T230000': 'monthly 2026-11',
        '20261201T000000': 'monthly 2026-12',
      },
    },
    {
      name: 'a backup without an end time holds no slot',
      ends: [at(2026, 12, 5), at(2026, 12, 6)],
      policy: gfs(1),
      kept: { '20261206T120000': 'daily 2026-12-06' },
    },
  ];
  for (const { name, ends, policy, kept } of cases) {
    it(name, () => {
      const candidates = ends.map((ms) => ({ id: idOf(ms), endTimeMs: ms }));
      if (name.includes('without an end time'))
        candidates.push({ id: '20261207T000000', endTimeMs: null as never });
      const reasons = gfsReasons(candidates, policy);
      assert.deepEqual(
        Object.fromEntries([...reasons.entries()].sort().map(([id, why]) => [id, why.join(', ')])),
        kept,
      );
    });
  }
});

describe('decideRetention with GFS', () => {
  it('alone: what holds no slot is OBSOLETE; FAILED and WAITING_FOR_WALS backups hold none and stay', () => {
    const result = decide(
      [
        backup(at(2026, 12, 3)),
        backup(at(2026, 12, 4)),
        backup(at(2026, 12, 5, 10), { status: 'FAILED' }),
        backup(at(2026, 12, 5, 9)),
        backup(at(2026, 12, 6), { status: 'WAITING_FOR_WALS' }),
      ],
      gfs(2),
    );
    assert.deepEqual(result, {
      '20261203T120000': 'OBSOLETE',
      '20261204T120000': 'VALID daily 2026-12-04',
      '20261205T090000': 'VALID daily 2026-12-05',
      '20261205T100000': '-',
      '20261206T120000': '-',
    });
  });

  it('minimum_redundancy keeps the newest DONE full backups even without a slot', () => {
    const result = decide(
      [backup(at(2026, 12, 6, 1)), backup(at(2026, 12, 6, 2)), backup(at(2026, 12, 6, 3))],
      gfs(1),
      2,
    );
    assert.deepEqual(result, {
      '20261206T010000': 'OBSOLETE',
      '20261206T020000': 'VALID minimum_redundancy',
      '20261206T030000': 'VALID daily 2026-12-06, minimum_redundancy',
    });
  });

  it('keep annotations are never obsolete and fill a slot like any DONE full backup', () => {
    const result = decide(
      [
        backup(at(2026, 11, 1), { keep: 'full' }),
        backup(at(2026, 12, 5, 1), { keep: 'standalone' }),
        backup(at(2026, 12, 5, 2)),
      ],
      gfs(1),
    );
    assert.deepEqual(result, {
      '20261101T120000': 'KEEP:FULL keep:full',
      '20261205T010000': 'KEEP:STANDALONE keep:standalone',
      '20261205T020000': 'VALID daily 2026-12-05',
    });
  });

  it('on top of retention_policy: kept when either keeps it', () => {
    const backups = [
      backup(at(2026, 10, 15)),
      backup(at(2026, 11, 15)),
      backup(at(2026, 12, 5)),
      backup(at(2026, 12, 6)),
    ];
    const { statuses, reasons } = decideRetention(backups, {
      policy: { kind: 'redundancy', copies: 1 },
      gfs: gfs(0, 0, 2),
      minimumRedundancy: 0,
      nowMs: NOW,
    });
    assert.deepEqual(Object.fromEntries([...statuses.entries()].sort()), {
      '20261015T120000': 'OBSOLETE',
      '20261115T120000': 'VALID',
      '20261205T120000': 'OBSOLETE',
      '20261206T120000': 'VALID',
    });
    assert.deepEqual(reasons.get('20261206T120000'), ['retention_policy', 'monthly 2026-12']);
    assert.deepEqual(reasons.get('20261115T120000'), ['monthly 2026-11']);
  });

  it('chains: only full backups hold slots, incremental backups take their root status', () => {
    const root = backup(at(2026, 12, 4), { descendants: ['20261205T120000', '20261206T120000'] });
    const oldRoot = backup(at(2026, 12, 2), { descendants: ['20261203T120000'] });
    const result = decide(
      [
        oldRoot,
        backup(at(2026, 12, 3), { incremental: true }),
        root,
        backup(at(2026, 12, 5), { incremental: true }),
        backup(at(2026, 12, 6), { incremental: true }),
      ],
      gfs(1),
    );
    assert.deepEqual(result, {
      '20261202T120000': 'OBSOLETE',
      '20261203T120000': 'OBSOLETE',
      '20261204T120000': 'VALID daily 2026-12-04',
      '20261205T120000': 'VALID chain of 20261204T120000',
      '20261206T120000': 'VALID chain of 20261204T120000',
    });
  });

  it('a standalone keep outside every slot drops its incremental backups', () => {
    const result = decide(
      [
        backup(at(2026, 12, 1), { keep: 'standalone', descendants: ['20261202T120000'] }),
        backup(at(2026, 12, 2), { incremental: true }),
        backup(at(2026, 12, 6)),
      ],
      gfs(1),
    );
    assert.deepEqual(result, {
      '20261201T120000': 'KEEP:STANDALONE keep:standalone',
      '20261202T120000': 'OBSOLETE',
      '20261206T120000': 'VALID daily 2026-12-06',
    });
  });
});
