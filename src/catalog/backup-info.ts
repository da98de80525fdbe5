/**
 * backup.info: Barman's per-backup metadata file (barman-spec.md §2.1). Pure codec, no fs access:
 * the caller reads and writes the file (atomically) and knows the backup ID (the file does not
 * store it).
 *
 * Format: one `key=value` per line, keys sorted, `None` for null. Strings are raw text; ints are
 * decimal; times are Python `str(datetime)`; `backup_label`, `copy_stats`, `included_files`,
 * `tablespaces`, `snapshots_info` are Python literals (see python-literal.ts);
 * `children_backup_ids` is a comma separated list.
 *
 * Round trips are byte-identical for files written by Barman 3.4 and by later versions: the
 * later-version keys are written when set or when they were present in the parsed text, and
 * timestamps keep their original text.
 */
import { BarmanError, describeError } from '../errors/index.js';
import { parseLsn, segmentNumber, segmentsPerLog } from '../wal/names.js';
import {
  formatPythonLiteral,
  parsePythonLiteral,
  PythonLiteralError,
  PythonTuple,
  type PythonDict,
  type PythonValue,
} from './python-literal.js';

export type BackupStatus = 'EMPTY' | 'STARTED' | 'WAITING_FOR_WALS' | 'DONE' | 'SYNCING' | 'FAILED';

export const BACKUP_STATUSES: readonly BackupStatus[] = [
  'EMPTY',
  'STARTED',
  'WAITING_FOR_WALS',
  'DONE',
  'SYNCING',
  'FAILED',
];

export function isBackupStatus(value: string): value is BackupStatus {
  return (BACKUP_STATUSES as readonly string[]).includes(value);
}

/** A begin/end time: the text as written in the file plus its parsed value. */
export interface BackupTimestamp {
  /** Exactly as read from (or to be written to) backup.info. */
  readonly text: string;
  /** Milliseconds since the Unix epoch (digits below the millisecond are truncated). */
  readonly epochMs: number;
  /**
   * Offset of the wall time in `text` from UTC, in minutes, east positive (`+05:30` -> 330).
   * For a naive text (no offset) this is the local offset that was assumed.
   */
  readonly utcOffsetMinutes: number;
  /** True when `text` had no offset and was read as local time of this process (like Barman). */
  readonly naive: boolean;
}

export interface Tablespace {
  name: string;
  oid: number;
  location: string;
}

/**
 * Every key Barman 3.4–3.17 writes. Field names are the file's keys. Null means `None` in the file.
 * `status` is never null (a missing status reads as `EMPTY`, like Barman), nor is
 * `xlog_segment_size` (defaults to 16 MiB).
 */
export interface BackupInfo {
  /** Text of the backup_label file (real newlines); Python repr in the file. */
  backup_label: string | null;
  /** `--name` of the backup; only written when set. */
  backup_name: string | null;
  begin_offset: number | null;
  begin_time: BackupTimestamp | null;
  begin_wal: string | null;
  /** LSN text, `%X/%X`. */
  begin_xlog: string | null;
  /** 3.11+: IDs of incremental backups taken on top of this one. */
  children_backup_ids: string[] | null;
  /** 3.11+: estimated cluster size in bytes at backup time. */
  cluster_size: number | null;
  /** pg_basebackup compression (`gzip`, `lz4`, `zstd`, `none`) or null. */
  compression: string | null;
  config_file: string | null;
  /** Timing dict, e.g. `{'copy_time': 2.1, 'total_time': 2.1}`; floats are numbers, ints bigints. */
  copy_stats: PythonDict | null;
  /** 3.11+: `on` / `off`. */
  data_checksums: string | null;
  deduplicated_size: number | null;
  /** 3.14+: `gpg` or null. */
  encryption: string | null;
  end_offset: number | null;
  end_time: BackupTimestamp | null;
  end_wal: string | null;
  end_xlog: string | null;
  error: string | null;
  hba_file: string | null;
  ident_file: string | null;
  included_files: string[] | null;
  /** `postgres`, `rsync-concurrent`, `rsync-exclusive`, `snapshot-concurrent`, ... */
  mode: string | null;
  /** 3.11+: parent of a block-level incremental backup. */
  parent_backup_id: string | null;
  pgdata: string | null;
  server_name: string | null;
  size: number | null;
  /** Snapshot backups only; only written when set. */
  snapshots_info: PythonDict | null;
  status: BackupStatus;
  /** 3.11+: `on` / `off`, null for PostgreSQL < 17. */
  summarize_wal: string | null;
  systemid: string | null;
  tablespaces: Tablespace[] | null;
  timeline: number | null;
  /** PostgreSQL server_version_num, e.g. 150018. */
  version: number | null;
  xlog_segment_size: number;
  /**
   * Later-version keys (LATER_VERSION_KEYS) found in the parsed text: written back even when
   * null, so that a 3.11+ file keeps its `key=None` lines. Not a backup.info key itself.
   */
  laterKeysPresent?: readonly LaterVersionKey[];
}

