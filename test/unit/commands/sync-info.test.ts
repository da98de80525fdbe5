import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFrom } from '../../../src/commands/shared/passive/sync-info.js';

const W = (n: number) => `00000001000000000000000${n.toString(16).toUpperCase()}`;

test('sync-info WAL entries: four keys for plain WAL, encryption only on encrypted files', () => {
  const xlog = Buffer.from(
    [
      `${W(1)}\t16777216\t1700000000.5\tNone`, // Barman 3.4's four columns
      `${W(2)}\t4096\t1700000001.0\tgzip\tNone`, // five, not encrypted
      `${W(3)}\t5000\t1700000002.0\tgzip\tgpg`, // five, encrypted
      '',
    ].join('\n'),
  );
  const { wals, lastName } = readFrom(xlog, null, null, null);
  assert.equal(lastName, W(3));
  assert.deepEqual(wals, [
    { name: W(1), size: 16777216, time: 1700000000.5, compression: null },
    { name: W(2), size: 4096, time: 1700000001, compression: 'gzip' },
    { name: W(3), size: 5000, time: 1700000002, compression: 'gzip', encryption: 'gpg' },
  ]);
});

test('sync-info reads on from LAST_WAL at LAST_POSITION, and refuses a LAST_WAL past the end', () => {
  const lines = [`${W(1)}\t1\t1\tNone`, `${W(2)}\t2\t2\tNone\tgpg`, `${W(3)}\t3\t3\tNone`];
  const xlog = Buffer.from(`${lines.join('\n')}\n`);
  const position = lines[0]!.length + 1;
  const { wals, lastLineStart } = readFrom(xlog, W(2), position, null);
  assert.deepEqual(
    wals.map((wal) => wal.name),
    [W(3)],
  );
  assert.equal(lastLineStart, position + lines[1]!.length + 1);
  assert.throws(() => readFrom(xlog, W(9), null, null), /newer than the last available wal/);
});
