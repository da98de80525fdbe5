/**
 * What `check`, `status`, `switch-wal` and `replication-status` ask PostgreSQL: archiver
 * statistics with Barman's "is archiving" rule, the replication connection's IDENTIFY_SYSTEM,
 * the WAL senders of pg_stat_replication, and the checkpoint right.
 */
import pg from 'pg';
import type { ConnectOptions, PostgresClient } from './client.js';
import { clientConfig, describe, PostgresError } from './client.js';
import { parseConnInfo } from './conninfo.js';

/** A timestamptz as PostgreSQL's session sees it: instant and UTC offset (for ctime-style output). */
export interface SessionTime {
  epochMs: number;
  utcOffsetMinutes: number;
}

export interface ArchiverStatus {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: SessionTime | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedTime: SessionTime | null;
  /**
   * archive_mode is on/always and the last failure (if any) is older than the last success or is a
   * history file of an older timeline (Barman's rule). False when PostgreSQL never archived but failed.
   */
  isArchiving: boolean;
  /** archived_count over the time since stats_reset; null when unknown. */
  archivedPerSecond: number | null;
}

const epochAndOffset = (column: string, alias: string) =>
  `(extract(epoch from ${column}) * 1000)::float8 AS ${alias}_ms, (extract(timezone from ${column}) / 60)::int AS ${alias}_tz`;

function sessionTime(ms: number | null, tz: number | null): SessionTime | null {
  return ms === null ? null : { epochMs: ms, utcOffsetMinutes: tz ?? 0 };
}

export async function archiverStatus(client: PostgresClient): Promise<ArchiverStatus> {
  const [row] = await client.query<{
    archived_count: string;
    last_archived_wal: string | null;
    archived_ms: number | null;
    archived_tz: number | null;
    failed_count: string;
    last_failed_wal: string | null;
    failed_ms: number | null;
    failed_tz: number | null;
    is_archiving: boolean;
    per_second: number | null;
  }>(
    `SELECT archived_count::text, last_archived_wal, ${epochAndOffset('last_archived_time', 'archived')},
            failed_count::text, last_failed_wal, ${epochAndOffset('last_failed_time', 'failed')},
            COALESCE(current_setting('archive_mode') IN ('on', 'always')
              AND (last_failed_wal IS NULL
                   OR last_failed_wal LIKE '%.history'
                      AND substring(last_failed_wal from 1 for 8) <= substring(last_archived_wal from 1 for 8)
                   OR last_failed_time <= last_archived_time), false) AS is_archiving,
            (archived_count::numeric / NULLIF(extract(epoch from age(now(), stats_reset)), 0))::float8 AS per_second
       FROM pg_stat_archiver`,
  );
  return {
    archivedCount: Number(row!.archived_count),
    lastArchivedWal: row!.last_archived_wal,
    lastArchivedTime: sessionTime(row!.archived_ms, row!.archived_tz),
    failedCount: Number(row!.failed_count),
    lastFailedWal: row!.last_failed_wal,
    lastFailedTime: sessionTime(row!.failed_ms, row!.failed_tz),
    isArchiving: row!.is_archiving,
    archivedPerSecond: row!.per_second,
  };
}

/** CHECKPOINT is allowed: superuser, or (PostgreSQL 15+) a member of pg_checkpoint. */
export async function canCheckpoint(client: PostgresClient): Promise<boolean> {
  const roleCheck =
    client.serverVersion >= 150000 ? "OR pg_has_role(CURRENT_USER, 'pg_checkpoint', 'USAGE')" : '';
  const [row] = await client.query<{ ok: boolean }>(
    `SELECT (SELECT usesuper FROM pg_user WHERE usename = CURRENT_USER) ${roleCheck} AS ok`,
  );
  return row?.ok === true;
}

export async function currentUser(client: PostgresClient): Promise<string> {
  const [row] = await client.query<{ u: string }>('SELECT CURRENT_USER AS u');
  return row!.u;
}

/** What IDENTIFY_SYSTEM says on a replication connection. */
export interface StreamingIdentity {
  systemid: string;
  timeline: number;
  xlogpos: string;
  /** server_version_num, e.g. 150018. */
  serverVersion: number;
}

/**
 * Opens a physical replication connection (`replication=true`, as pg_basebackup and
 * pg_receivewal do) with the given conninfo, runs IDENTIFY_SYSTEM and closes it.
 */
