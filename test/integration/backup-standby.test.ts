/**
 * `barman backup` of a streaming standby (conninfo -> standby, primary_conninfo -> primary) with
 * the local-rsync and postgres methods, and of PostgreSQL 17. The primary archives its WAL with
 * `barman put-wal`; the standby runs archive_mode = always (archive_command /bin/true), so its
 * backup stop waits for the last WAL file to be completed, which on an idle primary happens only
 * because barman-ts switches WAL there. Each backup is restored and started, and must hold every
 * row committed on the primary while it ran. primary_checkpoint_timeout forces a CHECKPOINT on
 * the primary when the last WAL file does not arrive. PostgreSQL 17: local-rsync backup and
 * restore with the PG17 binaries; the postgres method stops at the pre-backup check because
 * pg_basebackup 15 cannot back up 17.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  restoreAndStart,
  runBarman,
  startPostgres,
  startStandby,
  waitFor,
  waitForEndOfRecovery,
  waitForReplay,
  writeBarmanConfig,
  readBackupInfoFields,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

function lsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** Inserts rows one small transaction at a time until stopped; counts the committed ones. */
function startInserter(pg: PostgresServer, table: string, firstId: number) {
  let committed = 0;
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      await pg.query(`INSERT INTO ${table} VALUES ($1, 'during backup')`, [firstId + committed]);
      committed += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop(): Promise<number> {
      stopped = true;
      await running;
      return committed;
    },
  };
}

