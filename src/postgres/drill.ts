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

export async function recoveryEnded(client: PostgresClient): Promise<boolean> {
  const [row] = await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering');
  return row?.recovering === false;
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
