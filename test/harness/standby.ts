/**
 * A streaming standby of a rig PostgreSQL 15 server: pg_basebackup -R (standby.signal and
 * primary_conninfo) as the primary's OS user into a temp dir, then started with startPostgres's
 * existingDataDir on its own port.
 */
import { join } from 'node:path';
import type { PostgresServer } from './postgres.js';
import { startPostgres } from './postgres.js';
import { makeTempDir, runAs, waitFor } from './tmp.js';

export interface StandbyOptions {
  /** postgresql.conf settings of the standby (e.g. archive_mode = always). */
  settings?: Record<string, string>;
}

export async function startStandby(
  primary: PostgresServer,
  options: StandbyOptions = {},
): Promise<PostgresServer> {
  if (primary.version !== 15)
    throw new Error('startStandby: only PostgreSQL 15 has pg_basebackup in the rig');
  const base = await makeTempDir('standby', { owner: primary.osUser });
  const data = join(base, 'data');
  await runAs(primary.osUser, join(primary.binDir, 'pg_basebackup'), [
    ...['-h', primary.host, '-p', String(primary.port), '-U', 'postgres'],
    ...['-D', data, '-R', '-X', 'stream', '-c', 'fast'],
  ]);
  const standby = await startPostgres({
    version: 15,
    user: primary.osUser,
    existingDataDir: data,
    settings: { hot_standby: 'on', ...options.settings },
  });
  await waitForReplay(primary, standby);
  return standby;
}

/** Waits until `standby` has replayed everything `primary` had written when called. */
export async function waitForReplay(
  primary: PostgresServer,
  standby: PostgresServer,
  timeoutMs = 30_000,
): Promise<void> {
  const [target] = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await waitFor(
    `standby on port ${standby.port} to replay up to ${target!.lsn}`,
    async () => {
      const [row] = await standby.query<{ done: boolean }>(
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
        [target!.lsn],
      );
      return row!.done;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
