/**
 * PostgreSQL's data page checksums (clusters initialised with --data-checksums), checked on a
 * backup's copy of the relation files while it is read: the 32-lane FNV-1a variant PostgreSQL
 * computes over the 8 kB page with pd_checksum zeroed, mixed with the block number, reduced to
 * 16 bits. A page is checked as PostgreSQL's own base backup checks it: new pages (never
 * initialised) are skipped, and so are pages whose LSN is at or after the backup's start, which
 * may have been caught mid-write and are rewritten from WAL full-page images during recovery.
 */

/** PostgreSQL's default page size: data_checksums assumes it here (non-default builds are rare). */
export const PAGE_SIZE = 8192;
/** Blocks per 1 GB relation segment file (RELSEG_SIZE with the default page size). */
export const BLOCKS_PER_SEGMENT = 131072;
const LANES = 32;
const FNV_PRIME = 16777619;
// The lanes' initial states are part of the algorithm's definition (PostgreSQL's checksum_impl.h).
const LANE_OFFSETS = Uint32Array.of(
  0x5b1f36e9,
  0xb8525960,
  0x02ab50aa,
  0x1de66d2a,
  0x79ff467a,
  0x9bb9f8a3,
  0x217e7cd2,
  0x83e13d2c,
  0xf8d4474f,
  0xe39eb970,
  0x42c6ae16,
  0x993216fa,
  0x7b093b5d,
  0x98daff3c,
  0xf718902a,
  0x0b1c9cdb,
  0xe58f764b,
  0x187636bc,
  0x5d7b3bb1,
  0xe73de7de,
  0x92bec979,
  0xcca6c0b2,
  0x304a0979,
  0x85aa43d4,
  0x783125bb,
  0x6ca8eaa2,
  0xe407eac6,
  0x4b5cfc3e,
  0x9fbf8c76,
  0x15ca20be,
  0xf2ca9fd3,
  0x959bd756,
);
const CHECKSUM_OFFSET = 8;
const UPPER_OFFSET = 14;

function mix(state: number, value: number): number {
  const mixed = (state ^ value) >>> 0;
  return (Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17)) >>> 0;
}

const scratch = new Uint32Array(PAGE_SIZE / 4);
const lanes = new Uint32Array(LANES);

