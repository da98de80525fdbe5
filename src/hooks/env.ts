/**
 * The BARMAN_* variables of each hook family, as Barman's HookScriptRunner sets them
 * (env_from_wal_info, env_from_backup_info, env_from_recover). All values are strings; absent
 * values are empty strings.
 */
import type { CatalogBackup } from '../catalog/backups.js';
import { statusOf } from '../catalog/backups.js';

/** A WAL file, for the archive and wal_delete hooks. */
export interface WalHookInfo {
  /** BARMAN_SEGMENT: the file name (segment, history, backup label, partial). */
  segment: string;
  /** BARMAN_FILE: pre_archive: the source in incoming/ or streaming/; post_archive: the destination in wals/; wal_delete: the archived file. */
  file: string;
  /** BARMAN_SIZE, in bytes. */
  size: number;
  /** BARMAN_TIMESTAMP: mtime in seconds since the epoch (a Python float, e.g. `1795236976.660891`). */
  timestamp: number;
  /** BARMAN_COMPRESSION: empty when none. */
  compression: string | null;
  /** BARMAN_ERROR: why the operation failed (post phase). */
  error?: string | null;
}

export function walHookEnv(info: WalHookInfo): Record<string, string> {
  return {
    BARMAN_SEGMENT: info.segment,
    BARMAN_FILE: info.file,
    BARMAN_SIZE: String(Math.trunc(info.size)),
    BARMAN_TIMESTAMP: pythonFloat(info.timestamp),
    BARMAN_COMPRESSION: info.compression ?? '',
    BARMAN_ERROR: info.error ?? '',
  };
}

/** pre/post_archive_script and _retry_script. */
export const archiveHookEnv = walHookEnv;
/** pre/post_wal_delete_script and _retry_script. */
export const walDeleteHookEnv = walHookEnv;

/** A backup, for the backup, delete and recovery hooks. */
export interface BackupHookInfo {
  /** BARMAN_BACKUP_ID. */
  backupId: string;
  /** BARMAN_BACKUP_DIR: base/<id>. */
  backupDir: string;
  /** BARMAN_BACKUP_INFO_PATH: the backup.info file. */
  backupInfoPath: string;
  /** BARMAN_STATUS. */
  status: string;
  /** BARMAN_PREVIOUS_ID / BARMAN_NEXT_ID: empty when there is none. */
  previousId: string | null;
  nextId: string | null;
  /** BARMAN_ERROR: the backup's error (backup.info `error`), or the operation's. */
  error?: string | null;
}

export function backupHookEnv(info: BackupHookInfo): Record<string, string> {
  return {
    BARMAN_BACKUP_DIR: info.backupDir,
    BARMAN_BACKUP_ID: info.backupId,
    BARMAN_BACKUP_INFO_PATH: info.backupInfoPath,
    BARMAN_PREVIOUS_ID: info.previousId ?? '',
    BARMAN_NEXT_ID: info.nextId ?? '',
    BARMAN_STATUS: info.status,
    BARMAN_ERROR: info.error ?? '',
  };
}

/** pre/post_delete_script and _retry_script. */
export const deleteHookEnv = backupHookEnv;

/** Statuses Barman's get_previous_backup/get_next_backup consider by default (STATUS_COPY_DONE). */
const NEIGHBOUR_STATUSES = new Set(['DONE', 'WAITING_FOR_WALS']);

/**
 * The hook view of a catalogued backup: previous and next are the nearest older and newer
 * backups that are DONE or WAITING_FOR_WALS, as in Barman. `backups` is the server's catalogue.
 */
export function backupHookInfo(backup: CatalogBackup, backups: readonly CatalogBackup[]): BackupHookInfo {
  const sorted = [...backups].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const eligible = (other: CatalogBackup) => NEIGHBOUR_STATUSES.has(statusOf(other));
  const previous = sorted.filter((other) => other.id < backup.id && eligible(other)).at(-1);
  const next = sorted.find((other) => other.id > backup.id && eligible(other));
  return {
    backupId: backup.id,
    backupDir: backup.directory,
    backupInfoPath: backup.infoFile,
    status: statusOf(backup),
    previousId: previous?.id ?? null,
    nextId: next?.id ?? null,
    error: backup.info?.error ?? null,
  };
}

/** A recovery, for the recovery hooks. */
export interface RecoveryHookInfo extends BackupHookInfo {
  /** BARMAN_DESTINATION_DIRECTORY. */
  destination: string;
  /** BARMAN_TABLESPACES: name -> location (relocations), as JSON with sorted keys; empty when none. */
  tablespaces: Readonly<Record<string, string>> | null;
  /** BARMAN_REMOTE_COMMAND: empty for a local recovery. */
  remoteCommand: string | null;
  /**
   * BARMAN_RECOVER_OPTIONS: the recovery options (target_time, target_xid, target_lsn,
   * target_name, target_immediate, target_tli, exclusive, target_action, standby_mode ...), as
   * JSON with sorted keys; options that are empty, false, zero or null are left out.
   */
  recoverOptions: Readonly<Record<string, unknown>>;
}

export function recoveryHookEnv(info: RecoveryHookInfo): Record<string, string> {
  const tablespaces = info.tablespaces && Object.keys(info.tablespaces).length > 0 ? info.tablespaces : null;
  const options = Object.fromEntries(
    Object.entries(info.recoverOptions).filter(([, value]) => pythonTruthy(value)),
  );
  return {
    ...backupHookEnv(info),
    BARMAN_DESTINATION_DIRECTORY: info.destination,
    BARMAN_TABLESPACES: tablespaces ? pythonJson(tablespaces) : '',
    BARMAN_REMOTE_COMMAND: info.remoteCommand ?? '',
    BARMAN_RECOVER_OPTIONS: Object.keys(options).length > 0 ? pythonJson(options) : '',
    BARMAN_ERROR: info.error ?? '',
  };
}

/** Python's str() of a float: `1795236976.0`, `1795236976.660891`. */
export function pythonFloat(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return `${value}.0`;
  const text = String(value);
  // JavaScript writes 1e-7 where Python writes 1e-07.
  return text.replace(/e([+-])(\d)$/, (_match, sign: string, digit: string) => `e${sign}0${digit}`);
}

/** Python's truthiness, as Barman filters the recovery options. */
function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** `json.dumps(value, sort_keys=True)`: `, ` and `: ` separators, non-ASCII escaped. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return jsonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value instanceof Date) return jsonString(value.toISOString());
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => `${jsonString(key)}: ${pythonJson(inner)}`);
    return `{${entries.join(', ')}}`;
  }
  // Symbols and functions have no JSON form.
  return 'null';
}

function jsonString(text: string): string {
  // Python's ensure_ascii escapes everything outside ' '..'~', surrogate pairs as two escapes.
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
