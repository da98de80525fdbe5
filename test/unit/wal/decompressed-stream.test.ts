import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { BarmanError } from '../../../src/errors/index.js';
import { decompressedStream } from '../../../src/wal/compare.js';

const LZ4_HEADER_THEN_NOISE = Buffer.concat([
  Buffer.from([0x04, 0x22, 0x4d, 0x18]),
  Buffer.alloc(3000, 0x55),
]);

// get-wal -o opens its output file before reading: a damaged file must fail the read with a
// clear error then, not crash the process while nobody listens yet.
test('a damaged archived file read late fails the read with wal-corrupt, not an unhandled error', async () => {
  const stream = decompressedStream(Readable.from([LZ4_HEADER_THEN_NOISE]), 'lz4', null, '/x/wal');
  await sleep(100);
  await assert.rejects(
    async () => {
      for await (const chunk of stream) void chunk;
    },
    (error: unknown) =>
      error instanceof BarmanError && error.code === 'wal-corrupt' && error.message.includes('/x/wal (lz4)'),
  );
});
