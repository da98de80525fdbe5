/**
 * WAL compression for barman-ts: Barman's compression registry (gzip, pigz, pygzip, bzip2,
 * pybzip2, xz, zstd, lz4, snappy, custom), identification by magic bytes, streaming compressors
 * and decompressors writing each algorithm's standard stream format, file and buffer helpers,
 * and a worker-thread pool for CPU-bound compression.
 */
export type {
  CompressionFormat,
  CompressionLevel,
  CompressionName,
  CompressOptions,
  CustomCompression,
  DecompressOptions,
  TransferSizes,
} from './types.js';
export {
  assertCompressionName,
  canonicalCompression,
  COMPRESSION_NAMES,
  CompressionError,
  isCompressionName,
} from './types.js';
export { identifyCompression, MAGIC_HEADER_LENGTH, magicHeaderLength } from './magic.js';
export { levelRange, resolveLevel } from './levels.js';
export { createCompressStream, createDecompressStream } from './streams.js';
export { compressBuffer, compressFile, decompressBuffer, decompressFile } from './files.js';
export { CompressionPool } from './pool.js';
