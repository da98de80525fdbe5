/** A server's custom compression filters (compression = custom), kept light for the put-wal path. */
import type { ServerConfig } from '../config/index.js';
import type { CustomCompression } from '../transfer/compression/index.js';

export function customWalCompression(config: ServerConfig): CustomCompression | null {
  if (
    config.compression !== 'custom' ||
    !config.custom_compression_filter ||
    !config.custom_decompression_filter
  ) {
    return null;
  }
  return {
    compressFilter: config.custom_compression_filter,
    decompressFilter: config.custom_decompression_filter,
    magic: config.custom_compression_magic
      ? Buffer.from(config.custom_compression_magic.slice(2), 'hex')
      : null,
  };
}
