import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RetentionInput, WalBackupView } from '../../../src/retention/policy.js';
import {
  evaluateRetention,
  isFirstBackup,
  retentionLabel,
  walCleanup,
  walFilesToRemove,
} from '../../../src/retention/policy.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);

function backup(id: string, daysAgo: number, extra: Partial<RetentionInput> = {}): RetentionInput {
  return {
    id,
    status: 'DONE',
    endTimeMs: NOW - daysAgo * DAY,
    keep: null,
    incremental: false,
    descendants: [],
    ...extra,
  };
}

function statuses(map: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...map.entries()].sort());
}

describe('REDUNDANCY', () => {
  it('keeps the newest n DONE backups and marks older ones OBSOLETE; others get -', () => {
    const result = evaluateRetention(
      [
        backup('20260101T000000', 30),
        backup('20260102T000000', 20),
        backup('20260103T000000', 10, { status: 'FAILED' }),
        backup('20260104T000000', 1),
      ],
      { kind: 'redundancy', copies: 2 },
      0,
      NOW,
    );
    assert.deepEqual(statuses(result), {
      '20260101T000000': 'OBSOLETE',
      '20260102T000000': 'VALID',
      '20260103T000000': '-',
      '20260104T000000': 'VALID',
    });
  });

  it('counts keep-annotated backups toward the redundancy, and never obsoletes them', () => {
    const result = evaluateRetention(
      [backup('a1', 3, { keep: 'standalone' }), backup('a2', 2, { keep: 'full' }), backup('a3', 1)],
      { kind: 'redundancy', copies: 1 },
      0,
      NOW,
    );
    assert.deepEqual(statuses(result), { a1: 'KEEP:STANDALONE', a2: 'KEEP:FULL', a3: 'VALID' });
  });

  it('raises the redundancy to minimum_redundancy', () => {
    const result = evaluateRetention(
      [backup('b1', 3), backup('b2', 2), backup('b3', 1)],
      { kind: 'redundancy', copies: 1 },
      2,
      NOW,
    );
    assert.deepEqual(statuses(result), { b1: 'OBSOLETE', b2: 'VALID', b3: 'VALID' });
  });
});

describe('RECOVERY WINDOW', () => {
  const window = { kind: 'recovery-window', count: 7, unit: 'day' } as const;

  it('keeps backups inside the window and the first one before it', () => {
    const result = evaluateRetention(
      [backup('c1', 30), backup('c2', 10), backup('c3', 8), backup('c4', 3)],
      window,
      0,
      NOW,
    );
    assert.deepEqual(statuses(result), { c1: 'OBSOLETE', c2: 'OBSOLETE', c3: 'VALID', c4: 'VALID' });
  });

  it('marks old backups POTENTIALLY_OBSOLETE (OBSOLETE*) while minimum_redundancy is not met', () => {
    const result = evaluateRetention([backup('d1', 30), backup('d2', 20), backup('d3', 10)], window, 3, NOW);
    assert.deepEqual(statuses(result), {
      d1: 'POTENTIALLY_OBSOLETE',
      d2: 'POTENTIALLY_OBSOLETE',
      d3: 'VALID',
    });
    assert.equal(retentionLabel('POTENTIALLY_OBSOLETE'), 'OBSOLETE*');
  });

  it('uses 31-day months and weeks of 7 days', () => {
    const month = evaluateRetention(
      [backup('e1', 40), backup('e2', 32), backup('e3', 30)],
      { kind: 'recovery-window', count: 1, unit: 'month' },
      0,
      NOW,
    );
    assert.deepEqual(statuses(month), { e1: 'OBSOLETE', e2: 'VALID', e3: 'VALID' });
    const weeks = evaluateRetention(
      [backup('f1', 16), backup('f2', 15), backup('f3', 13)],
      { kind: 'recovery-window', count: 2, unit: 'week' },
      0,
      NOW,
    );
    assert.deepEqual(statuses(weeks), { f1: 'OBSOLETE', f2: 'VALID', f3: 'VALID' });
  });

  it('without a policy every backup is -', () => {
    assert.deepEqual(statuses(evaluateRetention([backup('g1', 1)], null, 0, NOW)), { g1: '-' });
  });
});

describe('WAL removal on delete', () => {
  const wals = [
    '00000001.history',
    '000000010000000000000001',
    '000000010000000000000002',
    '000000010000000000000002.00000028.backup',
    '000000010000000000000003',
    '000000010000000000000004',
    '000000010000000000000005',
    '000000010000000000000006',
  ];
  const view = (
    id: string,
    begin: string,
    end: string,
    extra: Partial<WalBackupView> = {},
  ): WalBackupView => ({
    id,
    status: 'DONE',
    beginWal: `00000001000000000000000${begin}`,
    endWal: `00000001000000000000000${end}`,
    keep: null,
    ...extra,
  });

  it('deleting the oldest backup removes WAL up to the next backup, keeping history files', () => {
    const removed = walFilesToRemove([view('b1', '2', '2'), view('b2', '4', '4')], 'b1', wals, {
      fromRetention: false,
    });
    assert.deepEqual(removed, [
      '000000010000000000000001',
      '000000010000000000000002',
      '000000010000000000000002.00000028.backup',
      '000000010000000000000003',
    ]);
  });

  it('deleting a backup with an older one available removes no WAL', () => {
    assert.deepEqual(
      walFilesToRemove([view('b1', '2', '2'), view('b2', '4', '4')], 'b2', wals, { fromRetention: false }),
      [],
    );
  });

  it('deleting the only backup removes only WAL older than its begin', () => {
    assert.deepEqual(walFilesToRemove([view('b1', '3', '3')], 'b1', wals, { fromRetention: false }), [
      '000000010000000000000001',
      '000000010000000000000002',
      '000000010000000000000002.00000028.backup',
    ]);
  });

  it('retention deletes past an older keep:standalone backup but protects its WAL range', () => {
    const backups = [
      view('b0', '1', '2', { keep: 'standalone' }),
      view('b1', '3', '3'),
      view('b2', '5', '5'),
    ];
    assert.deepEqual(walFilesToRemove(backups, 'b1', wals, { fromRetention: true }), [
      '000000010000000000000003',
      '000000010000000000000004',
    ]);
    assert.deepEqual(walFilesToRemove(backups, 'b1', wals, { fromRetention: false }), []);
  });
});

