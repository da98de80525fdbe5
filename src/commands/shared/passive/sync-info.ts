/**
 * The primary's side of geographical redundancy: `barman sync-info SERVER [LAST_WAL
 * [LAST_POSITION]]` describes the catalogue for a passive node, in Barman's JSON: the DONE backups
 * (backup.info as Barman 3.4's BackupInfo.to_json, times as ctime()), the server's configuration,
 * the archived WAL files after LAST_WAL, and where the xlog.db reading stopped (`last_name`, and
 * `last_position`: the byte offset of its last line) so the next request reads only what follows.
 * The WAL entries have the four keys Barman 3.4 accepts (name, size, time, compression), plus
 * `encryption` (Barman 3.14+'s fifth xlog.db column) on the entries of encrypted WAL files only.
 */
import type { ServerEntry } from '../../../config/index.js';
import { loadBackups, statusOf } from '../../../catalog/backups.js';
import { serverLayout } from '../../../catalog/layout.js';
import { BarmanError } from '../../../errors/index.js';
import { XlogDbFile } from '../../../wal/xlogdb-file.js';
import { backupInfoJson } from '../backup-info-json.js';
import { serverConfigJson } from '../config-display.js';
import type { PrimaryWal } from './state.js';

const WAL_NAME_LENGTH = 24;

export async function syncStatus(
  server: ServerEntry,
  lastWal: string | null,
  lastPosition: number | null,
  version: string,
): Promise<Record<string, unknown>> {
  const config = server.config;
  if (config.basebackups_directory.kind !== 'posix' || config.wals_directory.kind !== 'posix')
    throw new BarmanError('sync-not-posix', `sync-info needs a local catalogue (server ${config.name})`);
  const layout = await serverLayout(config);
  const done = (await loadBackups(layout)).filter((backup) => backup.info && statusOf(backup) === 'DONE');
  const backups: Record<string, Record<string, unknown>> = {};
  for (const backup of done) backups[backup.id] = backupInfoJson(backup.id, backup.info!, 'ctime');
  // The first DONE backup's begin_wal: older WAL cannot serve any backup a passive node can copy.
  const firstUseful = done[0]?.info?.begin_wal ?? null;
  const xlog = await readXlogBytes(layout.xlogDbFile);
  const { wals, lastName, lastLineStart } = readFrom(xlog, lastWal, lastPosition, firstUseful);
  return {
    last_position: lastLineStart,
    last_name: lastName,
    backups,
    wals,
    version,
    config: serverConfigJson(server),
  };
}

async function readXlogBytes(file: string): Promise<Buffer> {
  const xlogdb = XlogDbFile.at(file);
  try {
    return await xlogdb.storage.readFile(xlogdb.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
}

/**
 * Barman's reading rules: start at LAST_POSITION when the line there names LAST_WAL, else from
 * the start; a LAST_WAL older than the first line (when reading from the start) or newer than
 * the last one is an error (exit 1, which makes the passive node ask for everything).
 */
export function readFrom(
  xlog: Buffer,
  lastWal: string | null,
  lastPosition: number | null,
  firstUseful: string | null,
): { wals: PrimaryWal[]; lastName: string; lastLineStart: number } {
  let start = lastPosition ?? 0;
  if (
    lastWal === null ||
    start + WAL_NAME_LENGTH > xlog.length ||
    xlog.subarray(start, start + WAL_NAME_LENGTH).toString('latin1') !== lastWal
  )
    start = 0;
  let checkFirst = start === 0 && lastWal !== null;
  const wals: PrimaryWal[] = [];
  let lastName = '';
  let lastLineStart = 0;
  let offset = start;
  while (offset < xlog.length) {
    let end = xlog.indexOf(0x0a, offset);
    if (end < 0) end = xlog.length;
    const line = xlog.subarray(offset, end).toString('utf8');
    const lineStart = offset;
    offset = end + 1;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || !fields[0]) continue;
    const name = fields[0];
    lastName = name;
    lastLineStart = lineStart;
    if (checkFirst) {
      if (lastWal! < name)
        throw new BarmanError(
          'sync-info-gap',
          `last_wal '${lastWal}' is older than the first available wal '${name}'`,
        );
      checkFirst = false;
    }
    if (lastWal !== null ? name <= lastWal : firstUseful !== null && name < firstUseful) continue;
    const compression = fields[3] && fields[3] !== 'None' ? fields[3] : null;
    const encryption = fields[4] && fields[4] !== 'None' ? fields[4] : null;
    wals.push({
      name,
      size: Number(fields[1]),
      time: Number(fields[2]),
      compression,
      ...(encryption ? { encryption } : {}),
    });
  }
  if (lastName && lastWal !== null && lastWal > lastName)
    throw new BarmanError(
      'sync-info-ahead',
      `last_wal '${lastWal}' is newer than the last available wal '${lastName}'`,
    );
  return { wals, lastName, lastLineStart };
}
