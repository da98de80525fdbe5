/**
 * PostgreSQL's backup manifest (format version 1, as pg_basebackup writes `backup_manifest`):
 * one line per file with its size, modification time and SHA-256, the WAL range the backup needs,
 * and a SHA-256 of the manifest itself. local-to-cloud backups store one next to their archives,
 * and recovery puts it in the restored data directory, so PostgreSQL's own `pg_verifybackup`
 * checks a recovered copy before its first start.
 */
import { createHash } from 'node:crypto';

export interface ManifestFile {
  /** Relative to the data directory; tablespace files under `pg_tblspc/<oid>/`. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Hex SHA-256 of the file's bytes as stored in the backup. */
  sha256: string;
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
): string {
  const fileLines = files.map(
    (file) =>
      `{ "Path": ${JSON.stringify(file.path)}, "Size": ${file.size}, ` +
      `"Last-Modified": "${gmtime(file.mtimeMs)}", "Checksum-Algorithm": "SHA256", "Checksum": "${file.sha256}" }`,
  );
  const rangeLines = walRanges.map(
    (range) =>
      `{ "Timeline": ${range.timeline}, "Start-LSN": "${range.startLsn}", "End-LSN": "${range.endLsn}" }`,
  );
  const body =
    '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [' +
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
