/**
 * Public types of the WAL compression layer: the algorithm names of Barman's compression
 * registry, the custom (shell filter) compressor and compression levels.
 */
import { BarmanError } from '../../errors/index.js';

/** Barman's compression registry names (3.4 names plus the 3.12 and 3.14 additions). */
export type CompressionName =
  'gzip' | 'pigz' | 'pygzip' | 'bzip2' | 'pybzip2' | 'xz' | 'zstd' | 'lz4' | 'snappy' | 'custom';

/** The format family of a registry name: what is actually on disk. */
export type CompressionFormat = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'lz4' | 'snappy' | 'custom';

/**
 * The file extension of each format, barman-cloud's (3.4 knows .gz, .bz2 and .snappy; later
 * releases the others): cloud WAL objects and backup tar archives are named with them.
 */
export const COMPRESSION_EXTENSIONS: Readonly<Record<Exclude<CompressionFormat, 'custom'>, string>> = {
  gzip: '.gz',
  bzip2: '.bz2',
  xz: '.xz',
  zstd: '.zst',
  lz4: '.lz4',
  snappy: '.snappy',
};

export const COMPRESSION_NAMES: readonly CompressionName[] = [
  'gzip',
  'pigz',
  'pygzip',
  'bzip2',
  'pybzip2',
  'xz',
  'zstd',
  'lz4',
  'snappy',
  'custom',
];

/**
 * `custom_compression_filter`, `custom_decompression_filter` and `custom_compression_magic`.
 * The filters are shell commands reading stdin and writing stdout, run with `sh -c`.
 */
export interface CustomCompression {
  compressFilter: string;
  decompressFilter: string;
  /** The decoded magic bytes, or null when `custom_compression_magic` is not set. */
  magic: Buffer | null;
}

/** `compression_level`: a named level or an integer clamped to the algorithm's range. */
export type CompressionLevel = 'low' | 'medium' | 'high' | number;

export interface CompressOptions {
  /** Defaults to 'medium' (Barman's default for `compression_level`). */
  level?: CompressionLevel;
  /** Required when the name is 'custom'. */
  custom?: CustomCompression | null;
}

export interface DecompressOptions {
  /** Required when the name is 'custom'. */
  custom?: CustomCompression | null;
}

/** Byte counts of one file compressed or decompressed. */
export interface TransferSizes {
  bytesIn: number;
  bytesOut: number;
}

/** A compression or decompression that failed: corrupt input, a failed program, a bad name. */
export class CompressionError extends BarmanError {
  constructor(message: string, options: { cause?: unknown; hint?: string } = {}) {
    super('compression-failed', message, options);
    this.name = 'CompressionError';
  }
}

export function isCompressionName(value: string): value is CompressionName {
  return (COMPRESSION_NAMES as readonly string[]).includes(value);
}

/** pigz/pygzip -> gzip, pybzip2 -> bzip2; the other names are their own family. */
export function canonicalCompression(name: CompressionName): CompressionFormat {
  switch (name) {
    case 'pigz':
    case 'pygzip':
      return 'gzip';
    case 'pybzip2':
      return 'bzip2';
    default:
      return name;
  }
}

/** Validates a name coming from configuration or a catalogue line. */
export function assertCompressionName(value: string): CompressionName {
  if (!isCompressionName(value)) {
    throw new CompressionError(`unknown compression '${value}'`, {
      hint: `use one of: ${COMPRESSION_NAMES.join(', ')}`,
    });
  }
  return value;
}
