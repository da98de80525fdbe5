/**
 * PartAssembler: a stream of chunks cut into multipart parts of the planned sizes, byte for
 * byte, with released part buffers reused and a caller's chunks never written to.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { PartAssembler, partSizeAt } from '../../../src/storage/s3/parts.js';

/** Cuts `data` fed in chunks of `chunkSizes` (cycled); releases each part as soon as it is cut. */
function cut(data: Buffer, chunkSizes: number[], partSize: (index: number) => number, release: boolean) {
  const assembler = new PartAssembler(partSize, 3);
  const parts: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < data.length; i += 1) {
    const size = chunkSizes[i % chunkSizes.length]!;
    for (const part of assembler.push(data.subarray(offset, offset + size))) {
      parts.push(Buffer.from(part)); // a copy: the buffer may be reused once released
      if (release) assembler.release(part);
    }
    offset += size;
  }
  parts.push(assembler.rest());
  return parts;
}

describe('PartAssembler', () => {
  test('parts have the planned sizes and hold the stream byte for byte, whatever the chunking', () => {
    const data = randomBytes(10_000);
    for (const chunks of [[1], [7, 300, 1], [1000], [2500], [10_000], [999, 1001]]) {
      for (const release of [false, true]) {
        const parts = cut(data, chunks, () => 1000, release);
        assert.deepEqual(
          parts.map((part) => part.length),
          [...Array<number>(10).fill(1000), 0],
          `chunks ${chunks.join(',')}`,
        );
        assert.ok(Buffer.concat(parts).equals(data));
      }
    }
  });

  test('a stream shorter than one part is its rest, gathered without a part-sized buffer', () => {
    const assembler = new PartAssembler(() => 1 << 20, 3);
    const chunk = Buffer.from('hello');
    assert.deepEqual(assembler.push(chunk), []);
    assert.equal(assembler.pending, 5);
    const rest = assembler.rest();
    assert.equal(rest.toString(), 'hello');
    assert.equal(rest.buffer.byteLength < 1 << 20 || rest === chunk, true);
    assert.equal(assembler.rest().length, 0);
  });

  test('released buffers are reused; a caller chunk that is a whole part is never written to', () => {
    const assembler = new PartAssembler(() => 4, 3);
    const whole = Buffer.from('abcd');
    const [first] = assembler.push(whole);
    assert.equal(first, whole); // passed through, not copied
    assembler.release(first); // not ours: must not be reused
    const [second] = assembler.push(Buffer.from('ef')).concat(assembler.push(Buffer.from('gh')));
    assert.equal(second!.toString(), 'efgh');
    assert.equal(whole.toString(), 'abcd');
    assembler.release(second!);
    const [third] = assembler.push(Buffer.from('ijkl'));
    assert.equal(third, second); // the released buffer, refilled
    assert.equal(third!.toString(), 'ijkl');
  });

  test('part sizes double every 1,000 parts, and buffers of the old size are not reused', () => {
    assert.equal(partSizeAt(5, 0), 5);
    assert.equal(partSizeAt(5, 999), 5);
    assert.equal(partSizeAt(5, 1000), 10);
    assert.equal(partSizeAt(5, 2500), 20);
    const data = randomBytes(1000 * 2 + 1000 * 4 + 5);
    const parts = cut(data, [3], (index) => partSizeAt(2, index), true);
    assert.deepEqual(
      parts.map((part) => part.length),
      [...Array<number>(1000).fill(2), ...Array<number>(1000).fill(4), 5],
    );
    assert.ok(Buffer.concat(parts).equals(data));
  });
});