/** The 27 keys Barman 3.4 always writes. */
export const BARMAN_34_KEYS = [
  'backup_label',
  'begin_offset',
  'begin_time',
  'begin_wal',
  'begin_xlog',
  'compression',
  'config_file',
  'copy_stats',
  'deduplicated_size',
  'end_offset',
  'end_time',
  'end_wal',
  'end_xlog',
  'error',
  'hba_file',
  'ident_file',
  'included_files',
  'mode',
  'pgdata',
  'server_name',
  'size',
  'status',
  'systemid',
  'tablespaces',
  'timeline',
  'version',
  'xlog_segment_size',
] as const;

/** Keys every version writes only when not null. */
export const HIDDEN_IF_NULL_KEYS = ['backup_name', 'snapshots_info'] as const;

/** Keys added after 3.4 (3.11: the first five, 3.14: encryption). */
export const LATER_VERSION_KEYS = [
  'children_backup_ids',
  'cluster_size',
  'data_checksums',
  'encryption',
  'parent_backup_id',
  'summarize_wal',
] as const;

export type LaterVersionKey = (typeof LATER_VERSION_KEYS)[number];
export type BackupInfoKey =
  (typeof BARMAN_34_KEYS)[number] | (typeof HIDDEN_IF_NULL_KEYS)[number] | LaterVersionKey;

/** All known keys, in the order they are written (sorted, like Barman). */
export const BACKUP_INFO_KEYS: readonly BackupInfoKey[] = [
  ...BARMAN_34_KEYS,
  ...HIDDEN_IF_NULL_KEYS,
  ...LATER_VERSION_KEYS,
].sort();

type FieldKind =
  | 'string'
  | 'int'
  | 'time'
  | 'status'
  | 'label'
  | 'dict'
  | 'stringList'
  | 'tablespaces'
  | 'ids'
  | 'wal'
  | 'lsn'
  | 'timeline'
  | 'segmentSize';

const FIELD_KINDS: { readonly [K in BackupInfoKey]: FieldKind } = {
  backup_label: 'label',
  backup_name: 'string',
  begin_offset: 'int',
  begin_time: 'time',
  begin_wal: 'wal',
  begin_xlog: 'lsn',
  children_backup_ids: 'ids',
  cluster_size: 'int',
  compression: 'string',
  config_file: 'string',
  copy_stats: 'dict',
  data_checksums: 'string',
  deduplicated_size: 'int',
  encryption: 'string',
  end_offset: 'int',
  end_time: 'time',
  end_wal: 'wal',
  end_xlog: 'lsn',
  error: 'string',
  hba_file: 'string',
  ident_file: 'string',
  included_files: 'stringList',
  mode: 'string',
  parent_backup_id: 'string',
  pgdata: 'string',
  server_name: 'string',
  size: 'int',
  snapshots_info: 'dict',
  status: 'status',
  summarize_wal: 'string',
  systemid: 'string',
  tablespaces: 'tablespaces',
  timeline: 'timeline',
  version: 'int',
  xlog_segment_size: 'segmentSize',
};

export const DEFAULT_XLOG_SEGMENT_SIZE = 16777216;

