/**
 * Names of backup tar archives, shared by the executors that write or inspect them and by
 * recovery, which extracts them: the archive's base name and its compression by extension.
 */
import type { CompressionName } from './compression/types.js';
import { COMPRESSION_EXTENSIONS } from './compression/types.js';

/** Compression by file extension: barman-cloud's extensions. */
const BY_EXTENSION = new Map<string, CompressionName>(
  Object.entries(COMPRESSION_EXTENSIONS).map(([name, extension]) => [extension, name as CompressionName]),
);

const ARCHIVE_NAME = /^(.+?)(?:_\d{4})?\.tar(\.[a-z0-9]+)?$/;

/**
 * A backup archive's name: pg_basebackup's `base.tar[.gz|.lz4|.zst]` and `<oid>.tar…`, or
 * barman-cloud-backup's `data.tar[.gz|.bz2|.snappy…]`, `<oid>.tar…` and their `_0001` parts.
 * Undefined when the name is not an archive.
 */
export function archiveCompression(
  name: string,
): { base: string; compression: CompressionName | null } | undefined {
  const match = ARCHIVE_NAME.exec(name);
  if (!match) return undefined;
  if (match[2] === undefined) return { base: match[1]!, compression: null };
  const compression = BY_EXTENSION.get(match[2]);
  return compression ? { base: match[1]!, compression } : undefined;
}
