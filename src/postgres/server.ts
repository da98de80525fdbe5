/**
 * What barman-ts asks PostgreSQL, by meaning: versions pick the right function names
 * (pg_backup_start on 15+, pg_start_backup before; pg_switch_xlog on 9.6).
 */
import { lsnSegmentOffset, lsnToSegmentName, parseLsn } from '../wal/names.js';
import type { PostgresClient } from './client.js';
import { PostgresError } from './client.js';

export interface WalPosition {
  lsn: string;
  fileName: string | null;
  offset: number | null;
  time: ServerTime;
  timeline: number | null;
}

/** A PostgreSQL `now()`: microseconds since the epoch and the session's UTC offset. */
export interface ServerTime {
  epochMicros: bigint;
  utcOffsetMinutes: number;
}

const NOW_COLUMNS =
  '(extract(epoch from now()) * 1000000)::bigint::text AS now_us, (extract(timezone from now()) / 60)::int AS now_tz';

function serverTime(row: { now_us: string; now_tz: number }): ServerTime {
  return { epochMicros: BigInt(row.now_us), utcOffsetMinutes: row.now_tz };
}

export interface TablespaceInfo {
  name: string;
  oid: number;
  location: string;
}

const v15 = (client: PostgresClient) => client.serverVersion >= 150000;
const v10 = (client: PostgresClient) => client.serverVersion >= 100000;

export async function setting(client: PostgresClient, name: string): Promise<string | null> {
  const rows = await client.query<{ setting: string | null }>(
    'SELECT setting FROM pg_settings WHERE name = $1',
    [name],
  );
  return rows[0]?.setting ?? null;
}

/** SHOW values (units applied), as Barman reads wal_level, archive_mode and friends. */
export async function show(client: PostgresClient, name: string): Promise<string | null> {
  try {
    const rows = await client.query<Record<string, string>>(`SHOW "${name.replace(/"/g, '')}"`);
    return rows[0] ? (Object.values(rows[0])[0] ?? null) : null;
  } catch {
    return null;
  }
}

export async function isInRecovery(client: PostgresClient): Promise<boolean> {
  const [row] = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  return row!.r;
}

export async function systemIdentifier(client: PostgresClient): Promise<string> {
  const [row] = await client.query<{ id: string }>(
    'SELECT system_identifier::text AS id FROM pg_control_system()',
  );
  return row!.id;
}

export async function walSegmentSize(client: PostgresClient): Promise<number> {
  const size = Number(await setting(client, 'wal_segment_size'));
  // Before PostgreSQL 11 the setting counts WAL blocks.
  return client.serverVersion < 110000 ? size * Number(await setting(client, 'wal_block_size')) : size;
}

export async function isSuperuser(client: PostgresClient): Promise<boolean> {
  const [row] = await client.query<{ s: boolean }>(
    'SELECT usesuper AS s FROM pg_user WHERE usename = CURRENT_USER',
  );
  return row?.s ?? false;
}

/** Superuser, or the roles and EXECUTE rights a non-superuser backup role needs. */
export async function hasBackupPrivileges(client: PostgresClient): Promise<boolean> {
  if (await isSuperuser(client)) return true;
  const start = v15(client) ? 'pg_backup_start(text,bool)' : 'pg_start_backup(text,bool,bool)';
  const stop = v15(client) ? 'pg_backup_stop(bool)' : 'pg_stop_backup(bool,bool)';
  const [row] = await client.query<{ ok: boolean }>(
    `SELECT (pg_has_role(CURRENT_USER, 'pg_monitor', 'MEMBER')
             OR (pg_has_role(CURRENT_USER, 'pg_read_all_settings', 'MEMBER')
                 AND pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'MEMBER')))
        AND has_function_privilege(CURRENT_USER, '${start}', 'EXECUTE')
        AND has_function_privilege(CURRENT_USER, '${stop}', 'EXECUTE')
        AND has_function_privilege(CURRENT_USER, 'pg_switch_wal()', 'EXECUTE')
        AND has_function_privilege(CURRENT_USER, 'pg_create_restore_point(text)', 'EXECUTE') AS ok`,
  );
  return row!.ok;
}

export async function tablespaces(client: PostgresClient): Promise<TablespaceInfo[]> {
  const rows = await client.query<{ name: string; oid: number; location: string }>(
    "SELECT spcname AS name, oid::int AS oid, pg_tablespace_location(oid) AS location FROM pg_tablespace WHERE pg_tablespace_location(oid) <> '' ORDER BY spcname",
  );
  return rows;
}