/** A backup.info that cannot be read. The message names the file and the line. */
export class BackupInfoError extends BarmanError {
  readonly file: string;
  /** 1-based line number (1 for an empty file). */
  readonly line: number;
  /** 1-based column inside the line, when known (bad Python literals). */
  readonly column: number | null;
  readonly reason: string;

  constructor(file: string, line: number, reason: string, column: number | null = null) {
    super(
      'backup-info-invalid',
      `${file}, line ${line}${column === null ? '' : `, column ${column}`}: ${reason}`,
    );
    this.name = 'BackupInfoError';
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

function isKey(key: string): key is BackupInfoKey {
  return Object.hasOwn(FIELD_KINDS, key);
}

function isLaterKey(key: BackupInfoKey): key is LaterVersionKey {
  return (LATER_VERSION_KEYS as readonly string[]).includes(key);
}

/** A new info: every field null, status EMPTY, default segment size, then `fields` on top. */
export function emptyBackupInfo(serverName: string, fields: Partial<BackupInfo> = {}): BackupInfo {
  return {
    backup_label: null,
    backup_name: null,
    begin_offset: null,
    begin_time: null,
    begin_wal: null,
    begin_xlog: null,
    children_backup_ids: null,
    cluster_size: null,
    compression: null,
    config_file: null,
    copy_stats: null,
    data_checksums: null,
    deduplicated_size: null,
    encryption: null,
    end_offset: null,
    end_time: null,
    end_wal: null,
    end_xlog: null,
    error: null,
    hba_file: null,
    ident_file: null,
    included_files: null,
    mode: null,
    parent_backup_id: null,
    pgdata: null,
    server_name: serverName,
    size: null,
    snapshots_info: null,
    status: 'EMPTY',
    summarize_wal: null,
    systemid: null,
    tablespaces: null,
    timeline: null,
    version: null,
    xlog_segment_size: DEFAULT_XLOG_SEGMENT_SIZE,
    laterKeysPresent: [],
    ...fields,
  };
}

// ------------------------------------------------------------------------------------------------
// Reader

/** A loader failure; `column` is relative to the value text (1-based). */
class ValueError extends Error {
  constructor(
    message: string,
    readonly column: number | null = null,
    readonly endOfInput = false,
  ) {
    super(message);
  }
}

/**
 * Parse the text of a backup.info. `file` is only used in error messages.
 *
 * Reader rules (as Barman's): lines are split on `\n`; whitespace-only lines and lines whose
 * text (trailing whitespace removed) starts with `#` are skipped; a line is split on its first
 * `=` and both sides stripped; `None` means null for every key; the last of repeated keys wins;
 * a missing `status` reads as EMPTY and a missing `xlog_segment_size` as 16 MiB. Stricter than
 * Barman: an unknown key, a bad value, or a text without any `key=value` line is an error.
 */
export function parseBackupInfo(text: string, file: string): BackupInfo {
  const info = emptyBackupInfo('');
  info.server_name = null;
  const laterKeys = new Set<LaterVersionKey>();
  const lineOf = new Map<BackupInfoKey, number>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let keyLines = 0;
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line.trim() === '' || line.trimEnd().startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new BackupInfoError(
        file,
        lineNo,
        `invalid line ${JSON.stringify(line.trim())} (expected key=value)`,
      );
    }
    const key = line.slice(0, eq).trim();
    const rawValue = line.slice(eq + 1);
    const value = rawValue.trim();
    const valueColumn = eq + 2 + (rawValue.length - rawValue.trimStart().length);
    if (!isKey(key)) {
      throw new BackupInfoError(
        file,
        lineNo,
        `unknown key ${JSON.stringify(key)}: the file may have been written by a newer version of Barman`,
      );
    }
    keyLines++;
    lineOf.set(key, lineNo);
    if (isLaterKey(key)) laterKeys.add(key);
    try {
      setField(info, key, value === 'None' ? null : loadValue(key, value));
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      const lastLine = index === lines.length - 1;
      const hint = lastLine && error.endOfInput ? ' (the file looks truncated)' : '';
      const column = error.column === null ? null : valueColumn + error.column - 1;
      throw new BackupInfoError(file, lineNo, `bad value for ${key}: ${error.message}${hint}`, column);
    }
  });
  if (keyLines === 0) {
    const reason =
      lines.length === 0
        ? 'empty file (no key=value line)'
        : 'no key=value line (only blank lines and comments)';
    throw new BackupInfoError(file, Math.max(1, lines.length), reason);
  }
  for (const key of ['begin_wal', 'end_wal'] as const) {
    const name = info[key];
    if (name === null) continue;
    try {
      segmentNumber(name, info.xlog_segment_size);
    } catch (error) {
      throw new BackupInfoError(file, lineOf.get(key) ?? 1, `bad value for ${key}: ${describeError(error)}`);
    }
  }
  info.laterKeysPresent = LATER_VERSION_KEYS.filter((key) => laterKeys.has(key));
  return info;
}

