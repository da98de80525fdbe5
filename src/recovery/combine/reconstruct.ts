/**
 * Rebuilding one relation segment from its versions (block-plan.ts says where each block comes
 * from), in 2 MiB chunks so that memory stays bounded per file:
 *
 * - `reconstruct` writes every block into a new file (streamed, hashed on the way); each
 *   source's blocks in a chunk come from one read of the range they span (pread on a local
 *   file, a forward stream on an object), and the next chunk is read while one is written.
 * - `patchInPlace`, when the full backup's version is a local file: that file was placed by the
 *   kernel (copy_file_range or a clone), and only the blocks that differ — from incrementals, or
 *   zeros — are written over it. Its CRC-32C is derived from the one the full backup's manifest
 *   lists and the runs written (their old and new bytes, crc32c-combine.ts) when that manifest
 *   has a CRC32C for it and the file was not cut; otherwise it is read back from the page cache.
 *   A relation with a few changed pages costs a kernel copy and a few writes, not a pass through
 *   this process.
 */
import type { ManifestChecksum } from '../../catalog/backup-manifest.js';
import { BarmanError } from '../../errors/index.js';
import type { BlockPlan, SegmentVersion } from './block-plan.js';
import type { LoadedBackup } from './chain.js';
import { BLOCK_SIZE } from './incremental-file.js';
import { crc32cHex, parseCrc32cHex } from '../../catalog/manifest-checksum.js';
import { PatchedCrc32c } from './crc32c-combine.js';
import { LocalRangeReader, openForPatch } from './local-files.js';
import { COMBINE_CHECKSUM } from './output.js';
import type { OutputFile } from './output.js';
import { PositionedReader } from './positioned-reader.js';
import { damagedFile, incrementalName, locate } from './scan.js';

/** Output blocks built at once (2 MiB): bounded memory per job. */
const CHUNK_BLOCKS = 256;
/** Largest range read from one source for a chunk; a sparser source is read block by block. */
const MAX_SPAN_BYTES = 4 * CHUNK_BLOCKS * BLOCK_SIZE;

/** Reads of a backup file at offsets: pread on a local file, a forward stream on an object. */
interface BlockReader {
  read(offset: number, length: number): Promise<Buffer>;
  close(): void;
}

function blockReaders(chain: readonly LoadedBackup[], path: string, versions: readonly SegmentVersion[]) {
  const readers = new Map<number, BlockReader>();
  const readerOf = (index: number): BlockReader => {
    let reader = readers.get(index);
    if (reader === undefined) {
      const backup = chain[index]!;
      const name = versions[index]!.kind === 'full' ? path : incrementalName(path);
      const where = locate(backup, name)!;
      const label = `${backup.name}: ${name}`;
      const local = backup.storage.localPath?.(where);
      reader =
        local === undefined
          ? new PositionedReader(backup.storage, where, label)
          : new LocalRangeReader(local, label);
      readers.set(index, reader);
    }
    return reader;
  };
  return { readerOf, readers };
}

/** The chain index and local path of the segment's full version, null when it is not local. */
export function localFullVersion(
  chain: readonly LoadedBackup[],
  versions: readonly SegmentVersion[],
  path: string,
): { index: number; path: string } | null {
  const index = versions.findIndex((version) => version.kind === 'full');
  if (index < 0) return null;
  const local = chain[index]!.storage.localPath?.(locate(chain[index]!, path)!);
  return local === undefined ? null : { index, path: local };
}

/**
 * `destination` holds a copy of the full version (chain index `fullIndex`): it is cut or
 * extended to the output's length, and every block the plan takes elsewhere is written over it.
 */
export async function patchInPlace(
  chain: readonly LoadedBackup[],
  path: string,
  versions: readonly SegmentVersion[],
  plan: BlockPlan,
  fullIndex: number,
  destination: string,
): Promise<{ size: number; sha256: string; checksum: ManifestChecksum }> {
  const { readerOf, readers } = blockReaders(chain, path, versions);
  const file = await openForPatch(destination);
  try {
    // Its size was planned from the backup's manifest: a shorter file on disk would be extended
    // with zeros by the truncate below, silently.
    const full = versions[fullIndex]!;
    const placed = await file.placedSize();
    if (full.kind === 'full' && placed !== full.size)
      throw damagedFile(chain[fullIndex]!, path, placed, full.size);
    const size = plan.length * BLOCK_SIZE;
    const derived = derivableCrc(chain[fullIndex]!, path, placed, size);
    await file.truncate(size);
    // One chunk buffer for the whole file (each chunk is written before the next is built): a
    // new 2 MiB buffer per chunk was most of the combine's garbage collection.
    let buffer: Buffer | null = null;
    /** The bytes a run overwrites, read for the derived CRC. */
    let previous: Buffer | null = null;
    for (let first = 0; first < plan.length; first += CHUNK_BLOCKS) {
      const count = Math.min(CHUNK_BLOCKS, plan.length - first);
      let changed = false;
      for (let block = first; block < first + count && !changed; block++)
        changed = plan.source[block] !== fullIndex;
      if (!changed) continue;
      buffer ??= Buffer.allocUnsafe(Math.min(CHUNK_BLOCKS, plan.length) * BLOCK_SIZE);
      const chunk = await buildChunk(plan, first, count, readerOf, fullIndex, buffer);
      // Runs of blocks that differ from the full version, each written with one pwrite.
      for (let start = first; start < first + count;) {
        if (plan.source[start] === fullIndex) {
          start++;
          continue;
        }
        let end = start + 1;
        while (end < first + count && plan.source[end] !== fullIndex) end++;
        const written = chunk.subarray((start - first) * BLOCK_SIZE, (end - first) * BLOCK_SIZE);
        if (derived !== null) {
          // What the run overwrites, for the CRC: in the page cache, the kernel copy just put it there.
          previous ??= Buffer.allocUnsafe(buffer.length);
          derived.replace(
            start * BLOCK_SIZE,
            file.read(previous, written.length, start * BLOCK_SIZE),
            written,
          );
        }
        await file.write(written, start * BLOCK_SIZE);
        start = end;
      }
    }
    if (derived !== null) {
      await file.close();
      return {
        size,
        sha256: '',
        checksum: { algorithm: COMBINE_CHECKSUM, value: crc32cHex(derived.value) },
      };
    }
    const checksum = await file.finish();
    if (file.size !== size)
      throw new BarmanError(
        'combine-size',
        `${destination} is ${file.size} bytes after its reconstruction, not ${size}`,
      );
    return { size, sha256: '', checksum };
  } catch (error) {
    await file.abandon();
    throw error;
  } finally {
    for (const reader of readers.values()) reader.close();
  }
}

