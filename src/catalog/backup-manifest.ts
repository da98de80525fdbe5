/**
 * PostgreSQL's backup manifest (format version 1, as pg_basebackup writes `backup_manifest`):
 * one line per file with its size, modification time and SHA-256, the WAL range the backup needs,
 * and a SHA-256 of the manifest itself. local-to-cloud backups store one next to their archives,
 * and recovery puts it in the restored data directory, so PostgreSQL's own `pg_verifybackup`
 * checks a recovered copy before its first start.
 */
import { createHash } from 'node:crypto';
import { BarmanError } from '../errors/index.js';

export interface ManifestFile {
  /** Relative to the data directory; tablespace files under `pg_tblspc/<oid>/`. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Hex SHA-256 of the file's bytes as stored in the backup. */
  sha256: string;
  /**
   * Another manifest's checksum of the same bytes, written instead of the SHA-256 (a combine
   * copying a file whole keeps its backup's checksum, whatever the algorithm, as
   * pg_combinebackup does, instead of reading the file again).
   */
  checksum?: ManifestChecksum;
}

/** A manifest's `Checksum-Algorithm` (`CRC32C`, `SHA256` …) and hex `Checksum`. */
export interface ManifestChecksum {
  algorithm: string;
  value: string;
}

export interface ManifestWalRange {
  timeline: number;
  /** `X/X` */
  startLsn: string;
  endLsn: string;
}

/** The manifest text, byte for byte in the layout PostgreSQL's parser and checksum expect. */
export function renderBackupManifest(
  files: readonly ManifestFile[],
  walRanges: readonly ManifestWalRange[],
  /** With the system identifier (decimal text: it exceeds a JS number), PostgreSQL 17's version 2. */
  options: { systemIdentifier?: string } = {},
): string {
  const fileLines = files.map(
    (file) =>
      `{ "Path": ${JSON.stringify(file.path)}, "Size": ${file.size}, ` +
      `"Last-Modified": "${gmtime(file.mtimeMs)}", ` +
      (file.checksum
        ? `"Checksum-Algorithm": ${JSON.stringify(file.checksum.algorithm)}, "Checksum": ${JSON.stringify(file.checksum.value)} }`
        : `"Checksum-Algorithm": "SHA256", "Checksum": "${file.sha256}" }`),
  );
  const rangeLines = walRanges.map(
    (range) =>
      `{ "Timeline": ${range.timeline}, "Start-LSN": "${range.startLsn}", "End-LSN": "${range.endLsn}" }`,
  );
  const body =
    (options.systemIdentifier === undefined
      ? '{ "PostgreSQL-Backup-Manifest-Version": 1,\n'
      : `{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ${options.systemIdentifier},\n`) +
    '"Files": [' +
    (fileLines.length > 0 ? `\n${fileLines.join(',\n')}` : '') +
    '\n],\n"WAL-Ranges": [\n' +
    rangeLines.join(',\n') +
    '\n],\n';
  // The checksum covers everything before its own line.
  const checksum = createHash('sha256').update(body).digest('hex');
  return `${body}"Manifest-Checksum": "${checksum}"}\n`;
}

/** `2026-11-21 10:00:00 GMT`, strftime("%Y-%m-%d %H:%M:%S %Z") of gmtime(). */
function gmtime(epochMs: number): string {
  return `${new Date(Math.floor(epochMs / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

export interface ManifestEntry {
  size: number;
  /** Hex SHA-256, or null when the manifest uses another algorithm (or none). */
  sha256: string | null;
  /** The checksum whatever its algorithm, null when the manifest has none for the file. */
  checksum?: ManifestChecksum | null;
}

/**
 * The files a manifest lists (PostgreSQL's version 1 or 2, ours or pg_basebackup's), by path.
 * Non-UTF-8 names come hex-encoded as `Encoded-Path`. Throws on text that is not a manifest.
 */
export function parseBackupManifest(text: string, source: string): Map<string, ManifestEntry> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw manifestError(`${source} is not a backup manifest: ${(error as Error).message}`);
  }
  const files = (document as { Files?: unknown } | null)?.Files;
  if (!Array.isArray(files)) throw manifestError(`${source} is not a backup manifest: no "Files" list`);
  const entries = new Map<string, ManifestEntry>();
  for (const file of files as Array<Record<string, unknown>>) {
    const path =
      typeof file.Path === 'string'
        ? file.Path
        : typeof file['Encoded-Path'] === 'string'
          ? Buffer.from(file['Encoded-Path'], 'hex').toString('utf8')
          : null;
    if (path === null || typeof file.Size !== 'number')
      throw manifestError(`${source} has a file entry without a path or a size`);
    const sha256 =
      file['Checksum-Algorithm'] === 'SHA256' && typeof file.Checksum === 'string'
        ? file.Checksum.toLowerCase()
        : null;
    const checksum =
      typeof file['Checksum-Algorithm'] === 'string' &&
      file['Checksum-Algorithm'] !== 'NONE' &&
      typeof file.Checksum === 'string'
        ? { algorithm: file['Checksum-Algorithm'], value: file.Checksum }
        : null;
    entries.set(path, { size: file.Size, sha256, checksum });
  }
  return entries;
}

function manifestError(message: string): BarmanError {
  return new BarmanError('manifest-invalid', message, {
    hint: 'the backup_manifest is damaged: the backup cannot be checked against it; recover another backup',
  });
}
