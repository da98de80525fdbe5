/**
 * config-switch restarts the streaming archiver as Barman does, on real PostgreSQL 15: switching
 * `pg` to node A's model starts receive-wal (slot created on A; cron then leaves it alone); node
 * B, A's standby, is promoted and `config-switch pg node_b` stops the running receive-wal and
 * starts one against B, which creates its slot there and streams timeline 2's WAL into
 * streaming/. A receiver that died with its node (nothing to stop) is started all the same.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  chownTo,
  isProcessAlive,
  lockPid,
  makeTempDir,
  processesMentioning,
  registerExitCleanup,
  runBarman,
  startPostgres,
  startStandby,
  terminateProcess,
  terminateProcessSync,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('config-switch restarts a running receive-wal against the new node', { concurrency: 1 }, () => {
  let nodeA: PostgresServer;
  let nodeB: PostgresServer;
  let dir: string;
  let config: string;
  let unregisterCleanup: (() => void) | undefined;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 60_000 });
  const home = () => join(dir, 'home');
  const lockFile = () => join(home(), '.pg-receive-wal.lock');
  const streamed = () =>
    existsSync(join(home(), 'pg/streaming')) ? readdirSync(join(home(), 'pg/streaming')) : [];
  const slotActive = async (server: PostgresServer) =>
    (
      await server.query<{ active: boolean }>(
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman'",
      )
    )[0]?.active === true;

  before(async () => {
    dir = await makeTempDir('config-switch-streaming', { owner: 'postgres' });
    unregisterCleanup = registerExitCleanup(() => {
      for (const pid of processesMentioning(dir)) terminateProcessSync(pid, 'SIGKILL', 1_000);
    });
    mkdirSync(home());
    await chownTo(home(), 'postgres');
    nodeA = await startPostgres({ version: 15 });
    await nodeA.query('CREATE TABLE items (id int)');
    nodeB = await startStandby(nodeA);
    const node = (server: PostgresServer) => ({
      model: true,
      cluster: 'fleet',
      conninfo: server.conninfo,
      streaming_conninfo: `host=127.0.0.1 port=${server.port} user=postgres`,
    });
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        pg: {
          conninfo: 'host=127.0.0.1 port=1 dbname=postgres',
          streaming_conninfo: 'host=127.0.0.1 port=1',
          cluster: 'fleet',
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman',
          create_slot: 'auto',
        },
        node_a: node(nodeA),
        node_b: node(nodeB),
      },
    });
  });

  after(async () => {
    try {
      if (config && lockPid(lockFile()) !== null)
        await barman('receive-wal', '--stop', 'pg').catch(() => null);
      for (const pid of dir ? processesMentioning(dir) : []) await terminateProcess(pid, 'SIGINT', 3_000);
    } finally {
      unregisterCleanup?.();
      await nodeB?.stop();
      await nodeA?.stop();
    }
  });

  it('node A: config-switch starts streaming from A; cron leaves the running receiver alone', async () => {
    const run = await barman('config-switch', 'pg', 'node_a');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /Stopped process/);
    assert.match(run.stdout, /^Starting streaming archiver for server pg$/m);
    await waitFor('receive-wal to stream from node A', () => slotActive(nodeA), { timeoutMs: 30_000 });
    const pid = lockPid(lockFile());
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.doesNotMatch(cron.stdout, /Starting streaming archiver/);
    assert.equal(lockPid(lockFile()), pid);
  });

  it('failover: config-switch to node B stops the receiver and starts one streaming from B', async () => {
    const before = lockPid(lockFile());
    assert.ok(before !== null && isProcessAlive(before), 'a receive-wal runs');
    // A switchover: B is promoted while A still runs, then A is stopped.
    await nodeB.query('SELECT pg_promote(true, 60)');
    const run = await barman('config-switch', 'pg', 'node_b');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Stopped process receive-wal\\(${before}\\)$`, 'm'));
    await waitFor('the old receive-wal to end', () => !isProcessAlive(before), { timeoutMs: 10_000 });
    await waitFor('a receive-wal streaming from node B', () => slotActive(nodeB), { timeoutMs: 30_000 });
    const after = lockPid(lockFile());
    assert.ok(after !== null && after !== before && isProcessAlive(after), 'a new receive-wal');
    await nodeA.stop();

    await nodeB.query('INSERT INTO items SELECT generate_series(1, 1000)');
    const [row] = await nodeB.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    assert.match(row!.name, /^00000002/, 'timeline 2 after the promotion');
    await waitFor(
      `${row!.name} streamed from node B`,
      () => streamed().some((name) => name.startsWith(row!.name)),
      { timeoutMs: 30_000 },
    );
  });

  it('a receiver that already died (nothing to stop) is started all the same', async () => {
    assert.equal((await barman('receive-wal', '--stop', 'pg')).exitCode, 0);
    await waitFor(
      'no receive-wal',
      () => lockPid(lockFile()) === null || !isProcessAlive(lockPid(lockFile())!),
    );
    const run = await barman('config-switch', 'pg', 'node_a');
    assert.equal(run.exitCode, 0, run.stderr);
    const back = await barman('config-switch', 'pg', 'node_b');
    assert.equal(back.exitCode, 0, `${back.stdout}\n${back.stderr}`);
    assert.match(back.stdout, /^Starting streaming archiver for server pg$/m);
    await waitFor('a receive-wal streaming from node B again', () => slotActive(nodeB), {
      timeoutMs: 30_000,
    });
  });
});
