import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c, maskedCrc32c, portableCrc32c } from '../../../src/transfer/compression/checksums.js';
import { crc32cAddon } from '../../../src/util/native-crc32c.js';

const nativeCrc32cFile = () => crc32cAddon()?.crc32cFile ?? null;

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

test('CRC-32C of a file on the thread pool (crc32cFile): ranges, empty, missing, short and corrupted files', async () => {
  const crc32cFile = nativeCrc32cFile();
  if (process.arch === 'x64') assert.ok(crc32cFile, 'native/crc32c has no crc32cFile');
  if (!crc32cFile) return;
  const directory = mkdtempSync(join(tmpdir(), 'crc32c-file-'));
  try {
    const data = randomBytes((5 << 20) + 4097);
    const path = join(directory, 'data');
    writeFileSync(path, data);
    writeFileSync(join(directory, 'empty'), '');
    // Whole file, with 4 KiB and 1 MiB reads (a read boundary inside a 12 KiB round and not).
    for (const bufferBytes of [4096, 1 << 20]) {
      assert.deepEqual(await crc32cFile(path, 0, -1, 8, bufferBytes), {
        crc: portableCrc32c(data),
        bytes: data.length,
        head: data.subarray(0, 8),
      });
    }
    // Ranges: unaligned offsets, lengths across read boundaries, past the end (a short read).
    for (const [offset, length] of [
      [1, 3],
      [4095, 12_289],
      [1 << 20, 2 << 20],
      [data.length - 10, 100],
      [data.length, 5],
      [data.length + 10, -1],
    ] as const) {
      const expected = data.subarray(offset, length < 0 ? undefined : offset + length);
      const result = await crc32cFile(path, offset, length, 0, 64 << 10);
      assert.deepEqual(
        result,
        { crc: portableCrc32c(expected), bytes: expected.length, head: null },
        `${offset}+${length}`,
      );
    }
    assert.deepEqual(await crc32cFile(join(directory, 'empty'), 0, -1, 8, 4096), {
      crc: 0,
      bytes: 0,
      head: Buffer.alloc(0),
    });
    // A corrupted byte deep in the file changes the checksum.
    const intact = portableCrc32c(data);
    data.writeUInt8(data.readUInt8((4 << 20) + 3) ^ 1, (4 << 20) + 3);
    writeFileSync(path, data);
    const corrupted = await crc32cFile(path, 0, -1, 0, 1 << 20);
    assert.equal(corrupted.crc, portableCrc32c(data));
    assert.notEqual(corrupted.crc, intact);
    await assert.rejects(crc32cFile(join(directory, 'missing'), 0, -1, 0, 4096), {
      code: 'ENOENT',
      syscall: 'open',
      path: join(directory, 'missing'),
      message: `ENOENT: no such file or directory, open '${join(directory, 'missing')}'`,
    });
    await assert.rejects(crc32cFile(directory, 0, -1, 0, 4096), { code: 'EISDIR', syscall: 'read' });
    assert.throws(() => crc32cFile(path, 0, -1, 65, 4096), /bad arguments/);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
