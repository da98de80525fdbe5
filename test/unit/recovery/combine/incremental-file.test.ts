import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MissingVersionError,
  planBlocks,
  type SegmentVersion,
} from '../../../../src/recovery/combine/block-plan.js';
import {
  BLOCK_SIZE,
  parseIncrementalHeader,
  reconstructedBlocks,
  type IncrementalHeader,
} from '../../../../src/recovery/combine/incremental-file.js';
import { block, incrementalFile } from './fixtures.js';

const parse = (file: Buffer) => parseIncrementalHeader(file, 'incr1: base/5/16384', file.length);
const header = (truncationBlocks: number, blocks: number[]): IncrementalHeader =>
  parse(
    incrementalFile(
      truncationBlocks,
      blocks.map((number) => [number, block(number)]),
    ),
  );

describe('INCREMENTAL header', () => {
  test('block list, truncation length, and blocks aligned to BLCKSZ', () => {
    const parsed = header(10, [3, 12, 0]);
    assert.deepEqual([...parsed.blocks], [3, 12, 0]);
    assert.equal(parsed.truncationBlocks, 10);
    assert.equal(parsed.dataOffset, BLOCK_SIZE);
    assert.equal(reconstructedBlocks(parsed), 13);
  });

  test('no blocks: a bare 12-byte header, the length is the truncation length', () => {
    const file = incrementalFile(7, []);
    assert.equal(file.length, 12);
    const parsed = parse(file);
    assert.equal(parsed.dataOffset, 12);
    assert.equal(reconstructedBlocks(parsed), 7);
  });

  test('a list longer than one block pushes the data to the next multiple of BLCKSZ', () => {
    const numbers = Array.from({ length: 2100 }, (_, i) => i);
    assert.equal(header(2100, numbers).dataOffset, 2 * BLOCK_SIZE);
  });

  const corrupt: Array<[string, () => Buffer, RegExp]> = [
    [
      'a bad magic number',
      () => Buffer.from('not an incremental file at all'),
      /magic number 0x20746f6e is not 0xd3ae1f0d/,
    ],
    ['a file shorter than the header', () => Buffer.alloc(5), /5 bytes, shorter than the 12-byte header/],
    [
      'a block count beyond a segment',
      () => {
        const file = incrementalFile(0, []);
        file.writeUInt32LE(131073, 4);
        return file;
      },
      /block count 131073 exceeds the segment size 131072/,
    ],
    [
      'a truncation length beyond a segment',
      () => incrementalFile(200000, []),
      /truncation length 200000 exceeds the segment size/,
    ],
    [
      'a block list cut short',
      () => {
        const file = incrementalFile(0, []);
        file.writeUInt32LE(3, 4);
        return file;
      },
      /block list is cut short \(12 of 24 bytes\)/,
    ],
    [
      'a block number beyond a segment',
      () => incrementalFile(1, [[140000, block(1)]]),
      /block number 140000 is beyond the segment size/,
    ],
    [
      'a block listed twice',
      () =>
        incrementalFile(4, [
          [2, block(1)],
          [2, block(2)],
        ]),
      /block 2 is listed twice/,
    ],
    [
      'fewer blocks than the header announces',
      () =>
        incrementalFile(4, [
          [1, block(1)],
          [2, block(2)],
        ]).subarray(0, BLOCK_SIZE * 2 + 100),
      /16484 bytes where its header announces 2 blocks \(24576 bytes\)/,
    ],
  ];
  for (const [what, file, message] of corrupt)
    test(`refuses ${what}, naming the backup and the file`, () => {
      assert.throws(
        () => parse(file()),
        (error: Error) => {
          assert.match(error.message, /^incremental file incr1: base\/5\/16384 is damaged: /);
          assert.match(error.message, message);
          return true;
        },
      );
    });
});

describe('block plan', () => {
  const full = (blocks: number): SegmentVersion => ({ kind: 'full', size: blocks * BLOCK_SIZE });
  const incremental = (truncation: number, blocks: number[]): SegmentVersion => ({
    kind: 'incremental',
    header: header(truncation, blocks),
  });
  const sources = (plan: ReturnType<typeof planBlocks>) => [...plan.source];

  test('newest blocks first, then older incrementals, then the full file', () => {
    const plan = planBlocks([full(6), incremental(6, [2, 4]), incremental(6, [4, 1])]);
    assert.deepEqual(sources(plan), [0, 2, 1, 0, 2, 0]);
    // offsets: the full file at b * BLCKSZ, incrementals after their header in list order
    assert.equal(plan.offset[1], BLOCK_SIZE + BLOCK_SIZE);
    assert.equal(plan.offset[2], BLOCK_SIZE);
    assert.equal(plan.offset[3], 3 * BLOCK_SIZE);
    assert.equal(plan.copyFrom, null);
  });

  test('a truncated segment keeps only what is below the newest truncation length', () => {
    const plan = planBlocks([full(8), incremental(8, [7]), incremental(3, [])]);
    assert.equal(plan.length, 3);
    assert.deepEqual(sources(plan), [0, 0, 0]);
    assert.equal(plan.copyFrom, null);
  });

  test('blocks past the end of every stored version are zeros; new blocks extend the file', () => {
    const plan = planBlocks([full(2), incremental(4, [5])]);
    assert.deepEqual(sources(plan), [0, 0, -1, -1, -1, 1]);
  });

  test('an unchanged segment is copied whole from the full backup', () => {
    assert.equal(planBlocks([full(4), incremental(4, [])]).copyFrom, 0);
    assert.equal(planBlocks([full(5), incremental(4, [])]).copyFrom, null);
  });

  test('a backup with no version of the segment before the full one is reported', () => {
    assert.throws(
      () => planBlocks([full(4), { kind: 'missing' }, incremental(4, [1])]),
      (error: unknown) => error instanceof MissingVersionError && error.backupIndex === 1,
    );
  });
});
