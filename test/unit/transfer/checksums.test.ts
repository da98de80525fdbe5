import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
