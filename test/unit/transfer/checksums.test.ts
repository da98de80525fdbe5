import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { crc32c, maskedCrc32c, portableCrc32c } from '../../../src/transfer/compression/checksums.js';

test('CRC-32C: the check value, and the same value from the CPU instruction and the portable code', () => {
  const check = Buffer.from('123456789');
  assert.equal(crc32c(check), 0xe3069283);
  assert.equal(portableCrc32c(check), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
  for (const size of [1, 63, 64, 65, 4096, 1 << 20, (1 << 20) + 3]) {
    const data = randomBytes(size);
    assert.equal(crc32c(data), portableCrc32c(data), `${size} bytes`);
    // Continued over two parts, and on an unaligned view of a larger buffer.
    const cut = size >> 1;
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data));
    const view = new Uint8Array(data.buffer, data.byteOffset + 1, size - 1);
    assert.equal(crc32c(view), portableCrc32c(view));
  }
  // The snappy framing format's masked CRC of "123456789".
  assert.equal(maskedCrc32c(check), ((((0xe3069283 >>> 15) | (0xe3069283 << 17)) >>> 0) + 0xa282ead8) >>> 0);
});

test('CRC-32C: the native addon (three interleaved streams) is built and agrees across its 12 KiB rounds', () => {
  // x86-64 with SSE 4.2 and a compiler (what CI and fs-ext need): the addon must have been built,
  // or verify-backup silently falls back to a CRC several times slower.
  const { crc32c: native } = createRequire(import.meta.url)('barman-ts-crc32c') as {
    crc32c: ((data: Buffer, crc?: number) => number) | null;
  };
  if (process.arch === 'x64') assert.equal(typeof native, 'function', 'native/crc32c was not built');
  if (typeof native !== 'function') return;
  const round = 3 * 4096;
  for (const size of [7, 8, 9, round - 1, round, round + 1, 2 * round + 13, 128 << 10, (1 << 20) + 7]) {
    const data = randomBytes(size + 8);
    for (const offset of [0, 3]) {
      const part = data.subarray(offset, offset + size);
      const start = offset === 0 ? 0 : 0x12345678;
      assert.equal(native(part, start), portableCrc32c(part, start), `${size} bytes at offset ${offset}`);
    }
  }
  assert.equal(native(Buffer.from('123456789')), 0xe3069283);
});
