/**
 * The long page header that starts every WAL segment (PostgreSQL's XLogLongPageHeaderData):
 * it names the cluster (system identifier) and the segment size, which lets the archiver
 * reject a WAL file that belongs to another cluster before it pollutes the archive.
 */
import { segmentStartLsn, type WalName } from './names.js';

/** Bytes needed to read the long page header. */
export const WAL_HEADER_LENGTH = 40;
const XLP_LONG_HEADER = 0x0002;

/** WAL page magic of each PostgreSQL major version (XLOG_PAGE_MAGIC). */
const MAGIC_TO_VERSION: ReadonlyMap<number, string> = new Map([
  [0xd07e, '9.4'],
  [0xd087, '9.5'],
  [0xd093, '9.6'],
  [0xd097, '10'],
  [0xd098, '11'],
  [0xd101, '12'],
  [0xd106, '13'],
  [0xd10d, '14'],
  [0xd110, '15'],
  [0xd113, '16'],
  [0xd116, '17'],
  [0xd118, '18'],
]);

export interface WalHeader {
  magic: number;
  /** PostgreSQL major version implied by the magic, or null when unknown. */
  majorVersion: string | null;
  timeline: number;
  /** LSN of the first byte of the segment. */
  pageAddress: bigint;
  systemIdentifier: string;
  segmentSize: number;
  blockSize: number;
}

/** Parses the header, or returns a reason why these bytes are not the start of a WAL segment. */
export function parseWalHeader(bytes: Buffer): WalHeader | { invalid: string } {
  if (bytes.length < WAL_HEADER_LENGTH)
    return { invalid: `too short for a WAL header (${bytes.length} bytes)` };
  const info = bytes.readUInt16LE(2);
  if ((info & XLP_LONG_HEADER) === 0) return { invalid: 'the first page has no long header' };
  const magic = bytes.readUInt16LE(0);
  const segmentSize = bytes.readUInt32LE(32);
  const blockSize = bytes.readUInt32LE(36);
  if (!isPowerOfTwo(segmentSize) || segmentSize < 1 << 20 || segmentSize > 1 << 30)
    return { invalid: `implausible segment size ${segmentSize}` };
  if (!isPowerOfTwo(blockSize) || blockSize < 1024 || blockSize > 65536)
    return { invalid: `implausible block size ${blockSize}` };
  return {
    magic,
    majorVersion: MAGIC_TO_VERSION.get(magic) ?? null,
    timeline: bytes.readUInt32LE(4),
    pageAddress: bytes.readBigUInt64LE(8),
    systemIdentifier: bytes.readBigUInt64LE(24).toString(),
    segmentSize,
    blockSize,
  };
}

export type WalVerdict =
  { ok: true; systemid: string | null; majorVersion: string | null } | { ok: false; reason: string };

/**
 * Whether `head` (the first bytes of the plain WAL file `name`, `size` bytes long) belongs to
 * the cluster `systemIdentifier` (any when null) and to the segment its name says: archive-wal
 * checks each file so, put-wal each file it seals (archive-wal cannot read a sealed header).
 */
export function verifyWalHead(
  name: string,
  wal: WalName,
  head: Buffer,
  size: number,
  systemIdentifier: string | null,
): WalVerdict {
  if (wal.kind !== 'segment' && wal.kind !== 'partial')
    return { ok: true, systemid: null, majorVersion: null };
  const header = parseWalHeader(head);
  if ('invalid' in header) return { ok: false, reason: `not a WAL segment: ${header.invalid}` };
  if (systemIdentifier !== null && header.systemIdentifier !== systemIdentifier) {
    return {
      ok: false,
      reason: `belongs to another cluster (system identifier ${header.systemIdentifier}, expected ${systemIdentifier})`,
    };
  }
  if (wal.kind === 'segment' && size !== header.segmentSize) {
    return { ok: false, reason: `size ${size} does not match the segment size ${header.segmentSize}` };
  }
  if (header.pageAddress !== segmentStartLsn(name, header.segmentSize)) {
    return { ok: false, reason: 'its content does not belong to the segment its name says (renamed file?)' };
  }
  return { ok: true, systemid: header.systemIdentifier, majorVersion: header.majorVersion };
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}
