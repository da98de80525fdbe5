/**
 * barman-ts's own CRC-32C addon (native/crc32c, built by node-gyp at install): loaded once, here,
 * for both its users — transfer/compression/checksums.ts (crc32c of a buffer) and the storage
 * layer (crc32cFile: a file read and checksummed on libuv's thread pool). Null where it did not
 * build; it exports nothing on a CPU without SSE 4.2.
 */
import { createRequire } from 'node:module';

/** The CRC-32C of a file range and its first bytes, as crc32cFile answers. */
export interface FileCrc32c {
  crc: number;
  /** Bytes read: fewer than asked at the end of the file. */
  bytes: number;
  /** A copy of the first `headBytes` read (fewer in a shorter file); null when none were asked. */
  head: Buffer | null;
}

export interface Crc32cAddon {
  /** CRC-32C of the bytes, continuing from `crc` (a previous result). */
  crc32c?: (data: Buffer, crc?: number) => number;
  /**
   * crc32cFile(path, offset, length (-1: to the end), headBytes (<= 64), bufferBytes): opens,
   * reads and checksums on libuv's thread pool, one call per file; rejects with an Error shaped
   * like Node's fs errors (code, errno, syscall, path).
   */
  crc32cFile?: (
    path: string,
    offset: number,
    length: number,
    headBytes: number,
    bufferBytes: number,
  ) => Promise<FileCrc32c>;
}

let addon: Crc32cAddon | null | undefined;

export function crc32cAddon(): Crc32cAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)('barman-ts-crc32c') as Crc32cAddon;
    } catch {
      addon = null; // not built here: the callers have their fallbacks
    }
  }
  return addon;
}