export interface ConfigFiles {
  config_file: string | null;
  hba_file: string | null;
  ident_file: string | null;
  included_files: string[];
}

export async function configFiles(client: PostgresClient): Promise<ConfigFiles> {
  const rows = await client.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('config_file', 'hba_file', 'ident_file')",
  );
  const byName = Object.fromEntries(rows.map((row) => [row.name, row.setting]));
  const included = await client
    .query<{ f: string }>(
      'SELECT DISTINCT sourcefile AS f FROM pg_settings WHERE sourcefile IS NOT NULL ORDER BY 1',
    )
    .catch(() => [] as Array<{ f: string }>);
  return {
    config_file: byName.config_file ?? null,
    hba_file: byName.hba_file ?? null,
    ident_file: byName.ident_file ?? null,
    included_files: included.map((row) => row.f).filter((file) => file !== byName.config_file),
  };
}

export async function clusterSize(client: PostgresClient): Promise<number> {
  const [row] = await client.query<{ size: string }>(
    'SELECT sum(pg_tablespace_size(oid))::text AS size FROM pg_tablespace',
  );
  return Number(row!.size);
}

/**
 * Current WAL position, its file and offset. Like Barman 3.15+, a position at a segment boundary
 * names the previous segment on every version (PostgreSQL 17 changed pg_walfile_name there).
 */
export async function currentWal(client: PostgresClient): Promise<WalPosition> {
  const recovery = await isInRecovery(client);
  if (recovery) {
    const [row] = await client.query<{ lsn: string; now_us: string; now_tz: number }>(
      `SELECT pg_last_wal_replay_lsn()::text AS lsn, ${NOW_COLUMNS}`,
    );
    return { lsn: row!.lsn, fileName: null, offset: null, time: serverTime(row!), timeline: null };
  }
  const fn = v10(client) ? 'pg_current_wal_lsn()' : 'pg_current_xlog_location()';
  const [row] = await client.query<{ lsn: string; now_us: string; now_tz: number; tli: number }>(
    `SELECT ${fn}::text AS lsn, ${NOW_COLUMNS}, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli`,
  );
  const { fileName, offset } = await walFileOf(client, row!.lsn);
  return { lsn: row!.lsn, fileName, offset, time: serverTime(row!), timeline: row!.tli };
}

/** pg_walfile_name_offset with the boundary rule applied (offset 0 -> previous segment). */
export async function walFileOf(
  client: PostgresClient,
  lsn: string,
): Promise<{ fileName: string; offset: number }> {
  const fn = v10(client) ? 'pg_walfile_name_offset' : 'pg_xlogfile_name_offset';
  const [row] = await client.query<{ file_name: string; file_offset: number }>(
    `SELECT file_name, file_offset FROM ${fn}($1::pg_lsn)`,
    [lsn],
  );
  if (client.serverVersion >= 170000 && row!.file_offset === 0) {
    const [previous] = await client.query<{ file_name: string }>(
      `SELECT file_name FROM ${fn}($1::pg_lsn - 1)`,
      [lsn],
    );
    return { fileName: previous!.file_name, offset: 0 };
  }
  return { fileName: row!.file_name, offset: row!.file_offset };
}

/**
 * The WAL file and offset of `lsn` on `timeline`, computed locally (pg_walfile_name_offset()
 * cannot run on a standby), with the same boundary rule: a position at the very start of a
 * segment names the previous segment (everything before it is in that one).
 */
export function walFileAt(
  lsn: string,
  timeline: number,
  segmentSize: number,
): { fileName: string; offset: number } {
  const position = parseLsn(lsn);
  const offset = lsnSegmentOffset(position, segmentSize);
  const segmentOf = offset === 0 && position > 0n ? position - 1n : position;
  return { fileName: lsnToSegmentName(segmentOf, timeline, segmentSize), offset };
}

/**
 * The timeline a standby is on: its minimum recovery point's (pg_control_recovery()), or the
 * last restart point's when that is not set; a primary's current timeline.
 */
export async function currentTimeline(client: PostgresClient): Promise<number> {
  const [row] = await client.query<{ recovery: number | null; checkpoint: number }>(
    'SELECT (SELECT min_recovery_end_timeline FROM pg_control_recovery()) AS recovery, ' +
      '(SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint',
  );
  const recovery = (await isInRecovery(client)) ? row!.recovery : null;
  return recovery && recovery > 0 ? recovery : row!.checkpoint;
}

/**
 * Like currentWal, but always with a file name, offset and timeline: on a standby the replay
 * position, named locally on the standby's timeline (what a backup of a standby ends with).
 */
