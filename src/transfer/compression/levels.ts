/**
 * `compression_level` per algorithm: low/medium/high map to a level of the algorithm, integers
 * are clamped to the algorithm's range.
 */
import type { CompressionFormat, CompressionLevel } from './types.js';
import { CompressionError } from './types.js';

interface LevelTable {
  min: number;
  max: number;
  low: number;
  medium: number;
  high: number;
}

/**
 * zstd stops at 19 (as the zstd CLI without --ultra): levels 20-22 grow the WebAssembly heap of
 * every compressing thread to gigabytes, and that memory is never given back.
 * lz4: 0 = accelerated ("fast"), 1-2 = the default greedy compressor, 3-12 = high compression
 * (a hash-chain search that gets deeper with the level), like the lz4 CLI's levels.
 * snappy and custom filters have no levels (a single 0).
 */
const LEVELS: Record<CompressionFormat, LevelTable> = {
  gzip: { min: 1, max: 9, low: 1, medium: 6, high: 9 },
  bzip2: { min: 1, max: 9, low: 1, medium: 9, high: 9 },
  xz: { min: 0, max: 9, low: 1, medium: 6, high: 9 },
  zstd: { min: 1, max: 19, low: 1, medium: 3, high: 19 },
  lz4: { min: 0, max: 12, low: 0, medium: 1, high: 9 },
  snappy: { min: 0, max: 0, low: 0, medium: 0, high: 0 },
  custom: { min: 0, max: 0, low: 0, medium: 0, high: 0 },
};

/** The numeric level to use for `format`; `undefined` means 'medium'. */
export function resolveLevel(format: CompressionFormat, level: CompressionLevel | undefined): number {
  const table = LEVELS[format];
  if (level === undefined || level === 'medium') return table.medium;
  if (level === 'low') return table.low;
  if (level === 'high') return table.high;
  if (typeof level !== 'number' || !Number.isFinite(level)) {
    throw new CompressionError(`invalid compression level '${String(level)}'`, {
      hint: 'use low, medium, high or an integer',
    });
  }
  return Math.min(table.max, Math.max(table.min, Math.trunc(level)));
}

/** The integer range accepted for `format` (after clamping). */
export function levelRange(format: CompressionFormat): { min: number; max: number } {
  const { min, max } = LEVELS[format];
  return { min, max };
}