/** The checksum PostgreSQL stores in pd_checksum for `page` (8 kB) at `blockNumber` of its relation. */
export function pageChecksum(page: Buffer, blockNumber: number): number {
  // Read as 32-bit words (little-endian, as x86 and ARM store them), through an aligned copy.
  const words =
    page.byteOffset % 4 === 0 && LITTLE_ENDIAN
      ? new Uint32Array(page.buffer, page.byteOffset, PAGE_SIZE / 4)
      : wordsOf(page);
  lanes.set(LANE_OFFSETS);
  // pd_checksum (the low half of word 2) counts as zero.
  const checksumWord = words[CHECKSUM_OFFSET / 4]! & 0xffff0000;
  // The first row apart, where pd_checksum is: the others run without that test per word.
  for (let lane = 0; lane < LANES; lane++) {
    const value = lane === CHECKSUM_OFFSET / 4 ? checksumWord : words[lane]!;
    const mixed = (lanes[lane]! ^ value) >>> 0;
    lanes[lane] = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
  }
  for (let word = LANES; word < PAGE_SIZE / 4; word += LANES) {
    for (let lane = 0; lane < LANES; lane++) {
      const mixed = (lanes[lane]! ^ words[word + lane]!) >>> 0;
      lanes[lane] = Math.imul(mixed, FNV_PRIME) ^ (mixed >>> 17);
    }
  }
  let folded = 0;
  for (let lane = 0; lane < LANES; lane++) folded ^= mix(mix(lanes[lane]!, 0), 0);
  return (((folded ^ blockNumber) >>> 0) % 65535) + 1;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function wordsOf(page: Buffer): Uint32Array {
  for (let index = 0; index < scratch.length; index++) scratch[index] = page.readUInt32LE(index * 4);
  return scratch;
}

/** The checksum PostgreSQL stored in the page (pd_checksum). */
export function storedChecksum(page: Buffer): number {
  return page.readUInt16LE(CHECKSUM_OFFSET);
}

/** A page's LSN (pd_lsn: two 32-bit halves, high first). */
export function pageLsn(page: Buffer): bigint {
  return (BigInt(page.readUInt32LE(0)) << 32n) | BigInt(page.readUInt32LE(4));
}

/** The relation file a backup path names: `base/<db>/<node>[_fork][.segment]` and the like. */
export interface RelationFile {
  /** Null for the default tablespace (base/) and pg_global (global/). */
  tablespaceOid: number | null;
  /** Null for shared relations (global/). */
  databaseOid: number | null;
  relfilenode: number;
  fork: 'main' | 'fsm' | 'vm' | 'init';
  segment: number;
}

const RELATION_NAME = /^(\d+)(?:_(fsm|vm|init))?(?:\.(\d+))?$/;

/** The relation file at `path` (relative to PGDATA, as a manifest names it); null for any other file. */
export function relationFileOf(path: string): RelationFile | null {
  const parts = path.split('/');
  let tablespaceOid: number | null = null;
  let databaseOid: number | null = null;
  let name: string;
  if (parts[0] === 'global' && parts.length === 2) name = parts[1]!;
  else if (parts[0] === 'base' && parts.length === 3 && /^\d+$/.test(parts[1]!)) {
    databaseOid = Number(parts[1]);
    name = parts[2]!;
  } else if (
    parts[0] === 'pg_tblspc' &&
    parts.length === 5 &&
    /^\d+$/.test(parts[1]!) &&
    /^\d+$/.test(parts[3]!)
  ) {
    tablespaceOid = Number(parts[1]);
    databaseOid = Number(parts[3]);
    name = parts[4]!;
  } else return null;
  const match = RELATION_NAME.exec(name);
  if (!match) return null;
  return {
    tablespaceOid,
    databaseOid,
    relfilenode: Number(match[1]),
    fork: (match[2] as RelationFile['fork'] | undefined) ?? 'main',
    segment: match[3] ? Number(match[3]) : 0,
  };
}

/** A page whose checksum does not match. */
export interface PageFailure {
  /** Block number within the relation (segments counted). */
  block: number;
  expected: number;
  calculated: number;
}

/**
 * Checks the pages of one relation file as its chunks go by, in order (any chunk sizes); a
 * trailing partial page (a file being extended while copied) is not checked.
 */
export class PageChecksumVerifier {
  readonly failures: PageFailure[] = [];
  pagesChecked = 0;
  private readonly pending = Buffer.alloc(PAGE_SIZE);
  private pendingBytes = 0;
  private nextBlock: number;
  private readonly startHigh: number;
  private readonly startLow: number;

  constructor(
    file: RelationFile,
    /** The backup's start LSN: later pages are left to WAL replay. */
    startLsn: bigint,
  ) {
    this.nextBlock = file.segment * BLOCKS_PER_SEGMENT;
    this.startHigh = Number(startLsn >> 32n);
    this.startLow = Number(startLsn & 0xffffffffn);
  }

  update(chunk: Buffer): void {
    let offset = 0;
    if (this.pendingBytes > 0) {
      const take = Math.min(PAGE_SIZE - this.pendingBytes, chunk.length);
      chunk.copy(this.pending, this.pendingBytes, 0, take);
      this.pendingBytes += take;
      offset = take;
      if (this.pendingBytes < PAGE_SIZE) return;
      this.check(this.pending);
      this.pendingBytes = 0;
    }
    for (; offset + PAGE_SIZE <= chunk.length; offset += PAGE_SIZE)
      this.check(chunk.subarray(offset, offset + PAGE_SIZE));
    if (offset < chunk.length) {
      chunk.copy(this.pending, 0, offset);
      this.pendingBytes = chunk.length - offset;
    }
  }

  /** pageLsn(page) >= startLsn, compared as two 32-bit halves (no BigInt per page). */
  private writtenSinceStart(page: Buffer): boolean {
    const high = page.readUInt32LE(0);
    return high !== this.startHigh ? high > this.startHigh : page.readUInt32LE(4) >= this.startLow;
  }

  private check(page: Buffer): void {
    const block = this.nextBlock++;
    // A new page (pd_upper 0) has no checksum yet; a page written after the start is replayed.
    if (page.readUInt16LE(UPPER_OFFSET) === 0 || this.writtenSinceStart(page)) return;
    this.pagesChecked++;
    const expected = storedChecksum(page);
    const calculated = pageChecksum(page, block);
    if (expected !== calculated) this.failures.push({ block, expected, calculated });
  }
}
