/**
 * The backups of a chain, read and checked before anything is written: each one's backup_label
 * (where it starts, and for an incremental the backup it is based on), backup_manifest (system
 * identifier, WAL ranges) and pg_control (system identifier). A chain is full backup first, then
 * incrementals, each based exactly on the one before it, all of one system.
 */
import { parseBackupManifest, type ManifestEntry } from '../../catalog/backup-manifest.js';
import { BarmanError } from '../../errors/index.js';
import type { Storage } from '../../storage/index.js';
import { formatLsn, parseLsn } from '../../wal/names.js';

/** One backup of the chain, as a plain data directory read through Storage. */
export interface ChainBackup {
  /** For messages: the backup id, or its directory. */
  name: string;
  storage: Storage;
  /** The data directory within `storage` ('' = its root). */
  dataDirectory: string;
  /** Tablespace OID → its directory within `storage` (a plain backup's `-T` targets). */
  tablespaces: ReadonlyMap<number, string>;
}

export interface WalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

export interface LoadedBackup extends ChainBackup {
  label: string;
  startLsn: bigint;
  startTimeline: number;
  /** Set on an incremental backup: the start of the backup it is based on. */
  incrementalFrom: { lsn: bigint; timeline: number } | null;
  systemIdentifier: string;
  walRanges: WalRange[];
  /** Its backup_manifest's files: a file copied whole keeps the checksum listed there. */
  manifest: Map<string, ManifestEntry>;
}

export function joinPath(...parts: string[]): string {
  return parts.filter((part) => part !== '').join('/');
}

export function chainError(message: string, hint?: string): BarmanError {
  return new BarmanError('combine-chain', message, {
    hint: hint ?? 'recover a complete chain: its full backup and every incremental up to the one chosen',
  });
}

/** An LSN of a backup_label, null when it is not one. */
function lsnOf(text: string): bigint | null {
  try {
    return parseLsn(text.trim());
  } catch {
    return null;
  }
}

async function readText(backup: ChainBackup, file: string): Promise<string> {
  const path = joinPath(backup.dataDirectory, file);
  if ((await backup.storage.stat(path)) === null)
    throw chainError(`backup ${backup.name} has no ${file} (${backup.storage.location}/${path})`);
  return (await backup.storage.readFile(path)).toString('utf8');
}

function labelField(label: string, key: string): string | null {
  const line = label.split('\n').find((entry) => entry.startsWith(`${key}: `));
  return line === undefined ? null : line.slice(key.length + 2).trim();
}

async function load(backup: ChainBackup): Promise<LoadedBackup> {
  const label = await readText(backup, 'backup_label');
  const bad = (what: string) => chainError(`backup ${backup.name}: its backup_label ${what}`);
  const start = lsnOf((labelField(label, 'START WAL LOCATION') ?? '').split(' ')[0] ?? '');
  const startTimeline = Number(labelField(label, 'START TIMELINE'));
  if (start === null || !Number.isInteger(startTimeline) || startTimeline < 1)
    throw bad('has no valid START WAL LOCATION and START TIMELINE');
  const fromLsnText = labelField(label, 'INCREMENTAL FROM LSN');
  const fromTliText = labelField(label, 'INCREMENTAL FROM TLI');
  let incrementalFrom: LoadedBackup['incrementalFrom'] = null;
  if (fromLsnText !== null || fromTliText !== null) {
    const lsn = lsnOf(fromLsnText ?? '');
    const timeline = Number(fromTliText);
    if (lsn === null || !Number.isInteger(timeline) || timeline < 1)
      throw bad('has an invalid INCREMENTAL FROM LSN / TLI');
    incrementalFrom = { lsn, timeline };
  }

  const manifestText = await readText(backup, 'backup_manifest');
  let manifest: { 'WAL-Ranges'?: Array<Record<string, unknown>> };
  try {
    manifest = JSON.parse(manifestText) as typeof manifest;
  } catch (error) {
    throw chainError(`backup ${backup.name}: its backup_manifest is not JSON (${(error as Error).message})`);
  }
  // Read as text: a system identifier does not fit in a JavaScript number.
  const systemIdentifier = /"System-Identifier":\s*(\d+)/.exec(manifestText)?.[1];
  if (systemIdentifier === undefined)
    throw chainError(
      `backup ${backup.name}: its backup_manifest has no System-Identifier (not a PostgreSQL 17 backup)`,
    );
  const walRanges = (manifest['WAL-Ranges'] ?? []).map((range) => ({
    timeline: Number(range.Timeline),
    startLsn: String(range['Start-LSN']),
    endLsn: String(range['End-LSN']),
  }));
  if (walRanges.length === 0)
    throw chainError(`backup ${backup.name}: its backup_manifest has no WAL-Ranges`);

  const controlPath = joinPath(backup.dataDirectory, 'global/pg_control');
  const control = await backup.storage.readHead(controlPath, 8).catch(() => Buffer.alloc(0));
  if (control.length < 8) throw chainError(`backup ${backup.name} has no readable global/pg_control`);
  const controlIdentifier = control.readBigUInt64LE(0).toString();
  if (controlIdentifier !== systemIdentifier)
    throw chainError(
      `backup ${backup.name}: global/pg_control says system ${controlIdentifier}, its backup_manifest ${systemIdentifier}`,
    );
  const manifestFiles = parseBackupManifest(manifestText, `backup ${backup.name}'s backup_manifest`);
  return {
    ...backup,
    label,
    startLsn: start,
    startTimeline,
    incrementalFrom,
    systemIdentifier,
    walRanges,
    manifest: manifestFiles,
  };
}

/** Loads every backup (oldest first) and refuses a chain that does not hold together. */
export async function loadChain(backups: readonly ChainBackup[]): Promise<LoadedBackup[]> {
  if (backups.length === 0) throw chainError('no backup to combine');
  const loaded: LoadedBackup[] = [];
  for (const backup of backups) loaded.push(await load(backup));
  loaded.forEach((backup, index) => {
    if (index === 0) {
      if (backup.incrementalFrom !== null)
        throw chainError(`backup ${backup.name} is incremental, but a chain starts with a full backup`);
      return;
    }
    const parent = loaded[index - 1]!;
    if (backup.incrementalFrom === null)
      throw chainError(`backup ${backup.name} is a full backup, but follows ${parent.name} in the chain`);
    if (backup.systemIdentifier !== parent.systemIdentifier)
      throw chainError(
        `backup ${backup.name} belongs to system ${backup.systemIdentifier}, its parent ${parent.name} to ${parent.systemIdentifier}`,
      );
    const from = backup.incrementalFrom;
    if (from.lsn !== parent.startLsn || from.timeline !== parent.startTimeline)
      throw chainError(
        `backup ${backup.name} is based on the backup that started at ${formatLsn(from.lsn)} on timeline ` +
          `${from.timeline}, but its parent ${parent.name} started at ${formatLsn(parent.startLsn)} on ` +
          `timeline ${parent.startTimeline}: a backup of the chain is missing or out of order`,
      );
  });
  return loaded;
}

/** backup_label of the result: the newest one without its INCREMENTAL FROM lines (it is a full backup now). */
export function combinedLabel(newest: LoadedBackup): string {
  return newest.label
    .split('\n')
    .filter(
      (line) => !line.startsWith('INCREMENTAL FROM LSN: ') && !line.startsWith('INCREMENTAL FROM TLI: '),
    )
    .join('\n');
}