function setField(info: BackupInfo, key: BackupInfoKey, value: unknown): void {
  if (value === null && (key === 'status' || key === 'xlog_segment_size')) {
    throw new ValueError('None is not allowed here');
  }
  (info as unknown as Record<string, unknown>)[key] = value;
}

function loadValue(key: BackupInfoKey, value: string): unknown {
  switch (FIELD_KINDS[key]) {
    case 'string':
      return value;
    case 'int':
      return loadInt(value);
    case 'time':
      try {
        return parseTimestamp(value);
      } catch (error) {
        throw new ValueError(error instanceof Error ? error.message : String(error));
      }
    case 'status':
      if (!isBackupStatus(value)) {
        throw new ValueError(
          `unknown status ${JSON.stringify(value)} (expected one of ${BACKUP_STATUSES.join(', ')})`,
        );
      }
      return value;
    case 'label': {
      const parsed = loadLiteral(value);
      if (typeof parsed !== 'string')
        throw new ValueError(`expected a string literal, got ${typeName(parsed)}`, 1);
      return parsed;
    }
    case 'dict': {
      const parsed = loadLiteral(value);
      if (!(parsed instanceof Map))
        throw new ValueError(`expected a dict literal, got ${typeName(parsed)}`, 1);
      return parsed;
    }
    case 'stringList': {
      const parsed = loadLiteral(value);
      if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
        throw new ValueError(`expected a list of strings, got ${typeName(parsed)}`, 1);
      }
      return parsed;
    }
    case 'tablespaces':
      return loadTablespaces(value);
    case 'ids':
      return value === '' ? null : value.split(',');
    // WAL names and positions are checked here: everything computed from them later (WAL
    // ranges, recovery targets) would otherwise fail far from this file and its line.
    case 'wal':
      if (!/^[0-9A-F]{24}$/i.test(value) || /^0{8}/.test(value))
        throw new ValueError(`invalid WAL segment name ${JSON.stringify(value)}`);
      return value;
    case 'lsn':
      try {
        parseLsn(value);
      } catch (error) {
        throw new ValueError(describeError(error));
      }
      return value;
    case 'timeline': {
      const timeline = loadInt(value);
      if (timeline < 1 || timeline > 0xffffffff)
        throw new ValueError(`invalid timeline ${value} (expected 1 or more)`);
      return timeline;
    }
    case 'segmentSize': {
      const size = loadInt(value);
      try {
        segmentsPerLog(size);
      } catch (error) {
        throw new ValueError(describeError(error));
      }
      return size;
    }
  }
}

function loadInt(value: string): number {
  if (!/^[+-]?\d+(?:_\d+)*$/.test(value)) throw new ValueError(`invalid integer ${JSON.stringify(value)}`);
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(n)) throw new ValueError(`integer ${value} is out of range`);
  return n;
}

function loadLiteral(value: string): PythonValue {
  try {
    return parsePythonLiteral(value);
  } catch (error) {
    if (error instanceof PythonLiteralError) {
      const endOfInput = /end of input|unterminated/.test(error.reason);
      throw new ValueError(`invalid Python literal: ${error.reason}`, error.column, endOfInput);
    }
    throw error;
  }
}