export async function walPosition(
  client: PostgresClient,
): Promise<WalPosition & { fileName: string; offset: number; timeline: number }> {
  const position = await currentWal(client);
  if (position.fileName !== null && position.offset !== null && position.timeline !== null) {
    return { ...position, fileName: position.fileName, offset: position.offset, timeline: position.timeline };
  }
  const timeline = await currentTimeline(client);
  const file = walFileAt(position.lsn, timeline, await walSegmentSize(client));
  return { ...position, ...file, timeline };
}

export interface BackupStart {
  lsn: string;
  timeline: number;
  time: ServerTime;
  fileName: string;
  offset: number;
}

/** Starts a concurrent (non-exclusive) backup; the session must stay open until stopBackup. */
export async function startBackup(
  client: PostgresClient,
  label: string,
  fast: boolean,
): Promise<BackupStart> {
  if (client.serverVersion >= 140000) await client.query('SET idle_session_timeout TO 0');
  const call = v15(client) ? 'pg_backup_start($1, $2)' : 'pg_start_backup($1, $2, false)';
  const [row] = await client.query<{ lsn: string; timeline: number; now_us: string; now_tz: number }>(
    `SELECT location::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline, ${NOW_COLUMNS} FROM ${call} AS location`,
    [label, fast],
  );
  const file = (await isInRecovery(client))
    ? walFileAt(row!.lsn, row!.timeline, await walSegmentSize(client))
    : await walFileOf(client, row!.lsn);
  return {
    lsn: row!.lsn,
    timeline: row!.timeline,
    time: serverTime(row!),
    fileName: file.fileName,
    offset: file.offset,
  };
}

export interface BackupStop {
  lsn: string;
  timeline: number;
  /** The WAL file holding the backup's end (boundary rule of walFileOf) and the offset in it. */
  fileName: string;
  offset: number;
  time: ServerTime;
  backupLabel: string;
  tablespaceMap: string | null;
}

/**
 * Ends the concurrent backup started in this session. With `waitForArchive` PostgreSQL waits
 * (polling once a second) until the WAL the backup needs is archived (on a standby only with
 * archive_mode = always); without it, it returns at once and barman-ts waits for that WAL in its
 * own archive (the backup stays WAITING_FOR_WALS). On a standby the end is the minimum recovery
 * point, on the timeline of pg_control_recovery().
 */
export async function stopBackup(client: PostgresClient, waitForArchive = true): Promise<BackupStop> {
  const wait = waitForArchive ? 'true' : 'false';
  const call = v15(client) ? `pg_backup_stop(${wait})` : `pg_stop_backup(false, ${wait})`;
  const [row] = await client.query<{
    lsn: string;
    labelfile: string;
    spcmapfile: string | null;
    now_us: string;
    now_tz: number;
  }>(`SELECT r.lsn::text AS lsn, r.labelfile, r.spcmapfile, ${NOW_COLUMNS} FROM ${call} AS r`);
  const recovery = await isInRecovery(client);
  const timeline = await currentTimeline(client);
  const file = recovery
    ? walFileAt(row!.lsn, timeline, await walSegmentSize(client))
    : await walFileOf(client, row!.lsn);
  return {
    lsn: row!.lsn,
    timeline,
    fileName: file.fileName,
    offset: file.offset,
    time: serverTime(row!),
    backupLabel: row!.labelfile,
    tablespaceMap: row!.spcmapfile && row!.spcmapfile.length > 0 ? row!.spcmapfile : null,
  };
}

/**
 * Starts an exclusive backup (backup_options = exclusive_backup; PostgreSQL 9.6 to 14 only, on a
 * primary): PostgreSQL writes backup_label (and tablespace_map) into PGDATA, where the copy
 * picks them up, and the backup outlives this session until stopExclusiveBackup.
 */
export async function startExclusiveBackup(
  client: PostgresClient,
  label: string,
  fast: boolean,
): Promise<BackupStart> {
  const [row] = await client.query<{ lsn: string; timeline: number; now_us: string; now_tz: number }>(
    `SELECT location::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline, ${NOW_COLUMNS} FROM pg_start_backup($1, $2, true) AS location`,
    [label, fast],
  );
  const file = await walFileOf(client, row!.lsn);
  return {
    lsn: row!.lsn,
    timeline: row!.timeline,
    time: serverTime(row!),
    fileName: file.fileName,
    offset: file.offset,
  };
}

/**
 * Ends the exclusive backup in progress (from any session); PostgreSQL removes backup_label
 * from PGDATA. From 10 on without waiting for the WAL to be archived (barman-ts waits in its
 * own archive, as for concurrent backups); 9.6's pg_stop_backup() always waits.
 */
