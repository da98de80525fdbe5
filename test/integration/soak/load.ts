/**
 * The database load of the soak: pgbench (rate-limited, so that archiving keeps up on a shared
 * machine) and a loop committing an increasing counter, until stop(), which returns the final
 * state that every recovery to the end of the archive must reproduce.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { PostgresServer } from '../../harness/index.js';
import { childEnv, registerExitCleanup } from '../../harness/index.js';

export interface DatabaseState {
  ticks: number;
  lastTick: number;
  history: number;
  historyDelta: string;
  accounts: string;
  marker: string | null;
}

const STATE_QUERY = `SELECT
  (SELECT count(*) FROM soak_ticks)::int AS ticks,
  (SELECT coalesce(max(id), 0) FROM soak_ticks)::int AS "lastTick",
  (SELECT count(*) FROM pgbench_history)::int AS history,
  (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS "historyDelta",
  (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts,
  (SELECT string_agg(note, ',') FROM soak_marker) AS marker`;

export async function readDatabaseState(server: PostgresServer): Promise<DatabaseState> {
  const [row] = await server.query<DatabaseState>(STATE_QUERY);
  return { ...row! };
}

export async function startDatabaseLoad(
  server: PostgresServer,
  binDir: string,
): Promise<{ stop(): Promise<void> }> {
  const pgbench: ChildProcess = spawn(
    join(binDir, 'pgbench'),
    [
      ...['-h', server.host, '-p', String(server.port), '-U', 'postgres'],
      ...['-n', '-c', '2', '-j', '1', '-R', '25', '-T', '86400', 'postgres'],
    ],
    { env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const unregister = registerExitCleanup(() => pgbench.kill('SIGKILL'));
  let pgbenchErrors = '';
  pgbench.stderr!.on('data', (chunk: Buffer) => (pgbenchErrors += chunk.toString()));
  const pgbenchExited = new Promise<void>((resolve) => pgbench.once('exit', () => resolve()));

  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: 'postgres',
    database: 'postgres',
  });
  await client.connect();
  let running = true;
  const ticking = (async () => {
    for (let id = 1; running; id += 1) {
      await client.query('INSERT INTO soak_ticks VALUES ($1)', [id]);
      await sleep(40);
    }
  })().then(
    () => null,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
  return {
    async stop() {
      running = false;
      const failure = await ticking;
      await client.end();
      pgbench.kill('SIGINT');
      await pgbenchExited;
      unregister();
      if (failure) throw new Error(`the counter loop failed: ${failure.message}`, { cause: failure });
      if (/FATAL|could not|aborted in command/.test(pgbenchErrors))
        throw new Error(`pgbench failed:\n${pgbenchErrors}`);
    },
  };
}