/** `[('tbs1', 16391, '/srv/tbs1'), ...]`; an empty list reads as null, like Barman. */
function loadTablespaces(value: string): Tablespace[] | null {
  const parsed = loadLiteral(value);
  const items = parsed instanceof PythonTuple ? parsed.items : parsed;
  if (!Array.isArray(items))
    throw new ValueError(`expected a list of tablespaces, got ${typeName(parsed)}`, 1);
  if (items.length === 0) return null;
  return items.map((item: PythonValue, index: number) => {
    const fields = item instanceof PythonTuple ? item.items : item;
    if (!Array.isArray(fields) || fields.length !== 3) {
      throw new ValueError(`tablespace #${index + 1} is not a (name, oid, location) tuple`, 1);
    }
    const [name, oid, location] = fields as [PythonValue, PythonValue, PythonValue];
    if (typeof name !== 'string' || typeof oid !== 'bigint' || typeof location !== 'string') {
      throw new ValueError(`tablespace #${index + 1} must be (str, int, str)`, 1);
    }
    return { name, oid: Number(oid), location };
  });
}

function typeName(value: PythonValue): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof PythonTuple) return 'a tuple';
  if (value instanceof Map) return 'a dict';
  switch (typeof value) {
    case 'bigint':
      return 'an int';
    case 'number':
      return 'a float';
    case 'string':
      return 'a string';
    default:
      return 'a bool';
  }
}

// ------------------------------------------------------------------------------------------------
// Writer

/**
 * The text of a backup.info, as Barman writes it: keys sorted, one `key=value` line each, a
 * trailing newline. Every 3.4 key is written (`None` for null); `backup_name` and
 * `snapshots_info` only when set; the later-version keys when set or listed in
 * `laterKeysPresent`. Empty literals (``''``, `[]`, `{}`) are written as `None`, like Barman.
 * Throws TypeError for values that cannot be written (a line break in a string, a non-integer
 * where an int is expected).
 */
export function formatBackupInfo(info: BackupInfo): string {
  const present = new Set(info.laterKeysPresent ?? []);
  let out = '';
  for (const key of BACKUP_INFO_KEYS) {
    const value = info[key as keyof BackupInfo];
    if (value === null || value === undefined) {
      if ((HIDDEN_IF_NULL_KEYS as readonly string[]).includes(key)) continue;
      if (isLaterKey(key) && !present.has(key)) continue;
    }
    out += `${key}=${dumpValue(key, value)}\n`;
  }
  return out;
}

function dumpValue(key: BackupInfoKey, value: unknown): string {
  if (value === null || value === undefined) return 'None';
  switch (FIELD_KINDS[key]) {
    case 'string':
    case 'status':
    case 'wal':
    case 'lsn':
      if (typeof value !== 'string') throw new TypeError(`backup.info ${key} must be a string`);
      if (/[\r\n]/.test(value)) throw new TypeError(`backup.info ${key} must not contain a line break`);
      return value;
    case 'int':
    case 'timeline':
    case 'segmentSize':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new TypeError(
          `backup.info ${key} must be an integer, got ${typeof value === 'number' ? value : typeof value}`,
        );
      }
      return String(value);
    case 'time':
      return (value as BackupTimestamp).text;
    case 'label':
    case 'dict':
    case 'stringList':
      return isFalsy(value as PythonValue) ? 'None' : formatPythonLiteral(value as PythonValue);
    case 'tablespaces': {
      const list = value as Tablespace[];
      if (list.length === 0) return 'None';
      return formatPythonLiteral(list.map((t) => new PythonTuple([t.name, BigInt(t.oid), t.location])));
    }
    case 'ids': {
      const ids = value as string[];
      return ids.length === 0 ? 'None' : ids.join(',');
    }
  }
}

function isFalsy(value: PythonValue): boolean {
  if (value === '' || value === false || value === 0 || value === 0n) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (value instanceof PythonTuple) return value.items.length === 0;
  if (value instanceof Map) return value.size === 0;
  return false;
}

// ------------------------------------------------------------------------------------------------
// Timestamps

const TIMESTAMP_RE =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?$/;