describe('backups of a streaming standby', { concurrency: 1 }, () => {
  let primary: PostgresServer;
  let standby: PostgresServer;
  let dir: string;
  let config: string;
  const restored: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 150_000 });
  const baseOf = (server: string) => join(dir, 'home', server, 'base');
  const backupIds = (server: string) => readdirSync(baseOf(server)).sort();
  const pauseFlag = () => join(dir, 'pause-archiving');
  let rows = 0;
  /** Both servers back up the standby (archive_command, run as postgres, reads the file). */
  const writeConfig = (file: string, standbyOptions: IniSection = {}) => {
    const server = (method: string, options: IniSection = {}): IniSection => ({
      conninfo: standby.conninfo,
      primary_conninfo: primary.conninfo,
      backup_method: method,
      immediate_checkpoint: true,
      archiver: true,
      path_prefix: PG15_BIN,
      ...options,
    });
    return writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: { barman_user: 'postgres', compression: 'gzip' },
      servers: {
        standby: server('local-rsync', { reuse_backup: 'link', parallel_jobs: 2, ...standbyOptions }),
        'standby-pg': server('postgres'),
      },
    });
  };

  before(async () => {
    dir = await makeTempDir('backup-standby', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    primary = await startPostgres({
      version: 15,
      // Both servers archive the primary's WAL; a flag file makes archiving fail (paused).
      archiveCommand: `test ! -f ${pauseFlag()} && ${putWal('standby')} && ${putWal('standby-pg')}`,
    });
    await primary.query('CREATE TABLE accounts (id int PRIMARY KEY, note text)');
    await primary.query("INSERT INTO accounts SELECT g, 'before backup' FROM generate_series(1, 20000) g");
    rows = 20000;
    // archive_mode = always: pg_backup_stop on the standby waits until its last WAL file is complete.
    standby = await startStandby(primary, {
      settings: { archive_mode: 'always', archive_command: '/bin/true' },
    });
    writeConfig(config);
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await standby?.stop();
    await primary?.stop();
  });

  /** Backs up `server` while rows are committed on the primary, then restores it and counts them. */
  async function backupRestoreAndCount(server: string): Promise<void> {
    await waitForReplay(primary, standby);
    const inserter = startInserter(primary, 'accounts', rows + 1);
    const started = Date.now();
    const run = await barman('backup', '--wait', server);
    rows += await inserter.stop();
    const elapsed = Date.now() - started;
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /WARNING|ERROR/, run.stderr);
    assert.ok(elapsed < 60_000, `the backup of an idle-ish primary's standby took ${elapsed} ms`);
    const id = backupIds(server).at(-1)!;
    const info = readBackupInfoFields(join(baseOf(server), id, 'backup.info'));
    assert.equal(info.status, 'DONE');
    assert.match(info.begin_wal!, /^000000010000000000000[0-9A-F]{3}$/);
    assert.match(info.end_wal!, /^000000010000000000000[0-9A-F]{3}$/);
    assert.equal(info.timeline, '1');
    assert.ok(info.end_wal! >= info.begin_wal!, `${info.begin_wal} .. ${info.end_wal}`);
    assert.match(run.stdout, /Backup start at LSN: [0-9A-F]+\/[0-9A-F]+ \([0-9A-F]{24}, [0-9A-F]{8}\)\n/);
    assert.match(run.stdout, /Backup end at LSN: [0-9A-F]+\/[0-9A-F]+ \([0-9A-F]{24}, [0-9A-F]{8}\)\n/);
    // The standby cannot create restore points: none was attempted, and nothing failed.
    const log = readFileSync(join(dir, 'log/barman.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes(`"backup":"${id}"`))
      .join('\n');
    assert.doesNotMatch(log, /restore point/i);
    // While the stop waited for its last WAL file, the first switch on the primary completed it.
    assert.match(log, /pg_switch_wal\(\) on the primary closed WAL file [0-9A-F]{24} \(switch 1 of 10\)/);
    assert.doesNotMatch(log, /switch 2 of 10/);
    // After the backup, the primary (not the standby) switched WAL.
    assert.match(
      log,
      /pg_switch_wal\(\) on the primary closed WAL file [0-9A-F]{24}"|no WAL switch needed on the primary/,
    );

    // Every row committed so far must be in the archive for the restore: close the primary's segment.
    const switched = await barman('switch-wal', '--archive', '--archive-timeout', '60', server);
    assert.equal(switched.exitCode, 0, switched.stderr);
    const copy = await restoreAndStart({ backupDirectory: join(baseOf(server), id), config, server });
    restored.push(copy);
    await waitForEndOfRecovery(copy);
    const [count] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
    assert.equal(Number(count!.n), rows, 'every row committed on the primary');
    // The end PostgreSQL needed to reach consistency is within what the backup said it needs.
    const recovered = /completed backup recovery with redo LSN (\S+) and end LSN (\S+)/.exec(
      readFileSync(copy.logFile, 'utf8'),
    );
    assert.ok(recovered, 'the restored server reports its backup recovery');
    assert.equal(recovered[1], info.begin_xlog, 'redo starts where the backup began');
    assert.ok(
      lsn(recovered[2]!) <= lsn(info.end_xlog!),
      `backup end ${recovered[2]} is covered by end_xlog ${info.end_xlog}`,
    );
    await copy.stop();
  }

  it('local-rsync: pg_backup_stop on the standby completes because WAL is switched on the primary; restores', async () => {
    await backupRestoreAndCount('standby');
  });

  it('postgres: pg_basebackup from the standby, WAL switched on the primary while it waits; restores', async () => {
    await backupRestoreAndCount('standby-pg');
  });

  it('primary_checkpoint_timeout: a CHECKPOINT is forced on the primary when the last WAL file does not arrive', async () => {
    const timeoutConfig = writeConfig('checkpoint.conf', { primary_checkpoint_timeout: 3 });
    const checkpoints = async () =>
      Number(
        (await primary.query<{ n: string }>('SELECT checkpoints_req::text AS n FROM pg_stat_bgwriter'))[0]!.n,
      );
    const before = await checkpoints();
    writeFileSync(pauseFlag(), '');
    try {
      // New WAL on the primary that cannot be archived: the backup's last WAL file will not arrive.
      await primary.query(
        `INSERT INTO accounts SELECT g, 'unarchived' FROM generate_series(${rows + 1}, ${rows + 100}) g`,
      );
      rows += 100;
      await waitForReplay(primary, standby);
      const run = await runBarman(['-c', timeoutConfig, 'backup', 'standby'], { timeoutMs: 120_000 });
      assert.equal(run.exitCode, 0, run.stderr);
      const id = backupIds('standby').at(-1)!;
      const info = readBackupInfoFields(join(baseOf('standby'), id, 'backup.info'));
      assert.equal(info.status, 'WAITING_FOR_WALS');
      assert.match(
        run.stderr,
        new RegExp(
          `WARNING: The WAL file ${info.end_wal} has not been received in 3 seconds: forcing a CHECKPOINT and a WAL switch on the primary \\(primary_checkpoint_timeout\\)`,
        ),
      );
      assert.match(run.stderr, /IMPORTANT: this backup is classified as WAITING_FOR_WALS/);
      assert.ok((await checkpoints()) > before, 'a CHECKPOINT ran on the primary');
    } finally {
      rmSync(pauseFlag(), { force: true });
    }
    // Wake the primary's archiver, which sleeps up to a minute after failures: a new WAL file to archive.
    await primary.query("INSERT INTO accounts VALUES (-1, 'wake up')");
    rows += 1;
    await primary.query('SELECT pg_switch_wal()');
    // Archiving resumes: cron archives the WAL and the backup becomes DONE.
    const id = backupIds('standby').at(-1)!;
    await waitFor(
      'the backup to become DONE once archiving resumes',
      async () => {
        await runBarman(['-c', config, 'cron']);
        return readBackupInfoFields(join(baseOf('standby'), id, 'backup.info')).status === 'DONE';
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
  });
});

describe('PostgreSQL 17 (embedded)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const restored: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 150_000 });

  before(async () => {
    dir = await makeTempDir('backup-pg17', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    pg = await startPostgres({
      version: 17,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal pg17 --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        pg17: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          reuse_backup: 'link',
          parallel_jobs: 2,
          immediate_checkpoint: true,
          archiver: true,
        },
        'pg17-basebackup': {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: true,
          path_prefix: PG15_BIN,
        },
      },
    });
    await pg.query('CREATE TABLE t (id int, note text)');
    await pg.query("INSERT INTO t SELECT g, 'pg17' FROM generate_series(1, 30000) g");
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await pg?.stop();
  });

  it('local-rsync backs up PostgreSQL 17 and the copy restores with the PostgreSQL 17 binaries', async () => {
    const run = await barman('backup', '--wait', 'pg17');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    const id = readdirSync(join(dir, 'home/pg17/base')).at(-1)!;
    const info = readBackupInfoFields(join(dir, 'home/pg17/base', id, 'backup.info'));
    assert.equal(info.status, 'DONE');
    assert.match(info.version!, /^17\d{4}$/);
    await pg.query("INSERT INTO t SELECT g, 'after' FROM generate_series(30001, 31000) g");
    const switched = await barman('switch-wal', '--archive', '--archive-timeout', '60', 'pg17');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const copy = await restoreAndStart({
      backupDirectory: join(dir, 'home/pg17/base', id),
      config,
      server: 'pg17',
      version: 17,
    });
    restored.push(copy);
    await waitForEndOfRecovery(copy);
    const [version] = await copy.query<{ v: string }>('SHOW server_version_num');
    assert.match(Object.values(version!)[0] as string, /^17/);
    const [count] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM t');
    assert.equal(count!.n, '31000');
  });

  it('the postgres method with pg_basebackup 15 (too old for 17) backs up with the native BASE_BACKUP client', async () => {
    // Its WAL is archived for the other server: the backup stays WAITING_FOR_WALS.
    const run = await barman('backup', 'pg17-basebackup');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Starting backup copy via BASE_BACKUP \(plain\)/);
    const [id] = readdirSync(join(dir, 'home/pg17-basebackup/base'));
    const info = readBackupInfoFields(join(dir, 'home/pg17-basebackup/base', id!, 'backup.info'));
    assert.equal(info.status, 'WAITING_FOR_WALS');
    assert.ok(existsSync(join(dir, 'home/pg17-basebackup/base', id!, 'data', 'backup_manifest')));
    // PostgreSQL 17 starts on it, replaying the WAL the other server of this cluster archived.
    const [expected] = await pg.query<{ n: string }>('SELECT count(*) AS n FROM t');
    const switched = await barman('switch-wal', '--archive', '--archive-timeout', '60', 'pg17');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const copy = await restoreAndStart({
      backupDirectory: join(dir, 'home/pg17-basebackup/base', id!),
      config,
      server: 'pg17',
      version: 17,
    });
    restored.push(copy);
    await waitForEndOfRecovery(copy);
    const [count] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM t');
    assert.equal(count!.n, expected!.n);
  });
});
