/**
 * `barman recover` of a block-level incremental chain on PostgreSQL 17: a full backup and three
 * incrementals taken by pg_basebackup 17 (Debian 13 root) into a barman catalogue as Barman 3.11+
 * lays them out (`base/<id>/data`, `base/<id>/<tablespace oid>`, backup.info written through
 * src/catalog with parent_backup_id / children_backup_ids), WAL archived by put-wal. Between
 * backups: a truncated, a dropped, a created and a VACUUM FULL'ed table, a new tablespace.
 * Recovered by the CLI to the end and to a restore point inside the last incremental's WAL,
 * with the tablespace relocated, as a delta restore into a used directory, and with the
 * combine_mode refusals; PostgreSQL 17 started, exact rows checked. Last: the middle backup
 * removed by hand is refused by name before anything is written.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  emptyBackupInfo,
  formatBackupInfo,
  timestampFromDate,
  type BackupInfo,
} from '../../src/catalog/backup-info.js';
import { lsnToSegmentName, parseLsn } from '../../src/wal/names.js';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  PG17_TOOLS,
  chownTo,
  ensureDebian13Root,
  ensureOsUser,
  makeTempDir,
  registerExitCleanup,
  runAs,
  runBarman,
  runInDebian13,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  writeBarmanConfig,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_ts UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

const IDS = ['20260101T000001', '20260101T000002', '20260101T000003', '20260101T000004'];

describe('barman recover of an incremental chain (PostgreSQL 17)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  let base: string;
  let tablespaceOid: number;
  let tablespaceSource: string;
  let stateAtEnd: string;
  let stateAtPoint: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });

  const sql = (text: string) => pg.statements(text);

  /** pg_basebackup 17 into base/<id>/, then its backup.info (children added to its parent). */
  async function takeBackup(index: number): Promise<void> {
    const id = IDS[index]!;
    const parent = index === 0 ? null : IDS[index - 1]!;
    const target = join(base, id);
    const beginTime = new Date();
    const args = ['-d', pg.connectionString, '-D', join(target, 'data'), '-Fp', '-X', 'none', '-c', 'fast'];
    args.push('-T', `${tablespaceSource}=${join(target, String(tablespaceOid))}`);
    if (parent !== null) args.push(`--incremental=${join(base, parent, 'data', 'backup_manifest')}`);
    await runInDebian13(join(PG17_TOOLS, 'pg_basebackup'), args, { timeoutMs: 300_000 });
    const label = readFileSync(join(target, 'data', 'backup_label'), 'utf8');
    const manifest = JSON.parse(readFileSync(join(target, 'data', 'backup_manifest'), 'utf8')) as {
      'System-Identifier': number;
      'WAL-Ranges': Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }>;
    };
    const systemId = /"System-Identifier": (\d+)/.exec(
      readFileSync(join(target, 'data', 'backup_manifest'), 'utf8'),
    )![1]!;
    const range = manifest['WAL-Ranges'][0]!;
    const beginWal = /START WAL LOCATION: \S+ \(file (\w+)\)/.exec(label)![1]!;
    const endLsn = parseLsn(range['End-LSN']);
    const [version] = await pg.query<{ v: string }>('SELECT current_setting($1) AS v', [
      'server_version_num',
    ]);
    const info: BackupInfo = emptyBackupInfo('main', {
      status: 'DONE',
      mode: 'postgres',
      backup_label: label,
      begin_time: timestampFromDate(beginTime, 0),
      end_time: timestampFromDate(new Date(), 0),
      begin_xlog: range['Start-LSN'],
      begin_wal: beginWal,
      begin_offset: Number(parseLsn(range['Start-LSN']) % 16777216n),
      end_xlog: range['End-LSN'],
      end_wal: lsnToSegmentName(endLsn, range.Timeline, 16777216),
      end_offset: Number(endLsn % 16777216n),
      timeline: range.Timeline,
      version: Number(version!.v),
      systemid: systemId,
      pgdata: pg.dataDir,
      tablespaces: [{ name: 'ts1', oid: tablespaceOid, location: tablespaceSource }],
      summarize_wal: 'on',
      data_checksums: 'off',
      parent_backup_id: parent,
      children_backup_ids: null,
      laterKeysPresent: ['parent_backup_id', 'children_backup_ids', 'summarize_wal', 'data_checksums'],
    });
    writeInfo(id, info);
    if (parent !== null) {
      const parentInfo = readInfo(parent);
      writeInfo(parent, { ...parentInfo, children_backup_ids: [id] });
    }
    await runAs(null, 'chown', ['-R', 'postgres:postgres', target]);
  }

  const infos = new Map<string, BackupInfo>();
  const readInfo = (id: string) => infos.get(id)!;
  function writeInfo(id: string, info: BackupInfo): void {
    infos.set(id, info);
    mkdirSync(join(base, id), { recursive: true });
    // Written as Barman 3.11+ writes it; the catalogue reads it back through src/catalog.
    writeFileSync(join(base, id, 'backup.info'), formatBackupInfo(info));
  }

  async function recoverAndState(destination: string, args: string[], expectExit = 0): Promise<string> {
    const run = await barman(
      'recover',
      'main',
      IDS[3]!,
      destination,
      '--tablespace',
      `ts1:${destination}-ts`,
      ...args,
    );
    assert.equal(run.exitCode, expectExit, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Combining the incremental chain/);
    const server = await startRecoveredCopy(destination, { version: 17 });
    started.push(server);
    const [row] = await server.query<{ state: string }>(STATE_SQL);
    await server.stop();
    return row!.state;
  }

  before(async () => {
    await ensureDebian13Root();
    await ensureOsUser('pgrestore');
    dir = await makeTempDir('recover-chain', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'home/main', 'home/main/base', 'recovered', 'ts', 'remote']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), sub === 'remote' ? 'pgrestore' : 'postgres');
    }
    sshd = await startSshd({ users: ['postgres', 'pgrestore'] });
    base = join(dir, 'home/main/base');
    tablespaceSource = join(dir, 'ts');
    pg = await startPostgres({
      version: 17,
      settings: { summarize_wal: 'on' },
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', log_file: null },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          parallel_jobs: 2,
          archiver: 'on',
        },
      },
    });
    await sql(
      `CREATE TABLESPACE ts1 LOCATION '${tablespaceSource}';` +
        'CREATE TABLE t_ts (id int) TABLESPACE ts1; INSERT INTO t_ts SELECT generate_series(1, 3000);' +
        'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
        'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
        'CREATE TABLE t_vac (id int, v int); INSERT INTO t_vac SELECT i, i FROM generate_series(1, 20000) i;' +
        "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 100000) i;",
    );
    tablespaceOid = Number(
      (await pg.query<{ oid: number }>("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'"))[0]!.oid,
    );
    await takeBackup(0);
    await sql(
      'TRUNCATE t_trunc; INSERT INTO t_trunc SELECT generate_series(1, 10);' +
        'DROP TABLE t_drop; CREATE TABLE t_new (id int); INSERT INTO t_new SELECT generate_series(1, 500);' +
        'UPDATE big SET v = v + 1 WHERE id % 100 = 0;',
    );
    await takeBackup(1);
    await sql(
      'DELETE FROM t_vac WHERE id % 3 = 0; VACUUM FULL t_vac; INSERT INTO t_ts SELECT generate_series(3001, 4000);' +
        'UPDATE big SET v = v + 2 WHERE id % 50 = 0; INSERT INTO big SELECT i, i, null FROM generate_series(100001, 110000) i;',
    );
    await takeBackup(2);
    await sql(
      'UPDATE t_vac SET v = v * 2 WHERE id < 1000; INSERT INTO t_new SELECT generate_series(501, 600)',
    );
    await takeBackup(3);
    // Inside the last incremental's WAL: a restore point, then more changes past it.
    await sql("INSERT INTO t_ts SELECT generate_series(4001, 4100); SELECT pg_create_restore_point('point')");
    stateAtPoint = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    await sql('DELETE FROM big WHERE id > 105000; TRUNCATE t_new');
    stateAtEnd = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await sshd?.stop();
  });

  it('the catalogue holds a real chain: INCREMENTAL files, parents and children', async () => {
    const incrementals = readdirSync(join(base, IDS[3]!, 'data'), {
      recursive: true,
      encoding: 'utf8',
    }).filter((path) => /(^|\/)INCREMENTAL\./.test(path));
    assert.ok(incrementals.length > 10, `only ${incrementals.length} INCREMENTAL files`);
    const list = await barman('list-backup', 'main');
    assert.equal(list.exitCode, 0, list.stderr);
    for (const id of IDS) assert.match(list.stdout, new RegExp(id));
  });

  it('--dry-run names the chain', async () => {
    const run = await barman('recover', 'main', IDS[3]!, join(dir, 'recovered', 'dry'), '--dry-run');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`combined from the chain ${IDS.join(' -> ')}`));
    assert.equal(existsSync(join(dir, 'recovered', 'dry')), false);
  });

  it('recovers the chain to the end of the archive, the tablespace relocated', async () => {
    const destination = join(dir, 'recovered', 'end');
    assert.equal(await recoverAndState(destination, []), stateAtEnd);
    assert.ok(existsSync(join(destination, `backup_manifest.${IDS[3]}`)));
    assert.ok(readdirSync(`${destination}-ts`).length > 0, 'the tablespace went to its new location');
  });

  it('recovers the chain to a restore point inside the last incremental WAL', async () => {
    const state = await recoverAndState(join(dir, 'recovered', 'point'), [
      '--target-name',
      'point',
      '--target-action',
      'promote',
    ]);
    assert.equal(state, stateAtPoint);
    assert.notEqual(stateAtPoint, stateAtEnd);
  });

  it('--delta-restore combines into staging and reuses the files already in a used destination', async () => {
    const destination = join(dir, 'recovered', 'end');
    const run = await barman(
      'recover',
      'main',
      IDS[3]!,
      destination,
      '--tablespace',
      `ts1:${destination}-ts`,
      '--delta-restore',
      '-f',
      'json',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { main?: { reused_files: number } } & { reused_files?: number };
    const reused = result.reused_files ?? result.main?.reused_files ?? 0;
    assert.ok(reused > 100, `only ${reused} files reused: ${run.stdout}`);
    const server = await startRecoveredCopy(destination, { version: 17 });
    started.push(server);
    assert.equal((await server.query<{ state: string }>(STATE_SQL))[0]!.state, stateAtEnd);
    await server.stop();
  });

  it('combine_mode link is refused for a local recovery, clone where the file system cannot clone', async () => {
    const linked = join(dir, 'recovered', 'link');
    const link = await barman('recover', 'main', IDS[3]!, linked, '--combine-mode', 'link');
    assert.equal(link.exitCode, 1, link.stdout);
    assert.match(link.stderr, /combine_mode = link cannot be used for a local recovery/);
    assert.equal(existsSync(linked), false);
    // This rig's ext4 cannot clone: refused by name, never copied instead, and before anything is
    // written (probed beside the destination: no destination, tablespace or probe file left).
    const cloned = join(dir, 'recovered', 'clone');
    const clone = await barman(
      'recover',
      'main',
      IDS[3]!,
      cloned,
      '--tablespace',
      `ts1:${cloned}-ts`,
      '--combine-mode',
      'clone',
    );
    assert.equal(clone.exitCode, 1, clone.stdout);
    assert.match(
      clone.stderr,
      /combine_mode = clone: the file system of .* cannot clone files of the backups/,
    );
    assert.match(clone.stderr, /set combine_mode = copy/);
    assert.equal(existsSync(cloned), false);
    assert.equal(existsSync(`${cloned}-ts`), false);
    assert.deepEqual(
      readdirSync(join(dir, 'recovered')).filter((name) => name.startsWith('.barman-combine-probe')),
      [],
    );
    // tmpfs cannot clone either; nor hard-link the backups into a staging directory on it.
    const shm = mkdtempSync('/dev/shm/barman-ts-combine-');
    registerExitCleanup(() => rmSync(shm, { recursive: true, force: true }));
    await chownTo(shm, 'postgres');
    const onTmpfs = await barman(
      'recover',
      'main',
      IDS[3]!,
      join(shm, 'data'),
      '--tablespace',
      `ts1:${join(shm, 'ts')}`,
      '--combine-mode',
      'clone',
    );
    assert.equal(onTmpfs.exitCode, 1, onTmpfs.stdout);
    assert.match(
      onTmpfs.stderr,
      new RegExp(`combine_mode = clone: the file system of ${shm}/data cannot clone`),
    );
    const staged = await barman(
      'recover',
      'main',
      IDS[3]!,
      join(dir, 'recovered', 'end'),
      '--tablespace',
      `ts1:${join(dir, 'recovered', 'end')}-ts`,
      '--delta-restore',
      '--recovery-staging-path',
      join(shm, 'staging'),
      '--combine-mode',
      'link',
    );
    assert.equal(staged.exitCode, 1, staged.stdout);
    assert.match(
      staged.stderr,
      new RegExp(
        `combine_mode = link: the file system of ${shm}/staging cannot hard-link files of the backups`,
      ),
    );
    assert.deepEqual(readdirSync(shm), [], 'no destination, staging directory or probe file on tmpfs');
    const bad = await barman('recover', 'main', IDS[3]!, linked, '--combine-mode', 'fast');
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /combine.mode/);
  });

  it('recovers the chain over ssh: combined in staging (combine_mode link), sent by rsync, staging removed', async () => {
    const destination = join(dir, 'remote', 'data');
    const run = await barman(
      'recover',
      'main',
      IDS[3]!,
      destination,
      '--tablespace',
      `ts1:${join(dir, 'remote', 'ts')}`,
      '--remote-ssh-command',
      sshd.sshCommand('postgres', 'pgrestore'),
      '--combine-mode',
      'link',
    );
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Starting remote restore/);
    assert.match(run.stdout, /Combining the incremental chain/);
    const { stdout: owner } = await runAs(null, 'stat', ['-c', '%U %h', join(destination, 'PG_VERSION')]);
    assert.equal(owner.trim(), 'pgrestore 1', 'a copy owned by the remote user, not a link to the backup');
    const leftovers = readdirSync(join(dir, 'home', 'main')).filter((name) =>
      name.startsWith('barman-recover-'),
    );
    assert.deepEqual(leftovers, [], 'the staging directory is removed');
    const { stdout: links } = await runAs(null, 'stat', [
      '-c',
      '%h',
      join(base, IDS[3]!, 'data', 'PG_VERSION'),
    ]);
    assert.equal(links.trim(), '1', 'no hard link to the backup is left behind');
    const server = await startRecoveredCopy(destination, { version: 17, user: 'pgrestore' });
    started.push(server);
    assert.equal((await server.query<{ state: string }>(STATE_SQL))[0]!.state, stateAtEnd);
    await server.stop();
  });

  it('a chain whose middle backup was removed by hand is refused by name, nothing written', async () => {
    rmSync(join(base, IDS[1]!), { recursive: true, force: true });
    const destination = join(dir, 'recovered', 'broken');
    const run = await barman('recover', 'main', IDS[3]!, destination);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, new RegExp(`backup '${IDS[1]}', the parent of '${IDS[2]}', is missing`));
    assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace');
    assert.equal(existsSync(destination), false);
  });
});
