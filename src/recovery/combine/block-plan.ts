/**
 * Where each block of a reconstructed relation segment comes from (pure): the newest backup's
 * INCREMENTAL file gives the length and its own blocks; older backups, newest first, fill the
 * blocks below its truncation length that are still missing, down to the first backup holding
 * the whole file. Blocks nobody stored are zeros: the server extended the relation without
 * WAL-logging them, and no backup had a reason to copy them.
 */
import { BLOCK_SIZE, reconstructedBlocks, type IncrementalHeader } from './incremental-file.js';

/** One backup's version of the segment, oldest backup first in a chain. */
export type SegmentVersion =
  { kind: 'full'; size: number } | { kind: 'incremental'; header: IncrementalHeader } | { kind: 'missing' };

export interface BlockPlan {
  /** Blocks in the output. */
  length: number;
  /**
   * When the output is exactly one older backup's full file (no block from any later backup,
   * same length): that backup's index, copied whole.
   */
  copyFrom: number | null;
  /** Per output block: the backup index that supplies it, -1 for zeros. */
  source: Int32Array;
  /** Per output block: its byte offset in that backup's file. */
  offset: Float64Array;
}

/** Raised as a BarmanError by the caller, which knows the backup's name and the file. */
export class MissingVersionError extends Error {
  constructor(readonly backupIndex: number) {
    super(`backup ${backupIndex} has no version of the file`);
  }
}

/**
 * `versions[i]` is backup i's version of the segment (0 = the full backup); the last one must be
 * incremental. Older backups are consulted until one holds the full file; a backup in between
 * with no version at all breaks the chain for this file.
 */
export function planBlocks(versions: readonly SegmentVersion[]): BlockPlan {
  const newestIndex = versions.length - 1;
  const newest = versions[newestIndex];
  if (newest?.kind !== 'incremental') throw new Error('planBlocks: the newest version must be incremental');
  const latest = newest.header;
  const length = reconstructedBlocks(latest);
  const source = new Int32Array(length).fill(-1);
  const offset = new Float64Array(length);
  let wholeCopyPossible = latest.blocks.length === 0;
  latest.blocks.forEach((block, i) => {
    source[block] = newestIndex;
    offset[block] = latest.dataOffset + i * BLOCK_SIZE;
  });
  // Only blocks below the newest truncation length can come from older backups: the rest were
  // cut off by the time of the newest backup (or written again, and then stored in it).
  const limit = latest.truncationBlocks;
  for (let index = newestIndex - 1; index >= 0; index--) {
    const version = versions[index]!;
    if (version.kind === 'missing') throw new MissingVersionError(index);
    if (version.kind === 'full') {
      const blocksInFile = Math.floor(version.size / BLOCK_SIZE);
      for (let block = 0; block < Math.min(limit, blocksInFile); block++) {
        if (source[block] !== -1) continue;
        source[block] = index;
        offset[block] = block * BLOCK_SIZE;
      }
      const copyFrom = wholeCopyPossible && limit * BLOCK_SIZE === version.size ? index : null;
      return { length, copyFrom, source, offset };
    }
    version.header.blocks.forEach((block, i) => {
      if (block >= limit || source[block] !== -1) return;
      source[block] = index;
      offset[block] = version.header.dataOffset + i * BLOCK_SIZE;
      wholeCopyPossible = false;
    });
  }
  throw new MissingVersionError(0);
}