export async function identifySystem(
  conninfo: string,
  options: ConnectOptions & { signal?: AbortSignal } = {},
): Promise<StreamingIdentity> {
  const client = new pg.Client(
    clientConfig(parseConnInfo(conninfo), {
      applicationName: options.applicationName ?? 'barman_streaming',
      connectTimeoutSeconds: options.connectTimeoutSeconds,
      replication: true,
    }),
  );
  client.on('error', () => {});
  let version = '';
  // The server reports server_version in a ParameterStatus message at startup; SQL is not
  // available on a physical replication connection.
  (client as unknown as { connection: NodeJS.EventEmitter }).connection.on(
    'parameterStatus',
    (message: { parameterName: string; parameterValue: string }) => {
      if (message.parameterName === 'server_version') version = message.parameterValue;
    },
  );
  const abort = () => void client.end().catch(() => {});
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    try {
      await client.connect();
    } catch (error) {
      throw new PostgresError(
        `cannot open a replication connection (${describe(conninfo)}): ${(error as Error).message}`,
        error,
      );
    }
    let rows: Array<{ systemid: string; timeline: number; xlogpos: string }>;
    try {
      rows = (await client.query<{ systemid: string; timeline: number; xlogpos: string }>('IDENTIFY_SYSTEM'))
        .rows;
    } catch (error) {
      throw new PostgresError(`IDENTIFY_SYSTEM failed: ${(error as Error).message}`, error);
    }
    const row = rows[0];
    if (!row) throw new PostgresError('IDENTIFY_SYSTEM returned no row');
    return {
      systemid: String(row.systemid),
      timeline: Number(row.timeline),
      xlogpos: String(row.xlogpos),
      serverVersion: versionNumber(version),
    };
  } finally {
    options.signal?.removeEventListener('abort', abort);
    await client.end().catch(() => {});
  }
}

/** `15.18 (Debian 15.18-0+deb12u1)` -> 150018; `9.6.24` -> 90624; `17devel` -> 170000. */
export function versionNumber(text: string): number {
  const match = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.trim());
  if (!match) return 0;
  const major = Number(match[1]);
  if (major >= 10) return major * 10000 + Number(match[2] ?? 0);
  return major * 10000 + Number(match[2] ?? 0) * 100 + Number(match[3] ?? 0);
}

/** One WAL sender of pg_stat_replication, with the slot it uses. */
export interface ReplicationClient {
  pid: number;
  usename: string | null;
  applicationName: string;
  clientAddr: string | null;
  clientHostname: string | null;
  clientPort: number | null;
  backendStart: string | null;
  backendXmin: string | null;
  state: string | null;
  sentLsn: string | null;
  writeLsn: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
  syncPriority: number;
  syncState: string;
  slotName: string | null;
}

export interface ReplicationStats {
  isInRecovery: boolean;
  /** pg_current_wal_lsn() on a primary, pg_last_wal_receive_lsn() on a standby. */
  currentLsn: string | null;
  clients: ReplicationClient[];
}

export type ReplicationTarget = 'all' | 'hot-standby' | 'wal-streamer';

/** WAL senders (standbys replay WAL, WAL streamers such as pg_receivewal do not), sync ones first. */
export async function replicationStats(
  client: PostgresClient,
  target: ReplicationTarget,
): Promise<ReplicationStats> {
  const v10 = client.serverVersion >= 100000;
  const lsn = (name: string) => (v10 ? `r.${name}_lsn` : `r.${name}_location`);
  const where = ["(rs.slot_type IS NULL OR rs.slot_type = 'physical')"];
  if (target === 'hot-standby') where.push(`${lsn('replay')} IS NOT NULL`);
  if (target === 'wal-streamer') where.push(`${lsn('replay')} IS NULL`);
  const current = v10
    ? 'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END'
    : 'CASE WHEN pg_is_in_recovery() THEN pg_last_xlog_receive_location() ELSE pg_current_xlog_location() END';
  const [state] = await client.query<{ recovery: boolean; current: string | null }>(
    `SELECT pg_is_in_recovery() AS recovery, (${current})::text AS current`,
  );
  const rows = await client.query<{
    pid: number;
    usename: string | null;
    application_name: string;
    client_addr: string | null;
    client_hostname: string | null;
    client_port: number | null;
    backend_start: string | null;
    backend_xmin: string | null;
    state: string | null;
    sent: string | null;
    write: string | null;
    flush: string | null;
    replay: string | null;
    sync_priority: number;
    sync_state: string;
    slot_name: string | null;
  }>(
    `SELECT r.pid, r.usename::text, r.application_name, host(r.client_addr) AS client_addr, r.client_hostname,
            r.client_port, r.backend_start::text, r.backend_xmin::text, r.state,
            ${lsn('sent')}::text AS sent, ${lsn('write')}::text AS write, ${lsn('flush')}::text AS flush,
            ${lsn('replay')}::text AS replay, r.sync_priority, r.sync_state, rs.slot_name::text
       FROM pg_stat_replication r LEFT JOIN pg_replication_slots rs ON (r.pid = rs.active_pid)
      WHERE ${where.join(' AND ')}
      ORDER BY r.sync_state DESC, r.sync_priority`,
  );
  return {
    isInRecovery: state!.recovery,
    currentLsn: state!.current,
    clients: rows.map((row) => ({
      pid: row.pid,
      usename: row.usename,
      applicationName: row.application_name,
      clientAddr: row.client_addr,
      clientHostname: row.client_hostname,
      clientPort: row.client_port,
      backendStart: row.backend_start,
      backendXmin: row.backend_xmin,
      state: row.state,
      sentLsn: row.sent,
      writeLsn: row.write,
      flushLsn: row.flush,
      replayLsn: row.replay,
      syncPriority: row.sync_priority,
      syncState: row.sync_state,
      slotName: row.slot_name,
    })),
  };
}
