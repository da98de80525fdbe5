/**
 * barman backup (backup_method = postgres) on PostgreSQL 17 with barman-ts's own BASE_BACKUP
 * client: Debian 12's pg_basebackup 15 cannot serve 17, so the full backup is native too. A full
 * backup, an incremental on `latest-full` (after a truncate, a drop, a new table, a VACUUM FULL
 * and a new tablespace) and an incremental on that one taken under writes; each is accepted by
 * PostgreSQL 17's pg_verifybackup (Debian 13 root), is laid out as Barman 3.11+ lays out a
 * pg_basebackup -Fp backup, and carries Barman 3.11's chain fields; the chain, combined by
 * combineChain (equal to pg_combinebackup 17's result file by file) and recovered from the WAL
 * archive, starts on PostgreSQL 17 with every row. A
 * kill -9 during an incremental leaves a backup the next one marks FAILED, in its parent's
 * children, and refused as a parent. `barman recover --get-wal` of the chain starts PostgreSQL 17
 * fetching its WAL through get-wal, with every row.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import { combineChain } from '../../src/recovery/combine/combine.js';
import type { ChainBackup } from '../../src/recovery/combine/chain.js';
import { PosixStorage } from '../../src/storage/index.js';
import type { PostgresServer } from '../harness/index.js';
import {
  assertSameCombinedTrees,
  BARMAN_BIN,
  chownTo,
  killNow,
  PG17_TOOLS,
  pgCombinebackup,
  runAs,
  runBarman,
  runInDebian13,
  startBarman,
  startPostgres,
  startRecoveredCopy,
  waitFor,
  writeBarmanConfig,
  startIncrementalBackupRig,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || sum(id)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || sum(id)::text FROM t_ts UNION ALL " +
  "SELECT 'writes', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_writes UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

describe('barman backup --incremental (PostgreSQL 17, native BASE_BACKUP)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let base: string;
  let tablespaceOid: number;
  const ids: string[] = [];
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });
  const info = (id: string) =>
    parseBackupInfo(readFileSync(join(base, id, 'backup.info'), 'utf8'), `${id}/backup.info`);
  const infoText = (id: string) => readFileSync(join(base, id, 'backup.info'), 'utf8');
  const sql = (text: string) => pg.statements(text);
  const verify = (id: string) =>
    // -n: the backup holds no WAL (Barman archives it apart).
    runInDebian13(join(PG17_TOOLS, 'pg_verifybackup'), ['-n', join(base, id, 'data')], {
      timeoutMs: 300_000,
    });
  const newBackup = (before: readonly string[]) => {
    const added = readdirSync(base).filter((id) => !before.includes(id));
    assert.equal(added.length, 1, `new backups: ${added.join(', ')}`);
    return added[0]!;
  };

  before(async () => {
    ({ pg, dir, config, base } = await startIncrementalBackupRig('backup-incremental', 17));
    await sql(
      'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
        'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
        'CREATE TABLE t_vac (id int, v int); INSERT INTO t_vac SELECT i, i FROM generate_series(1, 20000) i;' +
        'CREATE TABLE t_writes (id int);' +
        "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 200000) i;",
    );
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('takes the full backup natively, in the layout of a pg_basebackup -Fp backup; pg_verifybackup accepts it', async () => {
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /Starting backup copy via BASE_BACKUP \(plain\)/);
    const id = readdirSync(base)[0]!;
    ids.push(id);
    const full = info(id);
    assert.equal(full.status, 'DONE');
    assert.equal(full.mode, 'postgres');
    // Barman 3.4 reads it: no 3.11+ key in a full backup's backup.info.
    assert.doesNotMatch(
      infoText(id),
      /^(parent_backup_id|children_backup_ids|summarize_wal|cluster_size|data_checksums)=/m,
    );
    for (const file of ['backup_label', 'backup_manifest', 'global/pg_control', 'PG_VERSION'])
      assert.ok(existsSync(join(base, id, 'data', file)), `data/${file} is missing`);
    assert.ok(!existsSync(join(base, id, 'data', 'tablespace_map')), 'a plain backup has no tablespace_map');
    assert.equal(lstatSync(join(base, id, 'data', 'backup_manifest')).mode & 0o777, 0o600);
    await verify(id);
  });

  it('takes an incremental on latest-full with Barman 3.11+ chain fields; pg_verifybackup accepts it', async () => {
    const tablespaceSource = join(dir, 'tbs');
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
    const before = readdirSync(base);
    const run = await barman('backup', '--incremental', 'latest-full', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    assert.match(run.stdout, new RegExp(`BASE_BACKUP \\(INCREMENTAL, parent ${ids[0]}\\)`));
    const id = newBackup(before);
    ids.push(id);
    const incremental = info(id);
    assert.equal(incremental.status, 'DONE');
    assert.equal(incremental.parent_backup_id, ids[0]);
    assert.equal(incremental.summarize_wal, 'on');
    const [checksums] = await pg.query<{ data_checksums: string }>('SHOW data_checksums');
    assert.equal(incremental.data_checksums, checksums!.data_checksums);
    assert.ok((incremental.cluster_size ?? 0) > 20_000_000, `cluster_size ${incremental.cluster_size}`);
    assert.match(infoText(id), /^children_backup_ids=None$/m);
    assert.deepEqual(info(ids[0]!).children_backup_ids, [id]);
    const data = join(base, id, 'data');
    assert.ok(
      readdirSync(join(data, 'base'), { recursive: true }).some((name) => /INCREMENTAL\./.test(String(name))),
      'no INCREMENTAL files: the backup is not incremental',
    );
    assert.equal(
      readlinkSync(join(data, 'pg_tblspc', String(tablespaceOid))),
      join(base, id, String(tablespaceOid)),
    );
    assert.ok(readdirSync(join(base, id, String(tablespaceOid))).some((name) => name.startsWith('PG_17_')));
    await verify(id);
  });

  it('takes an incremental on an incremental while the database is written; the combined chain recovers every row', async () => {
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await pg.query('INSERT INTO t_writes SELECT generate_series($1::int, $1::int + 99)', [written + 1]);
        written += 100;
      }
    })();
    const before = readdirSync(base);
    const run = await barman('backup', '--incremental', ids[1]!, '--wait', 'main');
    writing = false;
    await writer;
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    assert.ok(written > 0);
    const id = newBackup(before);
    ids.push(id);
    assert.equal(info(id).parent_backup_id, ids[1]);
    assert.deepEqual(info(ids[1]!).children_backup_ids, [id]);
    // Only the blocks changed since its parent: far smaller than the full backup.
    assert.ok(
      (info(id).size ?? Infinity) < (info(ids[0]!).size ?? 0) / 4,
      `incremental ${info(id).size} bytes, full ${info(ids[0]!).size} bytes`,
    );
    await verify(id);
    await sql(
      'INSERT INTO t_new SELECT generate_series(501, 600); UPDATE big SET v = v + 2 WHERE id % 50 = 0',
    );
    const expected = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);

    const destination = join(dir, 'recovered', 'data');
    const tablespace = join(dir, 'recovered', 'ts');
    const storage = new PosixStorage(base);
    const chain: ChainBackup[] = ids.map((backupId, index) => ({
      name: backupId,
      storage,
      dataDirectory: `${backupId}/data`,
      tablespaces: new Map(index === 0 ? [] : [[tablespaceOid, `${backupId}/${tablespaceOid}`]]),
    }));
    const result = await combineChain({
      backups: chain,
      destination,
      tablespaceDestinations: new Map([[tablespaceOid, tablespace]]),
    });
    assert.ok(result.reconstructed > 10, `only ${result.reconstructed} files reconstructed`);
    await runInDebian13(join(PG17_TOOLS, 'pg_verifybackup'), ['-n', destination], { timeoutMs: 300_000 });
    // pg_combinebackup 17 of the same stored chain: the same files, byte for byte.
    await pgCombinebackup(
      17,
      ids.map((backupId) => join(base, backupId, 'data')),
      join(dir, 'recovered', 'reference'),
      new Map([[join(base, ids[2]!, String(tablespaceOid)), join(dir, 'recovered', 'reference-ts')]]),
    );
    assertSameCombinedTrees([
      [destination, join(dir, 'recovered', 'reference')],
      [tablespace, join(dir, 'recovered', 'reference-ts')],
    ]);
    await runAs(null, 'chown', ['-R', 'postgres:', destination, tablespace]);
    const copy = await startPostgres({
      version: 17,
      existingDataDir: destination,
      restoreCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q get-wal main %f > %p`,
    });
    started.push(copy);
    await waitFor(
      'the end of recovery',
      async () => {
        const [row] = await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        return row?.r === false;
      },
      { timeoutMs: 120_000 },
    );
    assert.equal((await copy.query<{ state: string }>(STATE_SQL))[0]!.state, expected);
    await copy.stop();
  });

  it('kill -9 during an incremental: the next backup marks it FAILED, keeps it in its parent, refuses it as a parent', async () => {
    await sql("UPDATE big SET pad = repeat('y', 100) WHERE id % 10 = 0");
    const before = readdirSync(base);
    // 32 kB/s (MAX_RATE's minimum): the copy lasts long enough to be killed in the middle.
    const running = startBarman([
      '-c',
      config,
      'backup',
      '--incremental',
      'last-full',
      '--bwlimit',
      '32',
      'main',
    ]);
    let killed = '';
    await waitFor(
      'the incremental to be copying',
      () => {
        const added = readdirSync(base).filter((id) => !before.includes(id));
        if (added.length !== 1) return false;
        killed = added[0]!;
        const data = join(base, killed, 'data');
        return existsSync(data) && readdirSync(data).length > 0;
      },
      { timeoutMs: 120_000 },
    );
    assert.ok(killNow(running.child.pid!));
    await running.exited;
    assert.equal(info(killed).status, 'STARTED');
    assert.equal(info(killed).parent_backup_id, ids[0]);
    assert.ok(
      info(ids[0]!).children_backup_ids?.includes(killed),
      'the parent lists its child from the start',
    );

    const next = await barman('backup', '--incremental', 'last-full', '--wait', 'main');
    assert.equal(next.exitCode, 0, next.stderr + next.stdout);
    assert.match(next.stderr + next.stdout, new RegExp(`backup ${killed} was interrupted`));
    assert.equal(info(killed).status, 'FAILED');
    const after = readdirSync(base).filter((id) => !before.includes(id) && id !== killed);
    assert.equal(after.length, 1);
    assert.deepEqual(info(ids[0]!).children_backup_ids, [ids[1], killed, after[0]]);
    await verify(after[0]!);

    const refused = await barman('backup', '--incremental', killed, 'main');
    assert.equal(refused.exitCode, 1, refused.stdout);
    assert.match(
      refused.stderr,
      new RegExp(
        `failed to start backup: Backup ${killed} cannot be the parent of an incremental backup: its status is FAILED`,
      ),
    );
  });

  it('recover --get-wal of the chain: restore_command fetches the WAL from the catalogue, every row back', async () => {
    const expected = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const destination = join(dir, 'recovered', 'getwal');
    const run = await barman(
      'recover',
      'main',
      ids[2]!,
      destination,
      '--get-wal',
      '--tablespace',
      `ts1:${destination}-ts`,
    );
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Combining the incremental chain/);
    assert.match(
      readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8'),
      new RegExp(`^restore_command = '.* -c ${config} -q get-wal -P main %f > %p'$`, 'm'),
    );
    const copy = await startRecoveredCopy(destination, { version: 17 });
    started.push(copy);
    assert.equal((await copy.query<{ state: string }>(STATE_SQL))[0]!.state, expected);
    await copy.stop();
  });

  it("Barman 3.13 (Debian 13 root) lists barman-ts's chain and shows an incremental's parent", async () => {
    // Inside the root, the host's postgres uid is named barman: Barman 3.13 drops to it.
    const logs = join(dir, 'log313');
    mkdirSync(logs);
    await chownTo(logs, 'postgres');
    const config313 = writeBarmanConfig({
      dir,
      file: 'barman313.conf',
      mode: 0o644,
      global: { barman_user: 'barman', log_file: join(logs, 'barman.log') },
      servers: {
        main: {
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: 'on',
        },
      },
    });
    const list = await runInDebian13('/usr/bin/barman', ['-c', config313, 'list-backups', 'main'], {
      timeoutMs: 120_000,
    });
    for (const id of ids) assert.match(list.stdout, new RegExp(`^main ${id} `, 'm'), list.stdout);
    const show = await runInDebian13('/usr/bin/barman', ['-c', config313, 'show-backup', 'main', ids[2]!], {
      timeoutMs: 120_000,
    });
    assert.match(show.stdout, /incremental/i, show.stdout);
    assert.match(show.stdout, new RegExp(`Parent Backup\\s*:\\s*${ids[1]}`), show.stdout);
  });
});
