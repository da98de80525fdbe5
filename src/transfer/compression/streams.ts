/**
 * Stream factories: one Transform/Duplex per algorithm, all producing and reading the standard
 * stream format of the algorithm so that Barman and the usual command-line tools read what
 * barman-ts writes and the reverse.
 *
 * | format | compression | decompression |
 * |---|---|---|
 * | gzip (gzip, pigz, pygzip) | node:zlib | node:zlib (multi-member) |
 * | bzip2 (bzip2, pybzip2) | `bzip2 -c -<level>` | `bzip2 -d -c` |
 * | xz | `xz -c -<level> --threads=1` | `xz -d -c` |
 * | zstd | zstd in WebAssembly | fzstd (JavaScript) |
 * | lz4 | own frame/block codec | own frame/block codec |
 * | snappy | own framing + snappyjs blocks | own framing + snappyjs blocks |
 * | custom | `sh -c <filter>` | `sh -c <filter>` |
 *
 * bzip2 and xz use the Debian programs: no in-process streaming bzip2 compressor exists on npm,
 * and the in-process xz binding measured 2.5-3x slower than `xz` itself (see the module docs).
 */
import type { Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { ExternalFilterStream, shellFilter } from './external.js';
import { resolveLevel } from './levels.js';
import { Lz4CompressStream, Lz4DecompressStream } from './lz4.js';
import { SnappyCompressStream, SnappyDecompressStream } from './snappy.js';
import type { CompressionName, CompressOptions, CustomCompression, DecompressOptions } from './types.js';
import { canonicalCompression, CompressionError } from './types.js';
import { ZstdCompressStream, ZstdDecompressStream } from './zstd.js';

export const ZLIB_CHUNK = 1 << 16;

function requireCustom(custom: CustomCompression | null | undefined): CustomCompression {
  if (!custom?.compressFilter || !custom.decompressFilter) {
    throw new CompressionError(
      'custom compression needs custom_compression_filter and custom_decompression_filter',
      {
        hint: 'set both options in the server configuration',
      },
    );
  }
  return custom;
}

/** A stream that compresses what is written to it with `name`. */
export function createCompressStream(name: CompressionName, options: CompressOptions = {}): Duplex {
  const format = canonicalCompression(name);
  const level = resolveLevel(format, options.level);
  switch (format) {
    case 'gzip':
      return createGzip({ level, chunkSize: ZLIB_CHUNK });
    case 'bzip2':
      return new ExternalFilterStream({
        program: 'bzip2',
        args: ['-c', `-${level}`],
        description: 'bzip2 compression',
        missingHint: 'install the bzip2 package',
      });
    case 'xz':
      return new ExternalFilterStream({
        program: 'xz',
        args: ['-c', `-${level}`, '--threads=1'],
        description: 'xz compression',
        missingHint: 'install the xz-utils package',
      });
    case 'zstd':
      return new ZstdCompressStream(level);
    case 'lz4':
      return new Lz4CompressStream(level);
    case 'snappy':
      return new SnappyCompressStream();
    case 'custom':
      return shellFilter(requireCustom(options.custom).compressFilter, 'custom compression filter');
  }
}

/** A stream that decompresses what is written to it, compressed with `name`. */
export function createDecompressStream(name: CompressionName, options: DecompressOptions = {}): Duplex {
  switch (canonicalCompression(name)) {
    case 'gzip':
      // zlib reads every member of a multi-member file (as gzip -d does).
      return createGunzip({ chunkSize: ZLIB_CHUNK });
    case 'bzip2':
      return new ExternalFilterStream({
        program: 'bzip2',
        args: ['-d', '-c'],
        description: 'bzip2 decompression',
        missingHint: 'install the bzip2 package',
      });
    case 'xz':
      return new ExternalFilterStream({
        program: 'xz',
        args: ['-d', '-c'],
        description: 'xz decompression',
        missingHint: 'install the xz-utils package',
      });
    case 'zstd':
      return new ZstdDecompressStream();
    case 'lz4':
      return new Lz4DecompressStream();
    case 'snappy':
      return new SnappyDecompressStream();
    case 'custom':
      return shellFilter(requireCustom(options.custom).decompressFilter, 'custom decompression filter');
  }
}
