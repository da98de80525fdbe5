/**
 * The native combine of a PostgreSQL 17 incremental chain against PostgreSQL's own tools: a full
 * backup and two incrementals taken by pg_basebackup 17 (Debian 13 root) around a truncated,
 * a dropped, a created and a VACUUM FULL'ed table, updates on a bigger one and a new tablespace;
 * combined natively and by pg_combinebackup, compared file by file; pg_verifybackup accepts the
 * native result; PostgreSQL 17 starts on it with the rows of the last backup.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { combineChain } from '../../src/recovery/combine/combine.js';
import type { ChainBackup } from '../../src/recovery/combine/chain.js';
import { PosixStorage } from '../../src/storage/index.js';
import type { PostgresServer } from '../harness/index.js';
import {
  PG17_TOOLS,
  ensureDebian13Root,
  makeTempDir,
  runAs,
  runInDebian13,
  startPostgres,
  startRecoveredCopy,
} from '../harness/index.js';

/** Every entry below `root`: relative path → content hash, `link` or `dir`. */
function treeOf(root: string, prefix = ''): Map<string, string> {
  const entries = new Map<string, string>();
  for (const name of readdirSync(join(root, prefix))) {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    const info = lstatSync(join(root, relative));
    if (info.isSymbolicLink()) entries.set(relative, 'link');
    else if (info.isDirectory()) {
      entries.set(relative, 'dir');
      for (const [path, kind] of treeOf(root, relative)) entries.set(path, kind);
    } else
      entries.set(
        relative,
        createHash('sha256')
          .update(readFileSync(join(root, relative)))
          .digest('hex'),
      );
  }
  return entries;
}

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || sum(id)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || sum(id)::text FROM t_ts UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

describe('native combine of a PostgreSQL 17 incremental chain', { concurrency: 1 }, () => {
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
    await runInDebian13(join(PG17_TOOLS, 'pg_basebackup'), args, { timeoutMs: 300_000 });
  };

  const backupOf = (name: string, withTablespace: boolean): ChainBackup => ({
    name,
    storage: new PosixStorage(chain),
    dataDirectory: `${name}/data`,
    tablespaces: new Map(withTablespace ? [[tablespaceOid, `${name}/ts`]] : []),
  });

  before(async () => {
    await ensureDebian13Root();
    dir = await makeTempDir('combine');
    chain = join(dir, 'chain');
    mkdirSync(chain);
    pg = await startPostgres({ version: 17, settings: { summarize_wal: 'on' } });
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

  it('equals pg_combinebackup file by file, pg_verifybackup accepts it, PostgreSQL 17 starts on it', async () => {
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
    await runInDebian13(
      join(PG17_TOOLS, 'pg_combinebackup'),
      [
        ...['full', 'incr1', 'incr2'].map((name) => join(chain, name, 'data')),
        '-o',
        reference,
        '-T',
        `${join(chain, 'incr2', 'ts')}=${referenceTs}`,
      ],
      { timeoutMs: 300_000 },
    );

    // backup_manifest legitimately differs: its timestamps (both write CRC32C for the files they
    // build and keep the backups' checksums of files copied whole). Everything else is the same
    // bytes, the same directories, the same links.
    for (const [ours, theirs] of [
      [native, reference],
      [nativeTs, referenceTs],
    ] as const) {
      const left = treeOf(ours);
      const right = treeOf(theirs);
      left.delete('backup_manifest');
      right.delete('backup_manifest');
      assert.deepEqual(
        [...left.keys()].sort(),
        [...right.keys()].sort(),
        `${ours} and ${theirs} hold other paths`,
      );
      const differing = [...left].filter(([path, hash]) => right.get(path) !== hash).map(([path]) => path);
      assert.deepEqual(differing, [], `files that differ from pg_combinebackup's: ${differing.join(', ')}`);
    }
    assert.equal(readlinkSync(join(native, 'pg_tblspc', String(tablespaceOid))), nativeTs);
    assert.doesNotMatch(readFileSync(join(native, 'backup_label'), 'utf8'), /INCREMENTAL FROM/);

    await runInDebian13(join(PG17_TOOLS, 'pg_verifybackup'), [native], { timeoutMs: 300_000 });

    await runAs(null, 'chown', ['-R', `${pg.osUser}:`, native, nativeTs]);
    const copy = await startRecoveredCopy(native, { version: 17 });
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
