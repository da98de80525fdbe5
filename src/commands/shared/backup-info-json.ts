/**
 * backup.info as Barman 3.4's JSON documents show it (BackupInfo.to_dict: the file's keys plus
 * backup_id, tablespaces as `[name, oid, location]` lists, copy_stats and included_files as data,
 * backup_label as its Python literal), for `diagnose` (times in ISO 8601 at the local offset) and
 * `backup -f json` (times as ctime(), Barman's encoder there); and the last WAL segment archived
 * on each timeline, for diagnose.
 */
import type { BackupInfo, BackupTimestamp } from '../../catalog/backup-info.js';
import { BACKUP_INFO_KEYS, formatTimestamp, LATER_VERSION_KEYS } from '../../catalog/backup-info.js';
import type { PythonValue } from '../../catalog/python-literal.js';
import { formatPythonLiteral, PythonTuple } from '../../catalog/python-literal.js';
import { hashDir, isSegmentName } from '../../wal/names.js';
import { ctimeOfWallTime } from '../../output/time.js';
import type { ServerCatalog } from './backup-catalog.js';

/** Keys Barman leaves out of the document while they are None. */
const HIDDEN_WHEN_NULL = new Set(['backup_name', 'snapshots_info']);
const LATER_KEYS = new Set<string>(LATER_VERSION_KEYS);

export function backupsJson(catalog: ServerCatalog): Record<string, Record<string, unknown>> {
  const backups: Record<string, Record<string, unknown>> = {};
  for (const backup of catalog.backups) {
    if (backup.info) backups[backup.id] = backupInfoJson(backup.id, backup.info, 'iso');
  }
  return backups;
}

/** How a document writes begin_time and end_time: diagnose's ISO 8601 or backup's ctime(). */
export type BackupTimeStyle = 'iso' | 'ctime';

export function backupInfoJson(
  id: string,
  info: BackupInfo,
  times: BackupTimeStyle,
): Record<string, unknown> {
  // Keys of later Barman versions appear only when the file has them.
  const present = new Set<string>(info.laterKeysPresent ?? []);
  const json: Record<string, unknown> = { backup_id: id };
  for (const key of BACKUP_INFO_KEYS) {
    const value = info[key as keyof BackupInfo];
    const absent = value === null || value === undefined;
    if (absent && (HIDDEN_WHEN_NULL.has(key) || (LATER_KEYS.has(key) && !present.has(key)))) continue;
    json[key] = jsonValue(key, value, times);
  }
  return json;
}

function jsonValue(key: string, value: unknown, times: BackupTimeStyle): unknown {
  if (value === null || value === undefined) return null;
  switch (key) {
    case 'backup_label':
      // Barman keeps the label as the Python literal the file holds.
      return formatPythonLiteral(value as string);
    case 'begin_time':
    case 'end_time':
      return times === 'iso'
        ? isoLocal(value as BackupTimestamp)
        : ctimeOfWallTime((value as BackupTimestamp).epochMs, (value as BackupTimestamp).utcOffsetMinutes);
    case 'tablespaces':
      return (value as Array<{ name: string; oid: number; location: string }>).map((t) => [
        t.name,
        t.oid,
        t.location,
      ]);
    case 'copy_stats':
    case 'snapshots_info':
      return plain(value as PythonValue);
    default:
      return value;
  }
}

/** A backup time in ISO 8601 at this host's offset, microseconds kept (Barman's astimezone(tzlocal)). */
function isoLocal(time: BackupTimestamp): string {
  const micros = /\.(\d{1,6})/.exec(time.text)?.[1]?.padEnd(6, '0') ?? '000000';
  const date = new Date(time.epochMs);
  return formatTimestamp(date, -date.getTimezoneOffset(), Number(micros) % 1000).replace(' ', 'T');
}

/** A parsed Python literal as plain JSON data. */
function plain(value: PythonValue): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof PythonTuple) return value.items.map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) {
    return Object.fromEntries([...value.entries()].map(([key, inner]) => [String(plain(key)), plain(inner)]));
  }
  return value;
}

/** `{"<timeline>": {compression, name, size, time}}`: the newest archived segment per timeline. */
export function lastWalPerTimeline(catalog: ServerCatalog): Record<string, Record<string, unknown>> {
  const last: Record<string, Record<string, unknown>> = {};
  const segments = catalog.xlog.filter((entry) => isSegmentName(entry.name));
  segments.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of segments) {
    last[hashDir(entry.name).slice(0, 8)] = {
      compression: entry.compression,
      name: entry.name,
      size: entry.size,
      time: entry.mtime,
    };
  }
  return last;
}
