/**
 * The native combine of a PostgreSQL 17 or 18 incremental chain against PostgreSQL's own tools of
 * that version (17: the Debian 13 root, 18: the forky root): a full backup and two incrementals
 * taken by that pg_basebackup around a truncated, a dropped, a created and a VACUUM FULL'ed
 * table, updates on a bigger one and a new tablespace; combined natively and by that
 * pg_combinebackup, compared file by file; that pg_verifybackup accepts the native result (its
 * WAL too); PostgreSQL of that version starts on it with the rows of the last backup. One body, run by
 * combine-pg17.test.ts and combine-pg18.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { combineChain } from '../../../src/recovery/combine/combine.js';
import type { ChainBackup } from '../../../src/recovery/combine/chain.js';
import { PosixStorage } from '../../../src/storage/index.js';
import type { PostgresServer } from '../../harness/index.js';
import {
  assertSameCombinedTrees,
  makeTempDir,
  pgCombinebackup,
  runAs,
  runPgClientTool,
  startPostgres,
  startRecoveredCopy,
  treeOf,
} from '../../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || sum(id)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || sum(id)::text FROM t_ts UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

export function combineOracle(version: 17 | 18): void {
  describe(`native combine of a PostgreSQL ${version} incremental chain`, { concurrency: 1 }, () => {
    let pg: PostgresServer;
    let dir: string;
    let chain: string;
    let tablespaceOid: number;
    let expectedState: string;
    const started: PostgresServer[] = [];

    const basebackup = async (name: string, parent: string | null, tablespaceSource: string | null) => {
      const target = join(chain, name);
      const args = [
        '-d',
        `${pg.connectionString}`,
        '-D',
        join(target, 'data'),
        '-Fp',
        '-X',
        'stream',
        '-c',
        'fast',
      ];
      if (tablespaceSource !== null) args.push('-T', `${tablespaceSource}=${join(target, 'ts')}`);
      if (parent !== null) args.push(`--incremental=${join(chain, parent, 'data', 'backup_manifest')}`);
      await runPgClientTool(version, 'pg_basebackup', args, { timeoutMs: 300_000 });
    };

    const backupOf = (name: string, withTablespace: boolean): ChainBackup => ({
      name,
      storage: new PosixStorage(chain),
      dataDirectory: `${name}/data`,
      tablespaces: new Map(withTablespace ? [[tablespaceOid, `${name}/ts`]] : []),
    });

    before(async () => {
      dir = await makeTempDir('combine');
      chain = join(dir, 'chain');
      mkdirSync(chain);
      pg = await startPostgres({ version, settings: { summarize_wal: 'on' } });
      // One psql -c per statement: VACUUM FULL and CREATE TABLESPACE refuse a transaction block.
      const sql = (text: string) => pg.statements(text);
      await sql(
        'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_vac (id int, v int); INSERT INTO t_vac SELECT i, i FROM generate_series(1, 20000) i;' +
          "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 200000) i;",
      );
      await basebackup('full', null, null);

      const tablespaceSource = await makeTempDir('combine-ts', { owner: pg.osUser });
      await sql(
        'TRUNCATE t_trunc; INSERT INTO t_trunc SELECT generate_series(1, 10);' +
          'DROP TABLE t_drop;' +
          'CREATE TABLE t_new (id int); INSERT INTO t_new SELECT generate_series(1, 500);' +
          'DELETE FROM t_vac WHERE id % 3 = 0; VACUUM FULL t_vac;' +
          'UPDATE big SET v = v + 1 WHERE id % 100 = 0;' +
          `CREATE TABLESPACE ts1 LOCATION '${tablespaceSource}';` +
          'CREATE TABLE t_ts (id int) TABLESPACE ts1; INSERT INTO t_ts SELECT generate_series(1, 3000);',
      );
      tablespaceOid = Number(
        (await pg.query<{ oid: number }>("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'"))[0]!.oid,
      );
      await basebackup('incr1', 'full', tablespaceSource);

      await sql(
        'UPDATE big SET v = v + 2 WHERE id % 50 = 0; INSERT INTO big SELECT i, i, null FROM generate_series(200001, 210000) i;' +
          'INSERT INTO t_ts SELECT generate_series(3001, 4000); INSERT INTO t_new SELECT generate_series(501, 600);' +
          'UPDATE t_vac SET v = v * 2 WHERE id < 1000; CHECKPOINT;',
      );
      expectedState = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
      await basebackup('incr2', 'incr1', tablespaceSource);
    });

    after(async () => {
      for (const server of started) await server.stop();
      await pg?.stop();
    });

    it('the incremental backups hold INCREMENTAL files (the chain is really incremental)', () => {
      const incrementals = [...treeOf(join(chain, 'incr2', 'data')).keys()].filter((path) =>
        /(^|\/)INCREMENTAL\./.test(path),
      );
      assert.ok(incrementals.length > 10, `only ${incrementals.length} INCREMENTAL files in incr2`);
    });

    it(`equals pg_combinebackup ${version} file by file, pg_verifybackup ${version} accepts it, PostgreSQL ${version} starts on it`, async () => {
      const native = join(dir, 'native');
      const nativeTs = join(dir, 'native-ts');
      const result = await combineChain({
        backups: [backupOf('full', false), backupOf('incr1', true), backupOf('incr2', true)],
        destination: native,
        tablespaceDestinations: new Map([[tablespaceOid, nativeTs]]),
      });
      assert.ok(result.reconstructed > 10, `only ${result.reconstructed} files reconstructed`);

      const reference = join(dir, 'reference');
      const referenceTs = join(dir, 'reference-ts');
      await pgCombinebackup(
        version,
        ['full', 'incr1', 'incr2'].map((name) => join(chain, name, 'data')),
        reference,
        new Map([[join(chain, 'incr2', 'ts'), referenceTs]]),
      );
      assertSameCombinedTrees([
        [native, reference],
        [nativeTs, referenceTs],
      ]);
      assert.equal(readlinkSync(join(native, 'pg_tblspc', String(tablespaceOid))), nativeTs);
      assert.doesNotMatch(readFileSync(join(native, 'backup_label'), 'utf8'), /INCREMENTAL FROM/);

      // Both parse the streamed WAL in pg_wal too, with pg_waldump of their version.
      await runPgClientTool(version, 'pg_verifybackup', [native], { timeoutMs: 300_000 });

      await runAs(null, 'chown', ['-R', `${pg.osUser}:`, native, nativeTs]);
      const copy = await startRecoveredCopy(native, { version });
      started.push(copy);
      assert.equal((await copy.query<{ state: string }>(STATE_SQL))[0]!.state, expectedState);
    });

    it('refuses a chain with a backup left out, naming it, before writing anything', async () => {
      const destination = join(dir, 'broken');
      await assert.rejects(
        combineChain({
          backups: [backupOf('full', false), backupOf('incr2', true)],
          destination,
          tablespaceDestinations: new Map([[tablespaceOid, join(dir, 'broken-ts')]]),
        }),
        /backup incr2 is based on the backup that started at .* but its parent full started at/,
      );
      assert.equal(existsSync(destination), false);
      rmSync(join(dir, 'broken-ts'), { recursive: true, force: true });
    });
  });
}