/**
 * The CRC-32C of the patched file, to be followed through its patches: from the full backup's
 * manifest, when it lists a CRC32C for the file at the size placed and the file is not cut
 * (then the CRC of what is kept would need the bytes cut off). Null: read back.
 */
function derivableCrc(full: LoadedBackup, path: string, placed: number, size: number): PatchedCrc32c | null {
  const listed = full.manifest.get(path);
  if (listed?.checksum?.algorithm.toUpperCase() !== COMBINE_CHECKSUM || listed.size !== placed) return null;
  const crc = parseCrc32cHex(listed.checksum.value);
  if (crc === null || size < placed) return null;
  return PatchedCrc32c.extended(crc, placed, size);
}

export async function reconstruct(
  chain: readonly LoadedBackup[],
  path: string,
  versions: readonly SegmentVersion[],
  plan: BlockPlan,
  output: OutputFile,
): Promise<void> {
  const { readerOf, readers } = blockReaders(chain, path, versions);
  try {
    // The next chunk is read while the current one is written: the disk reads and writes at once.
    const chunkAt = (first: number) =>
      buildChunk(plan, first, Math.min(CHUNK_BLOCKS, plan.length - first), readerOf);
    let next: Promise<Buffer> | null = plan.length > 0 ? chunkAt(0) : null;
    for (let first = 0; next !== null; first += CHUNK_BLOCKS) {
      const chunk = await next;
      next = first + CHUNK_BLOCKS < plan.length ? chunkAt(first + CHUNK_BLOCKS) : null;
      try {
        await output.write(chunk);
      } catch (error) {
        await next?.catch(() => undefined);
        throw error;
      }
    }
  } finally {
    for (const reader of readers.values()) reader.close();
  }
}

/**
 * Output blocks [first, first + count): each source's blocks in the chunk are read with one
 * read of the range they span (the full file's is the chunk itself; an incremental file keeps
 * its blocks in block order, so theirs is compact), then copied into place. Reading block runs
 * one by one made a few thousand small reads per changed relation.
 */
async function buildChunk(
  plan: BlockPlan,
  first: number,
  count: number,
  readerOf: (index: number) => BlockReader,
  /** A source whose blocks are already in place: left unfilled in the chunk. */
  skip: number | null = null,
  /** Where to build the chunk (at least `count` blocks), instead of a new buffer. */
  into: Buffer | null = null,
): Promise<Buffer> {
  const chunk = into === null ? Buffer.allocUnsafe(count * BLOCK_SIZE) : into.subarray(0, count * BLOCK_SIZE);
  const spans = new Map<number, { low: number; high: number }>();
  for (let block = first; block < first + count; block++) {
    const source = plan.source[block]!;
    if (source === skip) continue;
    if (source === -1) {
      chunk.fill(0, (block - first) * BLOCK_SIZE, (block - first + 1) * BLOCK_SIZE);
      continue;
    }
    const offset = plan.offset[block]!;
    const span = spans.get(source);
    if (span === undefined) spans.set(source, { low: offset, high: offset });
    else {
      span.low = Math.min(span.low, offset);
      span.high = Math.max(span.high, offset);
    }
  }
  for (const [source, { low, high }] of spans) {
    const reader = readerOf(source);
    const compact = high - low + BLOCK_SIZE <= MAX_SPAN_BYTES;
    const data = compact ? await reader.read(low, high - low + BLOCK_SIZE) : null;
    for (let block = first; block < first + count; block++) {
      if (plan.source[block] !== source) continue;
      const offset = plan.offset[block]!;
      const at = (block - first) * BLOCK_SIZE;
      if (data !== null) data.copy(chunk, at, offset - low, offset - low + BLOCK_SIZE);
      else (await reader.read(offset, BLOCK_SIZE)).copy(chunk, at);
    }
  }
  return chunk;
}
