/**
 * wal_streaming_conninfo and wal_conninfo against a real PostgreSQL 15: receive-wal (slot
 * creation, streaming, --stop) connects with them instead of streaming_conninfo and conninfo
 * (pg_stat_replication shows their user), and check runs the WAL streaming checks on them.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  makeTempDir,
  registerExitCleanup,
  runBarman,
  startPostgres,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('wal_streaming_conninfo and wal_conninfo', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let receiver: ChildProcess | undefined;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);

  before(async () => {
    dir = await makeTempDir('wal-connections', { owner: 'postgres' });
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    pg = await startPostgres({ version: 15 });
    await pg.query('CREATE ROLE walstreamer LOGIN REPLICATION');
    await pg.query('CREATE TABLE t (id int)');
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        pg: {
          conninfo: pg.conninfo,
          streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=postgres`,
          wal_streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=walstreamer dbname=postgres`,
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman',
        },
      },
    });
  });

  after(async () => {
    if (receiver && receiver.exitCode === null) {
      await barman('receive-wal', '--stop', 'pg').catch(() => undefined);
      receiver.kill('SIGKILL');
    }
    await pg?.stop();
  });

  it('receive-wal creates its slot and streams as the user of wal_streaming_conninfo', async () => {
    const created = await barman('receive-wal', '--create-slot', 'pg');
    assert.equal(created.exitCode, 0, created.stderr);
    receiver = spawn(process.execPath, [BARMAN_BIN, '-c', config, 'receive-wal', 'pg'], {
      stdio: 'ignore',
      env: childEnv({ BARMAN_CONFIG_FILE: undefined }),
    });
    const child = receiver;
    const unregister = registerExitCleanup(() => child.kill('SIGKILL'));
    child.on('exit', unregister);
    let users: string[] = [];
    await waitFor(
      'pg_receivewal connected',
      async () => {
        users = (
          await pg.query<{ usename: string }>(
            "SELECT usename FROM pg_stat_replication WHERE application_name = 'barman_receive_wal'",
          )
        ).map((row) => row.usename);
        return users.length > 0;
      },
      { timeoutMs: 30_000 },
    );
    assert.deepEqual(users, ['walstreamer']);
  });

  it('check runs the WAL streaming checks on those connections', async () => {
    await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
    await waitFor(
      'slot active',
      async () =>
        (
          await pg.query<{ active: boolean }>(
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman'",
          )
        )[0]?.active === true,
    );
    const check = await barman('check', 'pg');
    for (const line of [
      'PostgreSQL (WAL streaming): OK',
      'PostgreSQL streaming (WAL streaming): OK',
      'wal_level (WAL streaming): OK',
      'replication slot (WAL streaming): OK',
      'systemid coherence (WAL streaming): OK',
    ])
      assert.match(check.stdout, new RegExp(`^\\t${line.replace(/[()]/g, '\\$&')}`, 'm'), check.stdout);
    // The slot lives where WAL is streamed from: it is not checked again on conninfo.
    assert.doesNotMatch(check.stdout, /^\treplication slot: /m);
    const stopped = await barman('receive-wal', '--stop', 'pg');
    assert.equal(stopped.exitCode, 0, stopped.stderr);
  });
});