export async function stopExclusiveBackup(
  client: PostgresClient,
): Promise<Omit<BackupStop, 'backupLabel' | 'tablespaceMap'>> {
  const [row] = await client.query<{ lsn: string; now_us: string; now_tz: number }>(
    v10(client)
      ? `SELECT r.lsn::text AS lsn, ${NOW_COLUMNS} FROM pg_stop_backup(true, false) AS r`
      : `SELECT r::text AS lsn, ${NOW_COLUMNS} FROM pg_stop_backup() AS r`,
  );
  const file = await walFileOf(client, row!.lsn);
  return {
    lsn: row!.lsn,
    timeline: await currentTimeline(client),
    fileName: file.fileName,
    offset: file.offset,
    time: serverTime(row!),
  };
}

/** An exclusive backup is in progress (pg_is_in_backup(), PostgreSQL before 15). */
export async function exclusiveBackupInProgress(client: PostgresClient): Promise<boolean> {
  if (v15(client)) return false;
  const [row] = await client.query<{ running: boolean }>('SELECT pg_is_in_backup() AS running');
  return row!.running;
}

/**
 * The phases of the base backups running on this server (pg_stat_progress_basebackup), or null
 * before PostgreSQL 13, which cannot tell.
 */
export async function baseBackupPhases(client: PostgresClient): Promise<string[] | null> {
  if (client.serverVersion < 130000) return null;
  const rows = await client.query<{ phase: string }>('SELECT phase FROM pg_stat_progress_basebackup');
  return rows.map((row) => row.phase);
}

/** pg_switch_wal(); returns the WAL file closed by the switch, or null when nothing was written. */
export async function switchWal(
  client: PostgresClient,
): Promise<{ before: string; after: string; closed: string | null }> {
  const insert = v10(client) ? 'pg_current_wal_insert_lsn()' : 'pg_current_xlog_insert_location()';
  const name = v10(client) ? 'pg_walfile_name' : 'pg_xlogfile_name';
  const switchFn = v10(client) ? 'pg_switch_wal()' : 'pg_switch_xlog()';
  const [before] = await client.query<{ f: string }>(`SELECT ${name}(${insert}) AS f`);
  const [closed] = await client.query<{ f: string }>(`SELECT ${name}(${switchFn}) AS f`);
  const [after] = await client.query<{ f: string }>(`SELECT ${name}(${insert}) AS f`);
  const switched = after!.f !== before!.f;
  return { before: before!.f, after: after!.f, closed: switched ? closed!.f : null };
}

export async function checkpoint(client: PostgresClient): Promise<void> {
  await client.query('CHECKPOINT');
}

export async function createRestorePoint(client: PostgresClient, name: string): Promise<string> {
  const [row] = await client.query<{ lsn: string }>('SELECT pg_create_restore_point($1)::text AS lsn', [
    name,
  ]);
  return row!.lsn;
}

export interface ArchiverStats {
  archived_count: number;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: number;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
  stats_reset: Date | null;
}

export async function archiverStats(client: PostgresClient): Promise<ArchiverStats> {
  const [row] = await client.query<ArchiverStats>(
    'SELECT archived_count::int, last_archived_wal, last_archived_time, failed_count::int, last_failed_wal, last_failed_time, stats_reset FROM pg_stat_archiver',
  );
  return row!;
}

export interface ReplicationSlot {
  slot_name: string;
  active: boolean;
  restart_lsn: string | null;
}

export async function replicationSlot(client: PostgresClient, name: string): Promise<ReplicationSlot | null> {
  const [row] = await client.query<ReplicationSlot>(
    "SELECT slot_name, active, restart_lsn::text FROM pg_replication_slots WHERE slot_type = 'physical' AND slot_name = $1",
    [name],
  );
  return row ?? null;
}

export async function createPhysicalSlot(client: PostgresClient, name: string): Promise<void> {
  try {
    await client.query('SELECT pg_create_physical_replication_slot($1)', [name]);
  } catch (error) {
    if (/already exists/.test((error as Error).message)) {
      throw new PostgresError(`Replication slot '${name}' already exists`, error);
    }
    throw error;
  }
}

export async function dropPhysicalSlot(client: PostgresClient, name: string): Promise<void> {
  try {
    await client.query('SELECT pg_drop_replication_slot($1)', [name]);
  } catch (error) {
    const message = (error as Error).message;
    if (/does not exist/.test(message))
      throw new PostgresError(`Replication slot '${name}' does not exist`, error);
    if (/is active/.test(message)) throw new PostgresError(`Replication slot '${name}' is in use`, error);
    throw error;
  }
}
