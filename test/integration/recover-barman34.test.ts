/**
 * Recovery across implementations, with Debian's Barman 3.4 on the same catalogue:
 * barman-ts recovers a backup taken by Barman 3.4 (postgres method), and Barman 3.4 recovers a
 * backup taken by barman-ts (local-rsync). Both results are started and compared with pg_dumpall.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  makeTempDir,
  requireDebianPackages,
  runAs,
  runBarman,
  runCompletely,
  startPostgres,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

describe('recovery interoperability with Barman 3.4', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let expectedDump: string;
  const started: PostgresServer[] = [];
  const barmanTs = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  const barman34 = (...args: string[]) =>
    runCompletely(null, '/usr/bin/barman', ['-c', config, ...args], { timeoutMs: 180_000 });

  async function startRecovered(data: string): Promise<PostgresServer> {
    await runAs(null, 'chown', ['-R', 'postgres:', data]);
    const server = await startRecoveredCopy(data);
    started.push(server);
    return server;
  }

  const dump = async (server: PostgresServer) =>
    (await server.psql(['-At', '-c', 'SELECT id, note FROM items ORDER BY id'])).trim();

  before(async () => {
    requireDebianPackages('barman');
    dir = await makeTempDir('recover-b34');
    chmodSync(dir, 0o755);
    config = join(dir, 'barman.conf');
    for (const server of ['b34', 'ts']) {
      const incoming = join(dir, 'home', server, 'incoming');
      mkdirSync(incoming, { recursive: true });
      chmodSync(incoming, 0o777); // archive_command runs as postgres
    }
    mkdirSync(join(dir, 'recovered'));
    const copyTo = (server: string) =>
      `cp %p ${dir}/home/${server}/incoming/.%f.tmp && mv ${dir}/home/${server}/incoming/.%f.tmp ${dir}/home/${server}/incoming/%f`;
    pg = await startPostgres({ version: 15, archiveCommand: `${copyTo('b34')} && ${copyTo('ts')}` });
    const common = {
      conninfo: pg.conninfo,
      streaming_conninfo: pg.conninfo,
      archiver: 'on',
      immediate_checkpoint: 'on',
      path_prefix: '/usr/lib/postgresql/15/bin',
    };
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'root', log_file: `${dir}/barman.log`, compression: 'gzip' },
      servers: {
        b34: { ...common, backup_method: 'postgres' },
        ts: { ...common, backup_method: 'local-rsync' },
      },
    });
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
    await pg.query('INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 5000) g');
    const switched = await barmanTs('switch-wal', '--force', '--archive', 'all');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const b34 = await barman34('backup', 'b34');
    assert.equal(b34.exitCode, 0, `${b34.stdout}\n${b34.stderr}`);
    const ts = await barmanTs('backup', 'ts');
    assert.equal(ts.exitCode, 0, ts.stderr);
    await pg.query("INSERT INTO items SELECT g, 'after' FROM generate_series(5001, 6000) g");
    await pg.query("UPDATE items SET note = 'changed' WHERE id % 100 = 0");
    const final = await barmanTs('switch-wal', '--force', '--archive', 'all');
    assert.equal(final.exitCode, 0, final.stderr);
    expectedDump = await dump(pg);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('barman-ts recovers a backup taken by Barman 3.4', async () => {
    const id = readdirSync(join(dir, 'home/b34/base'))[0]!;
    const destination = join(dir, 'recovered', 'from-b34');
    const run = await barmanTs('recover', 'b34', id, destination);
    assert.equal(run.exitCode, 0, run.stderr);
    const server = await startRecovered(destination);
    assert.equal(await dump(server), expectedDump);
    await server.stop();
  });

  it('Barman 3.4 recovers a backup taken by barman-ts', async () => {
    const id = readdirSync(join(dir, 'home/ts/base'))[0]!;
    const destination = join(dir, 'recovered', 'from-ts');
    const run = await barman34('recover', 'ts', id, destination);
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    const server = await startRecovered(destination);
    assert.equal(await dump(server), expectedDump);
    await server.stop();
  });
});