/**
 * Parse a backup.info time. Accepted: `YYYY-MM-DD HH:MM[:SS[.f]]` with a space or `T` between date
 * and time, 1–9 fraction digits (kept to the microsecond, then truncated to the millisecond in
 * `epochMs`), followed by an optional offset: `+HH:MM`, `+HHMM`, `+HH`, `+HH:MM:SS[.ffffff]`,
 * `Z`, `UTC`, `GMT`. Barman writes `2026-11-21 04:49:07.099213+00:00`. A naive time (no
 * offset) is taken as local time of this process (TZ environment variable), as Barman does with
 * dateutil's tzlocal. Throws RangeError for anything else.
 */
export function parseTimestamp(text: string): BackupTimestamp {
  const m = TIMESTAMP_RE.exec(text.trim());
  if (m === null) throw new RangeError(`invalid timestamp ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  const millis = fraction === undefined ? 0 : Math.floor(Number(fraction.padEnd(9, '0').slice(0, 6)) / 1000);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new RangeError(`invalid date in timestamp ${JSON.stringify(text)}`);
  }
  if (hour > 23 || minute > 59 || second > 59) {
    throw new RangeError(`invalid time of day in timestamp ${JSON.stringify(text)}`);
  }
  if (zone === undefined) {
    const local = new Date(2000, month - 1, day, hour, minute, second, millis);
    local.setFullYear(year, month - 1, day);
    return { text, epochMs: local.getTime(), utcOffsetMinutes: -local.getTimezoneOffset(), naive: true };
  }
  const offset = parseOffset(zone);
  if (Math.abs(offset) >= 24 * 60)
    throw new RangeError(`invalid UTC offset in timestamp ${JSON.stringify(text)}`);
  const utc = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
  utc.setUTCFullYear(year, month - 1, day);
  return { text, epochMs: utc.getTime() - offset * 60_000, utcOffsetMinutes: offset, naive: false };
}

function parseOffset(zone: string): number {
  if (zone === 'Z' || zone === 'z' || zone === 'UTC' || zone === 'GMT') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replaceAll(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length >= 4 ? Number(digits.slice(2, 4)) : 0;
  const seconds = digits.length >= 6 ? Number(digits.slice(4)) : 0;
  if (minutes > 59 || seconds >= 60) throw new RangeError(`invalid UTC offset ${JSON.stringify(zone)}`);
  return sign * (hours * 60 + minutes + seconds / 60);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Python's `str(datetime)` of `date` seen at `utcOffsetMinutes` east of UTC:
 * `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`, the fraction omitted when zero. `extraMicros`
 * (0–999) adds the digits below the millisecond that a Date cannot hold.
 */
export function formatTimestamp(date: Date, utcOffsetMinutes: number, extraMicros = 0): string {
  const time = date.getTime();
  if (Number.isNaN(time)) throw new RangeError('invalid Date');
  if (!Number.isInteger(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) >= 24 * 60) {
    throw new RangeError(`invalid UTC offset ${utcOffsetMinutes} (whole minutes, less than a day)`);
  }
  if (!Number.isInteger(extraMicros) || extraMicros < 0 || extraMicros > 999) {
    throw new RangeError(`invalid extraMicros ${extraMicros} (0-999)`);
  }
  const wall = new Date(time + utcOffsetMinutes * 60_000);
  const year = wall.getUTCFullYear();
  if (year < 1 || year > 9999) throw new RangeError(`year ${year} cannot be written`);
  const micros = wall.getUTCMilliseconds() * 1000 + extraMicros;
  const sign = utcOffsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(utcOffsetMinutes);
  return (
    `${pad(year, 4)}-${pad(wall.getUTCMonth() + 1, 2)}-${pad(wall.getUTCDate(), 2)} ` +
    `${pad(wall.getUTCHours(), 2)}:${pad(wall.getUTCMinutes(), 2)}:${pad(wall.getUTCSeconds(), 2)}` +
    (micros === 0 ? '' : `.${pad(micros, 6)}`) +
    `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
  );
}

/** A BackupTimestamp for a new value (e.g. PostgreSQL's now() at backup start). */
export function timestampFromDate(date: Date, utcOffsetMinutes: number, extraMicros = 0): BackupTimestamp {
  return parseTimestamp(formatTimestamp(date, utcOffsetMinutes, extraMicros));
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
