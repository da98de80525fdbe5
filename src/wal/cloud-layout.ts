/**
 * Object names of a WAL archive in object storage, the layout of barman-cloud-wal-archive:
 * `<wals_directory>/<timeline+log, 16 hex digits>/<WAL name><extension>` (history files
 * directly in `<wals_directory>/`), the extension naming the compression, and opening one
 * such object decompressed. No SDK and no codec loaded here: the async spool and the catalogue
 * use it without loading either.
 */
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
// types.js, not the compression index: this module must stay light (no codecs loaded).
import type { CompressionFormat } from '../transfer/compression/types.js';
import { canonicalCompression, COMPRESSION_EXTENSIONS } from '../transfer/compression/types.js';
import { hashDir, parseWalName, segmentsBetween } from './names.js';

/** barman-cloud's WAL object extensions: the codecs' (transfer/compression/types.ts). */
export const CLOUD_WAL_EXTENSIONS = COMPRESSION_EXTENSIONS;

/**
 * The suffix of an encrypted object (`encryption = gpg`), after the compression's: the name
 * Barman gives an encrypted tar archive (`<archive>.gpg`). barman-cloud has no gpg encryption,
 * so its tools skip these names rather than reading ciphertext as WAL.
 */
export const ENCRYPTED_OBJECT_SUFFIX = '.gpg';

export type CloudCompression = Exclude<CompressionFormat, 'custom'>;

/** The compression of a server's cloud WAL archive; `custom` filters cannot be named by an extension. */
export function cloudWalCompression(config: ServerConfig): CloudCompression | null {
  const name = config.compression;
  if (name === null || name === 'none') return null;
  const format = canonicalCompression(name);
  if (format === 'custom') {
    throw new BarmanError(
      'cloud-custom-compression',
      `server '${config.name}': 'compression = custom' cannot be used with an s3:// wals_directory`,
      { hint: 'use gzip, bzip2, xz, zstd, lz4, snappy or none' },
    );
  }
  return format;
}

/** Path of a WAL file in the cloud archive, relative to wals_directory. */
export function cloudWalPath(
  walName: string,
  compression: CloudCompression | null,
  encrypted = false,
): string {
  const directory = hashDir(walName);
  const file = `${walName}${compression ? CLOUD_WAL_EXTENSIONS[compression] : ''}${encrypted ? ENCRYPTED_OBJECT_SUFFIX : ''}`;
  return directory ? `${directory}/${file}` : file;
}

/** The WAL name, compression and encryption an object's file name says; null for strangers. */
export function parseWalObjectName(
  file: string,
): { name: string; compression: CloudCompression | null; encrypted: boolean } | null {
  const encrypted = file.endsWith(ENCRYPTED_OBJECT_SUFFIX);
  const unsealed = encrypted ? file.slice(0, -ENCRYPTED_OBJECT_SUFFIX.length) : file;
  let compression: CloudCompression | null = null;
  let name = unsealed;
  for (const [format, extension] of Object.entries(CLOUD_WAL_EXTENSIONS)) {
    if (unsealed.endsWith(extension)) {
      compression = format as CloudCompression;
      name = unsealed.slice(0, -extension.length);
      break;
    }
  }
  const wal = parseWalName(name);
  return wal && wal.name === name ? { name, compression, encrypted } : null;
}

/** The WAL name and compression of an object path relative to wals_directory; null for strangers. */
export function parseCloudWalPath(
  path: string,
): { name: string; compression: CloudCompression | null; encrypted: boolean } | null {
  const parsed = parseWalObjectName(path.slice(path.lastIndexOf('/') + 1));
  if (!parsed) return null;
  const directory = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  return directory === hashDir(parsed.name) ? parsed : null;
}

/**
 * Holes in an archive: for each timeline, the segments missing between the first and the last
 * archived one (a continuous archive has none). Names that are not plain segments are ignored.
 */
export function missingSegments(names: Iterable<string>, segmentSize: number): string[] {
  const byTimeline = new Map<number, string[]>();
  for (const name of names) {
    const wal = parseWalName(name);
    if (wal?.kind !== 'segment') continue;
    const list = byTimeline.get(wal.timeline) ?? [];
    list.push(wal.name);
    byTimeline.set(wal.timeline, list);
  }
  const missing: string[] = [];
  for (const [, list] of [...byTimeline].sort(([a], [b]) => a - b)) {
    const present = new Set(list);
    const sorted = [...present].sort();
    for (const name of segmentsBetween(sorted[0]!, sorted.at(-1)!, segmentSize)) {
      if (!present.has(name)) missing.push(name);
    }
  }
  return missing;
}
