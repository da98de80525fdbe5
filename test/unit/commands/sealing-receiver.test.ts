import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sealedStartLsn } from '../../../src/commands/receive-wal/sealing-receiver.js';
import { newestSealedSegment } from '../../../src/commands/receive-wal/reset.js';
import { standbyStatusUpdate } from '../../../src/postgres/wal-stream.js';

const MB16 = 16 * 1024 * 1024;

test('sealing receiver start: after the newest sealed segment, or the slot, whichever is later', () => {
  const after5 = 6n * BigInt(MB16);
  assert.equal(sealedStartLsn('000000010000000000000005', null, '0/9000000', MB16), after5);
  assert.equal(sealedStartLsn('000000010000000000000005', '0/3000028', '0/9000000', MB16), after5);
  // The slot is past streaming/ (archive-wal took the sealed files): from the slot's segment.
  assert.equal(sealedStartLsn('000000010000000000000005', '0/8000100', '0/9000000', MB16), 8n * BigInt(MB16));
  assert.equal(sealedStartLsn(null, '0/8000100', '0/9000000', MB16), 8n * BigInt(MB16));
  // Neither: the server's current segment, from its start (as pg_receivewal).
  assert.equal(sealedStartLsn(null, null, '1/9000028', MB16), (1n << 32n) + 9n * BigInt(MB16));
});

test('newestSealedSegment: only sealed segments count, not plain files, partials or history files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealed-'));
  try {
    assert.equal(await newestSealedSegment(dir), null);
    for (const name of [
      '000000010000000000000003.gz.gpg',
      '000000010000000000000004.gpg',
      '000000010000000000000009',
      '00000001000000000000000A.partial',
      '00000002.history.gz.gpg',
      '.000000010000000000000005.gz.gpg.12-ab.tmp',
    ])
      writeFileSync(join(dir, name), '');
    assert.equal(await newestSealedSegment(dir), '000000010000000000000004');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('standby status update: write, flush, apply and the clock in PostgreSQL epoch microseconds', () => {
  const message = standbyStatusUpdate(0x1_0000_0100n, 0x1_0000_0000n, 0x1_0000_0000n, 946_684_800_000 + 1.5);
  assert.equal(message.length, 34);
  assert.equal(message.toString('latin1', 0, 1), 'r');
  assert.equal(message.readBigUInt64BE(1), 0x1_0000_0100n);
  assert.equal(message.readBigUInt64BE(9), 0x1_0000_0000n);
  assert.equal(message.readBigUInt64BE(17), 0x1_0000_0000n);
  assert.equal(message.readBigInt64BE(25), 1500n);
  assert.equal(message[33], 0, 'no reply asked');
});
