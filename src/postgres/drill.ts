/**
 * The SQL a restore drill sends to the PostgreSQL it started on a recovered copy: whether
 * recovery has ended, the cluster's bootstrap superuser (whoever ran initdb: oid 10), and the
 * operator's probe, whose single value must be a point in time.
 */
import { BarmanError } from '../errors/index.js';
import { PostgresClient } from './client.js';
import { formatConnInfo } from './conninfo.js';

/** A session over the drill's private socket (trust authentication, nothing over TCP). */
export function connectDrill(
  socket: string,
  port: number,
  user: string,
  database: string,
): Promise<PostgresClient> {
  const conninfo = formatConnInfo(
    new Map([
      ['host', socket],
      ['port', String(port)],
      ['user', user],
      ['dbname', database],
    ]),
  );
  return PostgresClient.connect(conninfo, {
    applicationName: 'barman_restore_drill',
    connectTimeoutSeconds: 10,
  });
}

export interface RecoveryState {
  ended: boolean;
  /** The last WAL location replayed (null before the first record, or once recovery ended). */
  replayedLsn: string | null;
  /** Replay paused (by PostgreSQL itself, e.g. a setting of the copy lower than the WAL needs). */
  paused: boolean;
}

export async function recoveryState(client: PostgresClient): Promise<RecoveryState> {
  const [row] = await client.query<{ recovering: boolean; lsn: string | null; paused: boolean | null }>(
    'SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn, ' +
      'CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused',
  );
  return {
    ended: row?.recovering === false,
    replayedLsn: row?.lsn ?? null,
    paused: row?.paused === true,
  };
}

export async function bootstrapSuperuser(client: PostgresClient): Promise<string> {
  const [row] = await client.query<{ name: string }>('SELECT rolname AS name FROM pg_roles WHERE oid = 10');
  if (!row)
    throw new BarmanError('drill-superuser', 'the recovered cluster has no bootstrap superuser (oid 10)');
  return row.name;
}

/** Runs the probe; its first column of its only row, as a time (ms since the epoch). */
export async function probeTime(client: PostgresClient, sql: string): Promise<number | null> {
  const rows = await client.query<Record<string, unknown>>(sql);
  if (rows.length !== 1)
    throw new BarmanError('drill-probe', `the probe returned ${rows.length} rows, not 1`);
  const value = Object.values(rows[0]!)[0];
  if (value === null || value === undefined) return null;
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    throw new BarmanError('drill-probe', `the probe returned ${JSON.stringify(value)}, not a timestamp`);
  return ms;
}
