import type { BackupInfo } from '../../catalog/backup-info.js';

/** What the phases of a backup share. */
export interface BackupOutcome {
  server: string;
  backupId: string | null;
  status: string;
  error: string | null;
  /** The backup.info the run left (for `-f json`), once read back. */
  info?: BackupInfo | null;
  /** Data pages that failed checksum verification (the backup is kept, the command fails). */
  corruptPages?: number;
}

/** A backup id from the local time: YYYYMMDDTHHMMSS. */
export function backupIdNow(): string {
  const now = new Date();
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}T${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
}
