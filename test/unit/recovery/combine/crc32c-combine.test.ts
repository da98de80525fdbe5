import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  closeSync,
  ftruncateSync,
  writeSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  PatchedCrc32c,
  crc32cCombine,
  crc32cOfZeros,
} from '../../../../src/recovery/combine/crc32c-combine.js';
import { crc32cHex, manifestHasher, parseCrc32cHex } from '../../../../src/catalog/manifest-checksum.js';
import { crc32c } from '../../../../src/transfer/compression/checksums.js';

const root = mkdtempSync(join(tmpdir(), 'crc32c-combine-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The CRC-32C a manifest would list for the file, read back from the disk. */
function readBack(path: string): string {
  const hasher = manifestHasher('CRC32C')!;
  hasher.update(readFileSync(path));
  return hasher.digest();
}

describe('CRC-32C of a patched file, derived', () => {
  test('combine and zeros agree with the CRC of the bytes', () => {
    for (const [a, b] of [
      [0, 0],
      [1, 7],
      [8192, 3],
      [100_000, 65_537],
    ] as const) {
      const left = randomBytes(a);
      const right = randomBytes(b);
      assert.equal(crc32cCombine(crc32c(left), crc32c(right), b), crc32c(Buffer.concat([left, right])));
      assert.equal(crc32cOfZeros(b), crc32c(Buffer.alloc(b)));
    }
    assert.equal(crc32cOfZeros(0), 0);
  });

  test('manifest hex round-trips as PostgreSQL writes it (little-endian bytes)', () => {
    const data = randomBytes(1000);
    const hasher = manifestHasher('CRC32C')!;
    hasher.update(data);
    const hex = hasher.digest();
    assert.equal(parseCrc32cHex(hex), crc32c(data));
    assert.equal(crc32cHex(crc32c(data)), hex);
    assert.equal(parseCrc32cHex('not-hex!'), null);
  });

  // Files of 8 KiB blocks as the combine patches them: extended with zeros (or not), then runs
  // of blocks written over; the derived CRC must be the one read back from the disk.
  const cases: Array<[string, number, number, Array<[number, number]>]> = [
    [
      'a few blocks changed, same length',
      64,
      64,
      [
        [0, 1],
        [5, 3],
        [63, 1],
      ],
    ],
    [
      'extended, blocks written into the extension and before it',
      10,
      16,
      [
        [2, 2],
        [9, 3],
        [15, 1],
      ],
    ],
    ['extended, nothing written in the extension', 4, 7, [[1, 1]]],
    ['every block changed', 8, 8, [[0, 8]]],
    [
      'a file of 1,000 blocks, scattered changes',
      1000,
      1003,
      [
        [3, 1],
        [200, 40],
        [777, 2],
        [1001, 2],
      ],
    ],
  ];
  for (const [what, baseBlocks, blocks, runs] of cases)
    test(what, () => {
      const path = join(root, what.replace(/\W+/g, '-'));
      const base = randomBytes(baseBlocks * 8192);
      writeFileSync(path, base);
      const derived = PatchedCrc32c.extended(parseCrc32cHex(readBack(path))!, base.length, blocks * 8192);
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, blocks * 8192);
        const current = Buffer.concat([base, Buffer.alloc(Math.max(0, (blocks - baseBlocks) * 8192))]);
        for (const [first, count] of runs) {
          const offset = first * 8192;
          const before = Buffer.from(current.subarray(offset, offset + count * 8192));
          const patch = randomBytes(count * 8192);
          writeSync(fd, patch, 0, patch.length, offset);
          patch.copy(current, offset);
          derived.replace(offset, before, patch);
        }
      } finally {
        closeSync(fd);
      }
      assert.equal(crc32cHex(derived.value), readBack(path));
    });

  test('a cut file is refused (it is read back instead)', () => {
    assert.throws(() => PatchedCrc32c.extended(0, 16384, 8192), /a cut file is read back/);
  });
});
