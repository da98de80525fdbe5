import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyBackupInfo } from '../../../src/catalog/backup-info.js';
import { WalUsage } from '../../../src/catalog/wal-usage.js';
import { walsPerSecond } from '../../../src/commands/shared/backup-catalog.js';
import type { XlogDbEntry } from '../../../src/wal/xlogdb.js';

const wal = (name: string, mtime: number, size = 16_777_216): XlogDbEntry => ({
  name,
  size,
  mtime,
  compression: null,
  encryption: null,
});
const segment = (n: number) => `00000001000000000000000${n.toString(16).toUpperCase()}`;

/**
 * Two tools archiving from one incoming directory at once, or a .backup file archived just
 * before its segment: xlog.db's times are not in name order. Barman takes the times of the begin
 * WAL file and of the newest segment, not the extremes.
 */
const ENTRIES = [
  wal(segment(5), 100.5),
  wal(`${segment(5)}.00000028.backup`, 100.2, 345),
  wal(segment(6), 100.4),
  wal(segment(7), 101),
  wal(segment(8), 106.8),
  wal(segment(9), 106.7),
];

describe('WAL usage of a backup', () => {
  it('times a range by its first and last segments, not by the oldest and newest times', () => {
    const range = new WalUsage(ENTRIES).range(segment(5), segment(9));
    assert.equal(range.count, 5);
    assert.equal(range.bytes, 5 * 16_777_216);
    assert.deepEqual(
      [range.firstSegment, range.firstMtime, range.lastSegment, range.lastMtime],
      [segment(5), 100.5, segment(9), 106.7],
    );
  });

  it('gives Barman show-backup WAL rate: from the begin WAL file to the newest segment', () => {
    const usage = new WalUsage(ENTRIES);
    const info = emptyBackupInfo('pg', { begin_wal: segment(5), end_wal: segment(5) });
    const required = usage.range(segment(5), segment(5));
    const after = usage.range(segment(5), segment(9), true);
    assert.equal(after.count, 4);
    assert.equal(walsPerSecond(info, required, after), 5 / (106.7 - 100.5));
    // Nothing archived after it: its own segments, timed up to its end WAL file.
    const nothingAfter = usage.range(segment(9), null, true);
    const three = emptyBackupInfo('pg', { begin_wal: segment(5), end_wal: segment(7) });
    assert.equal(walsPerSecond(three, usage.range(segment(5), segment(7)), nothingAfter), 3 / (101 - 100.5));
    // Its end WAL file archived before its begin one: no time span, no rate (Barman prints none).
    const two = emptyBackupInfo('pg', { begin_wal: segment(5), end_wal: segment(6) });
    assert.equal(walsPerSecond(two, usage.range(segment(5), segment(6)), nothingAfter), 0);
  });

  it('has no WAL rate without the begin WAL file in the archive', () => {
    const usage = new WalUsage(ENTRIES.filter((entry) => entry.name !== segment(5)));
    const info = emptyBackupInfo('pg', { begin_wal: segment(5), end_wal: segment(5) });
    const required = usage.range(segment(5), segment(5));
    assert.equal(walsPerSecond(info, required, usage.range(segment(5), segment(9), true)), 0);
  });
});
