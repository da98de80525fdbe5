/**
 * A failover handled with configuration models, on real PostgreSQL 15: a primary (node A) and its
 * streaming standby (node B) archive with `barman put-wal`; the server `pg` has one model per node
 * (conninfo and streaming_conninfo). A backup is taken from A through its model; A is stopped and
 * B promoted; `config-switch pg node_b` lays B's model over `pg`; the next backup comes from B
 * (timeline 2, same system identifier), and `barman recover` of it starts with every row. Also
 * config-update (a bad request changes nothing) and its queue processed by cron under the lock,
 * and the faults: unknown model, model of another cluster, model naming an unknown option.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  readBackupInfoFields,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startStandby,
  waitForReplay,
  writeBarmanConfig,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

describe('failover with configuration models (config-switch, config-update)', { concurrency: 1 }, () => {
  let nodeA: PostgresServer;
  let nodeB: PostgresServer;
  let dir: string;
  let config: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 150_000 });
  const home = () => join(dir, 'home');
  const backupIds = () => readdirSync(join(home(), 'pg/base')).sort();
  const count = async (server: PostgresServer) =>
    Number((await server.query<{ n: string }>('SELECT count(*) AS n FROM items'))[0]!.n);

  before(async () => {
    dir = await makeTempDir('config-models', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(home());
    await chownTo(home(), 'postgres');
    const putWal = `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal pg --file %p`;
    nodeA = await startPostgres({ version: 15, archiveCommand: putWal });
    await nodeA.query('CREATE TABLE items (id int PRIMARY KEY, node text)');
    await nodeA.query("INSERT INTO items SELECT g, 'A' FROM generate_series(1, 5000) g");
    // archive_mode = on: the standby archives only once promoted.
    nodeB = await startStandby(nodeA, { settings: { archive_mode: 'on', archive_command: putWal } });
    const node = (server: PostgresServer) => ({
      model: true,
      cluster: 'fleet',
      conninfo: server.conninfo,
      streaming_conninfo: server.conninfo,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        // The server's own conninfo points nowhere: only a model makes it usable.
        pg: {
          conninfo: 'host=127.0.0.1 port=1 dbname=postgres',
          streaming_conninfo: 'host=127.0.0.1 port=1',
          cluster: 'fleet',
          backup_method: 'postgres',
          archiver: true,
          immediate_checkpoint: true,
          path_prefix: PG15_BIN,
        },
        node_a: node(nodeA),
        node_b: node(nodeB),
        other_model: { model: true, cluster: 'other', conninfo: 'host=x' },
        broken_model: {
          model: true,
          cluster: 'fleet',
          conninfo: 'host=y',
          streaming_conninfo_typo: 'host=y',
        },
        other: {
          conninfo: 'host=127.0.0.1 port=1',
          backup_method: 'postgres',
          archiver: true,
          cluster: 'other',
        },
      },
    });
  });

  after(async () => {
    for (const server of started) await server.stop();
    await nodeB?.stop();
    await nodeA?.stop();
  });

  it('bad input: unknown model, model of another cluster, model naming an unknown option', async () => {
    const unknown = await barman('config-switch', 'pg', 'node_z');
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /ERROR: Unknown model 'node_z'/);
    const other = await barman('config-switch', 'pg', 'other_model');
    assert.equal(other.exitCode, 1);
    assert.match(
      other.stderr,
      /ERROR: Model 'other_model' has 'cluster=other', which is not compatible with 'cluster=fleet' from server 'pg'/,
    );
    const broken = await barman('config-switch', 'pg', 'broken_model');
    assert.equal(broken.exitCode, 1);
    assert.match(
      broken.stderr,
      new RegExp(
        `ERROR: Model 'broken_model' has configuration errors: \\[broken_model\\] streaming_conninfo_typo: unknown option 'streaming_conninfo_typo' \\(${config}, line \\d+\\)`,
      ),
    );
    // Every command names the broken model, where it is written.
    assert.match(broken.stderr, /WARNING: \[broken_model\] streaming_conninfo_typo: unknown option/);
    const both = await barman('config-switch', 'pg', 'node_a', '--reset');
    assert.equal(both.exitCode, 2);
    assert.equal(existsSync(join(home(), 'pg/.active-model.auto')), false, 'nothing was switched');
  });

  it('config-switch to node A: its values apply, show-server and diagnose say where they come from', async () => {
    const run = await barman('config-switch', 'pg', 'node_a');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^Applying model 'node_a' to server 'pg'\n/);
    assert.match(
      run.stdout,
      /Changing value of option 'conninfo' for server 'pg' from 'host=127\.0\.0\.1 port=1 dbname=postgres' to '.*' through the model 'node_a'/,
    );
    assert.equal(readFileSync(join(home(), 'pg/.active-model.auto'), 'utf8'), 'node_a');
    const shown = await barman('show-server', 'pg', '--show-config-source');
    assert.match(shown.stdout, /\tactive_model: node_a/);
    const status = await barman('status', 'pg');
    assert.match(status.stdout, /\n\tActive configuration model: node_a\n/);
    assert.match(
      shown.stdout,
      new RegExp(
        `\\tconninfo: .*port=${nodeA.port}.* \\(source: model 'node_a', ${config}:\\d+ \\[node_a\\]\\)`,
      ),
    );
    assert.match(
      shown.stdout,
      new RegExp(`\\tbackup_method: postgres \\(source: ${config}:\\d+ \\[pg\\]\\)`),
    );
    const diagnose = JSON.parse((await barman('diagnose', '--show-config-source')).stdout) as {
      servers: { pg: { config: Record<string, { value: unknown; source: string; model?: string }> } };
    };
    const pgConfig = diagnose.servers.pg.config;
    assert.equal(pgConfig.active_model!.value, 'node_a');
    assert.equal(pgConfig.conninfo!.model, 'node_a');
    assert.equal(pgConfig.conninfo!.source, config);
    assert.equal(pgConfig.slot_name!.source, 'default');
  });

  it('a backup through node A', async () => {
    const switched = await barman('switch-wal', '--force', '--archive', 'pg');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const run = await barman('backup', '--wait', 'pg');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    const info = readBackupInfoFields(join(home(), 'pg/base', backupIds().at(-1)!, 'backup.info'));
    assert.equal(info.status, 'DONE');
    assert.equal(info.timeline, '1');
  });

  it('failover: B promoted, config-switch to node B, the next backup comes from B and recovers with every row', async () => {
    await nodeA.query("INSERT INTO items SELECT g, 'A' FROM generate_series(5001, 6000) g");
    await waitForReplay(nodeA, nodeB);
    const [systemA] = await nodeA.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    await nodeA.stop();
    await nodeB.query('SELECT pg_promote(true, 60)');
    await nodeB.query("INSERT INTO items SELECT g, 'B' FROM generate_series(6001, 7000) g");

    // Still on node A's model: the backup cannot reach PostgreSQL.
    const refused = await barman('backup', 'pg');
    assert.notEqual(refused.exitCode, 0);

    const run = await barman('config-switch', 'pg', 'node_b');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /Applying model 'node_b' to server 'pg'/);
    assert.match(
      run.stdout,
      new RegExp(
        `Changing value of option 'streaming_conninfo' for server 'pg' from '.*port=${nodeA.port}.*' to '.*port=${nodeB.port}.*' through the model 'node_b'`,
      ),
    );
    assert.equal(readFileSync(join(home(), 'pg/.active-model.auto'), 'utf8'), 'node_b');

    const switched = await barman('switch-wal', '--force', '--archive', 'pg');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const backup = await barman('backup', '--wait', 'pg');
    assert.equal(backup.exitCode, 0, `${backup.stdout}\n${backup.stderr}`);
    const id = backupIds().at(-1)!;
    const info = readBackupInfoFields(join(home(), 'pg/base', id, 'backup.info'));
    assert.equal(info.status, 'DONE');
    assert.equal(info.timeline, '2', 'taken from the promoted node');
    assert.equal(info.systemid, systemA!.id);

    await nodeB.query("INSERT INTO items SELECT g, 'B' FROM generate_series(7001, 7500) g");
    assert.equal((await barman('switch-wal', '--force', '--archive', 'pg')).exitCode, 0);
    const destination = join(dir, 'recovered');
    const recover = await barman('recover', 'pg', id, destination);
    assert.equal(recover.exitCode, 0, recover.stderr);
    const copy = await startRecoveredCopy(destination);
    started.push(copy);
    assert.equal(await count(copy), 7500, 'every row of both nodes');
    const [fromB] = await copy.query<{ n: string }>("SELECT count(*) AS n FROM items WHERE node = 'B'");
    assert.equal(Number(fromB!.n), 1500);
  });

  it('config-update: a bad request changes nothing; a good one lands in .barman.auto.conf and wins', async () => {
    const queue = join(home(), 'cfg_changes.queue');
    const autoConf = join(home(), '.barman.auto.conf');
    for (const [json, expected] of [
      ['[{"scope": "model", "model_name": "node_b"', /not valid JSON/],
      [
        '[{"scope": "model", "model_name": "node_b", "conninfo_typo": "x"}]',
        /\[node_b\] conninfo_typo: unknown option/,
      ],
      [
        '[{"scope": "server", "server_name": "node_b", "description": "x"}]',
        /'node_b' is a model, not a server/,
      ],
    ] as const) {
      const bad = await barman('config-update', json);
      assert.equal(bad.exitCode, 1, json);
      assert.match(bad.stderr, expected);
      assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(existsSync(autoConf), false, json);
    }
    const good = await barman(
      'config-update',
      '[{"scope": "model", "model_name": "node_b", "immediate_checkpoint": "off"}]',
    );
    assert.equal(good.exitCode, 0, good.stderr);
    assert.match(
      good.stdout,
      /Changing value of option 'immediate_checkpoint' for section 'node_b' from 'None' to 'off' through config-update\./,
    );
    assert.equal(readFileSync(autoConf, 'utf8'), '[node_b]\nimmediate_checkpoint = off\n');
    assert.deepEqual(JSON.parse(readFileSync(queue, 'utf8')), []);
    const shown = await barman('show-server', 'pg', '--show-config-source');
    assert.match(
      shown.stdout,
      new RegExp(`\\timmediate_checkpoint: False \\(source: model 'node_b', ${autoConf}:2 \\[node_b\\]\\)`),
    );
  });

  it("cron writes a queued change (Barman's queue format) under the config-update lock; a busy lock leaves it to the next cron", async () => {
    const queue = join(home(), 'cfg_changes.queue');
    const autoConf = join(home(), '.barman.auto.conf');
    writeFileSync(
      queue,
      JSON.stringify([
        {
          section: 'pg',
          changes_set: [{ key: 'description', value: 'failed over to B', config_file: autoConf }],
        },
      ]),
    );
    await chownTo(queue, 'postgres');
    // Another process holds the lock: cron leaves the queue alone and says so.
    const lockFile = join(home(), '.config-update.lock');
    // -o: only flock itself holds the lock (not sleep), so killing it frees the lock.
    const holder = spawn('flock', ['-o', lockFile, 'sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const busy = await barman('cron');
      assert.match(busy.stderr, /WARNING: another process is updating barman configuration files/);
      assert.doesNotMatch(readFileSync(autoConf, 'utf8'), /failed over/);
    } finally {
      holder.kill();
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.doesNotMatch(cron.stderr, /another process is updating/);
    assert.match(
      cron.stdout,
      /Changing value of option 'description' for section 'pg' from 'None' to 'failed over to B' through config-update\./,
    );
    assert.match(readFileSync(autoConf, 'utf8'), /\[pg\]\ndescription = failed over to B\n/);
    assert.deepEqual(JSON.parse(readFileSync(queue, 'utf8')), []);
    const listed = await barman('list-server');
    assert.match(listed.stdout, /^pg - failed over to B$/m);
  });

  it('config-switch --reset: back to the server values', async () => {
    const run = await barman('config-switch', 'pg', '--reset');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /Resetting the active model for the server pg/);
    assert.equal(existsSync(join(home(), 'pg/.active-model.auto')), false);
    const shown = await barman('show-server', 'pg');
    assert.match(shown.stdout, /\tactive_model: None/);
    const status = await barman('status', 'pg');
    assert.match(status.stdout, /\n\tActive configuration model: None\n/);
    assert.match(shown.stdout, /\tconninfo: host=127\.0\.0\.1 port=1 dbname=postgres/);
  });
});
