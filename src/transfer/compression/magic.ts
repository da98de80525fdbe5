/**
 * Compression identification by magic bytes (spec §2.4): the registry is searched in
 * alphabetical order and the first match wins, so gzip magic is always reported as 'gzip' and
 * bzip2 magic as 'bzip2'. A configured custom magic takes part under its name 'custom', which
 * sorts between 'bzip2' and 'gzip'.
 */
import type { CompressionName, CustomCompression } from './types.js';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const BZIP2_MAGIC = Buffer.from('BZh', 'latin1');
const LZ4_MAGIC = Buffer.from([0x04, 0x22, 0x4d, 0x18]);
/** The snappy framing format's stream identifier chunk. */
export const SNAPPY_STREAM_IDENTIFIER = Buffer.from([
  0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59,
]);
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Bytes needed to identify every built-in format (the snappy stream identifier is the longest). */
export const MAGIC_HEADER_LENGTH = SNAPPY_STREAM_IDENTIFIER.length;

/** Registry entries with a fixed magic, in alphabetical order of their names ('custom' excluded). */
const BUILT_IN: ReadonlyArray<readonly [CompressionName, Buffer]> = [
  ['bzip2', BZIP2_MAGIC],
  ['gzip', GZIP_MAGIC],
  ['lz4', LZ4_MAGIC],
  ['snappy', SNAPPY_STREAM_IDENTIFIER],
  ['xz', XZ_MAGIC],
  ['zstd', ZSTD_MAGIC],
];

/** The header length to read so that the custom magic, if longer, can be matched too. */
export function magicHeaderLength(custom?: CustomCompression | null): number {
  return Math.max(MAGIC_HEADER_LENGTH, custom?.magic?.length ?? 0);
}

/**
 * The compression of a file from its first bytes (at least `magicHeaderLength(custom)` of them
 * when the file is that long). Returns null for plain data. When `custom` is given (that is, the
 * server uses `compression = custom`) and it has no magic, Barman treats every unidentified file
 * as custom-compressed, and so does this function.
 */
export function identifyCompression(
  header: Buffer,
  custom?: CustomCompression | null,
): CompressionName | null {
  for (const [name, magic] of BUILT_IN) {
    if (name === 'gzip' && custom?.magic && startsWith(header, custom.magic)) return 'custom';
    if (startsWith(header, magic)) return name;
  }
  if (custom) {
    if (custom.magic === null) return 'custom';
    if (startsWith(header, custom.magic)) return 'custom';
  }
  return null;
}

function startsWith(header: Buffer, magic: Buffer): boolean {
  return magic.length > 0 && header.length >= magic.length && header.subarray(0, magic.length).equals(magic);
}