describe('isFirstBackup', () => {
  const view = (id: string, status: string) => ({ id, status });

  it('is first when no older backup is DONE or WAITING_FOR_WALS', () => {
    assert.equal(isFirstBackup([view('b1', 'FAILED'), view('b2', 'DONE')], 'b2'), true);
    assert.equal(
      isFirstBackup([view('b2', 'DONE'), view('b3', 'DONE')], 'b2'),
      true,
      'newer ones do not count',
    );
  });

  it('is not first after an older DONE backup, nor after one still waiting for its WAL', () => {
    assert.equal(isFirstBackup([view('b1', 'DONE'), view('b2', 'DONE')], 'b2'), false);
    assert.equal(isFirstBackup([view('b1', 'WAITING_FOR_WALS'), view('b2', 'DONE')], 'b2'), false);
  });
});

describe('incremental chains (Barman 3.11+)', () => {
  // c1 ← c2 ← c3, then a full c4 alone, then c5 ← c6 (ids in time order): only full backups count.
  const chainOf = (extra: Partial<Record<string, Partial<RetentionInput>>> = {}) => [
    backup('c1', 40, { descendants: ['c3', 'c2'], ...extra.c1 }),
    backup('c2', 39, { incremental: true, descendants: ['c3'] }),
    backup('c3', 38, { incremental: true }),
    backup('c4', 30, { ...extra.c4 }),
    backup('c5', 20, { descendants: ['c6'], ...extra.c5 }),
    backup('c6', 19, { incremental: true }),
  ];

  it('REDUNDANCY counts full backups only; a chain takes its root status', () => {
    const result = evaluateRetention(chainOf(), { kind: 'redundancy', copies: 2 }, 0, NOW);
    assert.deepEqual(statuses(result), {
      c4: 'VALID',
      c2: 'OBSOLETE',
      c3: 'OBSOLETE',
      c6: 'VALID',
      c1: 'OBSOLETE',
      c5: 'VALID',
    });
  });

  it('a root kept full keeps its chain VALID; kept standalone, its chain goes once outside', () => {
    const full = evaluateRetention(
      chainOf({ c1: { keep: 'full' } }),
      { kind: 'redundancy', copies: 1 },
      0,
      NOW,
    );
    assert.deepEqual([full.get('c1'), full.get('c2'), full.get('c3')], ['KEEP:FULL', 'VALID', 'VALID']);
    const alone = evaluateRetention(
      chainOf({ c1: { keep: 'standalone' }, c5: { keep: 'standalone' } }),
      { kind: 'redundancy', copies: 1 },
      0,
      NOW,
    );
    assert.deepEqual(
      [alone.get('c1'), alone.get('c2'), alone.get('c3')],
      ['KEEP:STANDALONE', 'OBSOLETE', 'OBSOLETE'],
    );
    assert.deepEqual([alone.get('c5'), alone.get('c6')], ['KEEP:STANDALONE', 'VALID'], 'inside the policy');
  });

  it('RECOVERY WINDOW: the chain of the backup opening the window stays VALID', () => {
    const result = evaluateRetention(chainOf(), { kind: 'recovery-window', count: 25, unit: 'day' }, 0, NOW);
    assert.deepEqual(statuses(result), {
      c4: 'VALID',
      c2: 'OBSOLETE',
      c3: 'OBSOLETE',
      c6: 'VALID',
      c1: 'OBSOLETE',
      c5: 'VALID',
    });
  });

  it('an incremental backup whose parent is missing gets no status, so retention never deletes it', () => {
    const result = evaluateRetention(
      [backup('c0', 50, { incremental: true }), backup('c9', 10)],
      { kind: 'redundancy', copies: 1 },
      0,
      NOW,
    );
    assert.equal(result.get('c0'), '-');
  });
});

describe('walCleanup', () => {
  const view = (id: string, keep: 'standalone' | null = null) => ({
    id,
    status: 'DONE',
    beginWal: `00000001000000000000000${id.at(-1)}`,
    endWal: `00000001000000000000000${id.at(-1)}`,
    keep,
  });

  it('applies (and is announced) when no older backup remains, even with no file to remove', () => {
    assert.equal(walCleanup([view('b1'), view('b2')], 'b1', { fromRetention: false }).applies, true);
    assert.deepEqual(walFilesToRemove([view('b1'), view('b2')], 'b1', [], { fromRetention: false }), []);
    assert.equal(walCleanup([view('b1'), view('b2')], 'b2', { fromRetention: false }).applies, false);
  });

  it('older standalone backups let retention clean up around their own WAL', () => {
    const cleanup = walCleanup([view('b1', 'standalone'), view('b2')], 'b2', { fromRetention: true });
    assert.deepEqual(cleanup, {
      applies: true,
      protectedRanges: [['000000010000000000000001', '000000010000000000000001']],
    });
  });
});
