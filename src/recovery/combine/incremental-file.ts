/**
 * PostgreSQL 17's `INCREMENTAL.<relfile>` format (facts from its documentation and source): a
 * little-endian header — magic 0xd3ae1f0d, the number of blocks stored, the truncation length
 * (in blocks) of the relation segment when the backup started, then one block number per stored
 * block — padded with zeros to a multiple of BLCKSZ when it holds blocks, then the blocks
 * themselves in the order of the header's list.
 */
import { BarmanError } from '../../errors/index.js';

export const BLOCK_SIZE = 8192;
/** Blocks per relation segment file (1 GiB of 8 KiB blocks): neither count may exceed it. */
export const SEGMENT_BLOCKS = 131072;
export const INCREMENTAL_MAGIC = 0xd3ae1f0d;
export const INCREMENTAL_PREFIX = 'INCREMENTAL.';
/** magic + block count + truncation length. */
export const FIXED_HEADER_BYTES = 12;

export interface IncrementalHeader {
  /** Block numbers stored in the file, in file order (block i is at `dataOffset + i * BLOCK_SIZE`). */
  blocks: Uint32Array;
  /** Blocks the relation segment had at backup start; older backups supply blocks below it. */
  truncationBlocks: number;
  /** Where the first block starts: the header, aligned to BLOCK_SIZE when blocks follow. */
  dataOffset: number;
}

export function corruptIncremental(file: string, what: string): BarmanError {
  return new BarmanError('combine-corrupt-incremental', `incremental file ${file} is damaged: ${what}`, {
    hint: 'this backup cannot be combined; take a new full backup, or recover an older chain',
  });
}

/** The counts of the fixed header; the block list length follows from them. */
export function parseFixedHeader(
  head: Buffer,
  file: string,
): { blockCount: number; truncationBlocks: number } {
  if (head.length < FIXED_HEADER_BYTES)
    throw corruptIncremental(
      file,
      `${head.length} bytes, shorter than the ${FIXED_HEADER_BYTES}-byte header`,
    );
  const magic = head.readUInt32LE(0);
  if (magic !== INCREMENTAL_MAGIC)
    throw corruptIncremental(
      file,
      `magic number 0x${magic.toString(16)} is not 0x${INCREMENTAL_MAGIC.toString(16)}`,
    );
  const blockCount = head.readUInt32LE(4);
  const truncationBlocks = head.readUInt32LE(8);
  if (blockCount > SEGMENT_BLOCKS)
    throw corruptIncremental(file, `block count ${blockCount} exceeds the segment size ${SEGMENT_BLOCKS}`);
  if (truncationBlocks > SEGMENT_BLOCKS)
    throw corruptIncremental(
      file,
      `truncation length ${truncationBlocks} exceeds the segment size ${SEGMENT_BLOCKS}`,
    );
  return { blockCount, truncationBlocks };
}

/** Bytes of the header (with its block list) before padding. */
export function headerBytes(blockCount: number): number {
  return FIXED_HEADER_BYTES + 4 * blockCount;
}

export function dataOffsetOf(blockCount: number): number {
  const raw = headerBytes(blockCount);
  return blockCount === 0 ? raw : Math.ceil(raw / BLOCK_SIZE) * BLOCK_SIZE;
}

/**
 * The whole header from its first `headerBytes(blockCount)` bytes. `fileSize`, when known, must
 * hold every block the header announces.
 */
export function parseIncrementalHeader(head: Buffer, file: string, fileSize?: number): IncrementalHeader {
  const { blockCount, truncationBlocks } = parseFixedHeader(head, file);
  const needed = headerBytes(blockCount);
  if (head.length < needed)
    throw corruptIncremental(file, `its block list is cut short (${head.length} of ${needed} bytes)`);
  const blocks = new Uint32Array(blockCount);
  const seen = new Set<number>();
  for (let i = 0; i < blockCount; i++) {
    const block = head.readUInt32LE(FIXED_HEADER_BYTES + 4 * i);
    if (block >= SEGMENT_BLOCKS)
      throw corruptIncremental(file, `block number ${block} is beyond the segment size ${SEGMENT_BLOCKS}`);
    if (seen.has(block)) throw corruptIncremental(file, `block ${block} is listed twice`);
    seen.add(block);
    blocks[i] = block;
  }
  const dataOffset = dataOffsetOf(blockCount);
  if (fileSize !== undefined) {
    const expected = dataOffset + blockCount * BLOCK_SIZE;
    if (fileSize !== expected)
      throw corruptIncremental(
        file,
        `${fileSize} bytes where its header announces ${blockCount} blocks (${expected} bytes)`,
      );
  }
  return { blocks, truncationBlocks, dataOffset };
}

/** Blocks of the reconstructed segment: the truncation length, extended by any later block stored. */
export function reconstructedBlocks(header: IncrementalHeader): number {
  let length = header.truncationBlocks;
  for (const block of header.blocks) if (block >= length) length = block + 1;
  return length;
}
