/**
 * The session a backup run's steps share (src/postgres/shared-connection.ts) against PostgreSQL
 * 15: every step gets the same backend, immune to idle_session_timeout; a session the server ended
 * is replaced on the next use; close() ends it (a later use opens a new one) and never throws;
 * a failed connection is reported, not kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import { startPostgres, waitFor } from '../harness/index.js';
import { PostgresError } from '../../src/postgres/client.js';
import { SharedConnection } from '../../src/postgres/shared-connection.js';

describe('SharedConnection', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  const conninfo = () => `${pg.conninfo} application_name=shared-connection-test`;
  const backendPid = async (connection: SharedConnection) =>
    (await (await connection.client()).query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
  const sessions = async () =>
    (
      await pg.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'shared-connection-test'",
      )
    )[0]!.n;

  before(async () => {
    // A server that ends idle sessions quickly: the shared one must not be ended between steps.
    pg = await startPostgres({ version: 15, settings: { idle_session_timeout: '1s' } });
  });

  after(async () => {
    await pg?.stop();
  });

  it('gives every step the same session, which idle_session_timeout does not end', async () => {
    const connection = new SharedConnection(conninfo());
    try {
      const [first, second] = await Promise.all([connection.client(), connection.client()]);
      assert.equal(first, second);
      const pid = await backendPid(connection);
      assert.equal(
        (await first.query<{ t: string }>("SELECT current_setting('idle_session_timeout') AS t"))[0]!.t,
        '0',
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(await backendPid(connection), pid);
      assert.equal(await sessions(), 1);
    } finally {
      await connection.close();
    }
    await waitFor('the shared session to end', async () => (await sessions()) === 0);
  });

  it('replaces a session the server ended, and opens a new one after close()', async () => {
    const connection = new SharedConnection(conninfo());
    try {
      const client = await connection.client();
      const pid = await backendPid(connection);
      await pg.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor('the client to notice', () => !client.usable);
      const replaced = await backendPid(connection);
      assert.notEqual(replaced, pid);
      await connection.close();
      await connection.close();
      assert.equal(client.usable, false);
      assert.notEqual(await backendPid(connection), replaced);
    } finally {
      await connection.close();
    }
    await waitFor('every session to end', async () => (await sessions()) === 0);
  });

  it('reports a connection that fails, and tries again on the next use', async () => {
    const connection = new SharedConnection(`host=127.0.0.1 port=1 user=postgres dbname=postgres`);
    await assert.rejects(connection.client(), PostgresError);
    await assert.rejects(connection.client(), /cannot connect to PostgreSQL/);
    await connection.close();
  });
});
