/**
 * backup_options = exclusive_backup against a real PostgreSQL 14 (the last version with
 * exclusive backups): local-rsync and rsync over a real sshd take exclusive backups (backup_label
 * and tablespace_map copied from PGDATA, as Barman does) that recover and start; a failed or
 * interrupted copy stops the exclusive backup; another tool's exclusive backup is left alone.
 * On PostgreSQL 15 the backup is refused before it starts and check says why.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  isRoot,
  makeTempDir,
  runBarman,
  startBarman,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  waitFor,
  writeBarmanConfig,
  readBackupInfoFields,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

describe('exclusive backups', { concurrency: 1, skip: !isRoot() && 'needs root (users, sshd)' }, () => {
  let pg: PostgresServer;
  let pg15: PostgresServer | undefined;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  const base = (server: string) => join(dir, 'home', server, 'base');
  const backupIds = (server: string) => (existsSync(base(server)) ? readdirSync(base(server)).sort() : []);
  /** The three servers (archive_command, run as postgres, reads the file); `local` adds to [local]. */
  const writeConfig = (file: string, local: IniSection = {}) => {
    const server = (options: IniSection): IniSection => ({
      conninfo: pg.conninfo,
      backup_options: 'exclusive_backup',
      immediate_checkpoint: true,
      archiver: true,
      path_prefix: PG15_BIN,
      ...options,
    });
    const sshCommand = sshd.sshCommand('postgres', 'postgres');
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        local: server({ backup_method: 'local-rsync', ...local }),
        remote: server({ backup_method: 'rsync', ssh_command: sshCommand }),
        broken: server({
          backup_method: 'rsync',
          ssh_command: sshCommand,
          path_prefix: `${dir}/fakebin:${PG15_BIN}`,
        }),
      },
    });
  };
  const inBackup = async () => (await pg.query<{ b: boolean }>('SELECT pg_is_in_backup() AS b'))[0]!.b;

  before(async () => {
    dir = await makeTempDir('backup-exclusive', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'log', 'tbs', 'fakebin', 'restore']) mkdirSync(join(dir, sub));
    for (const sub of ['home', 'log', 'tbs', 'restore']) await chownTo(join(dir, sub), 'postgres');
    sshd = await startSshd({ users: ['postgres'] });
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    pg = await startPostgres({
      version: 14,
      archiveCommand: `${putWal('local')} && ${putWal('remote')} && ${putWal('broken')}`,
    });
    // An rsync that fails every data copy (its version answer is the real one's).
    writeFileSync(
      join(dir, 'fakebin/rsync'),
      '#!/bin/sh\ncase "$*" in *--files-from*) echo "rsync: connection unexpectedly closed" >&2; exit 12;; esac\nexec /usr/bin/rsync "$@"\n',
    );
    chmodSync(join(dir, 'fakebin/rsync'), 0o755);
    writeConfig(config);
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE accounts (id int) TABLESPACE tbs1');
    await pg.query('CREATE TABLE notes (id int, note text)');
    await pg.query('INSERT INTO accounts SELECT generate_series(1, 20000)');
    await pg.query("INSERT INTO notes SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i");
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await pg15?.stop();
    await sshd?.stop();
  });

  for (const server of ['local', 'remote']) {
    it(`${server}: an exclusive backup copies PGDATA's backup_label and tablespace_map, then recovers`, async () => {
      const check = await barman('check', server);
      assert.match(check.stdout, /^\texclusive backup supported: OK$/m);
      assert.match(check.stdout, /^\tnot in recovery: OK$/m);
      const run = await barman('backup', '--wait', server);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(`Starting backup using rsync-exclusive method for server ${server}`),
      );
      const id = backupIds(server).at(-1)!;
      const info = readBackupInfoFields(join(base(server), id, 'backup.info'));
      assert.equal(info.mode, 'rsync-exclusive');
      assert.equal(info.status, 'DONE');
      const label = readFileSync(join(base(server), id, 'data/backup_label'), 'utf8');
      assert.match(label, new RegExp(`^LABEL: Barman backup ${server} ${id}$`, 'm'));
      assert.match(
        label,
        new RegExp(`^START WAL LOCATION: ${info.begin_xlog} \\(file ${info.begin_wal}\\)$`, 'm'),
      );
      assert.match(info.backup_label!, /START WAL LOCATION/);
      const oid = readdirSync(join(base(server), id)).find((name) => /^\d+$/.test(name))!;
      assert.match(
        readFileSync(join(base(server), id, 'data/tablespace_map'), 'utf8'),
        new RegExp(`^${oid} ${dir}/tbs$`, 'm'),
      );
      // The backup is over on PostgreSQL: nothing left in PGDATA.
      assert.equal(await inBackup(), false);
      assert.equal(existsSync(join(pg.dataDir, 'backup_label')), false);

      const destination = join(dir, 'restore', server);
      const tablespace = join(dir, 'restore', `${server}-tbs`);
      const recover = await barman('recover', server, id, destination, '--tablespace', `tbs1:${tablespace}`);
      assert.equal(recover.exitCode, 0, recover.stderr);
      assert.equal(readFileSync(join(destination, 'backup_label'), 'utf8'), label);
      const copy = await startRecoveredCopy(destination, { version: 14 });
      started.push(copy);
      const [row] = await copy.query<{ accounts: string; notes: string }>(
        'SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM notes) AS notes',
      );
      assert.deepEqual(row, { accounts: '20000', notes: '20000' });
      await copy.stop();
    });
  }

  it('a failed copy stops the exclusive backup and the backup is FAILED', async () => {
    const run = await barman('backup', 'broken');
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /data transfer failure/);
    const info = readBackupInfoFields(join(base('broken'), backupIds('broken').at(-1)!, 'backup.info'));
    assert.equal(info.status, 'FAILED');
    assert.equal(await inBackup(), false, 'pg_stop_backup() was called');
    assert.equal(existsSync(join(pg.dataDir, 'backup_label')), false);
  });

  it('SIGINT during the copy stops the exclusive backup', async () => {
    const slow = join(dir, 'slow.conf');
    writeConfig(slow, { bandwidth_limit: 1000 });
    const known = new Set(backupIds('local'));
    const running = startBarman(['-c', slow, 'backup', 'local']);
    await waitFor('the exclusive backup to be copying', async () => {
      const id = backupIds('local').find((other) => !known.has(other));
      return (
        id !== undefined &&
        existsSync(join(base('local'), id, 'data')) &&
        statSync(join(base('local'), id, 'data')).isDirectory() &&
        (await inBackup())
      );
    });
    running.child.kill('SIGINT');
    const exited = await running.exited;
    assert.equal(exited.exitCode, 1, exited.stderr);
    assert.match(exited.stderr, /interrupted by SIGINT/);
    assert.equal(await inBackup(), false);
    const id = backupIds('local').find((other) => !known.has(other))!;
    assert.equal(readBackupInfoFields(join(base('local'), id, 'backup.info')).status, 'FAILED');
  });

  it("another tool's exclusive backup is neither joined nor stopped", async () => {
    await pg.query("SELECT pg_start_backup('someone else', true, true)");
    try {
      const run = await barman('backup', 'local');
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /an exclusive backup is already in progress on PostgreSQL/);
      assert.match(run.stderr, /SELECT pg_stop_backup\(\)/);
      assert.equal(await inBackup(), true, 'still running');
    } finally {
      await pg.query('SELECT pg_stop_backup()');
    }
  });

  it('PostgreSQL 15: refused before the backup starts, and check says why', async () => {
    pg15 = await startPostgres({ version: 15 });
    const conf = join(dir, 'pg15.conf');
    writeBarmanConfig({
      dir,
      file: conf,
      mode: 0o644,
      global: { barman_user: 'postgres', barman_home: `${dir}/home15`, log_file: `${dir}/log/barman15.log` },
      servers: {
        pg15: {
          conninfo: pg15.conninfo,
          backup_method: 'local-rsync',
          backup_options: 'exclusive_backup',
          archiver: true,
        },
      },
    });
    const check = await runBarman(['-c', conf, 'check', 'pg15']);
    assert.equal(check.exitCode, 1);
    assert.match(
      check.stdout,
      /^\texclusive backup supported: FAILED \(exclusive backups not supported on PostgreSQL 15: set backup_options = concurrent_backup\)$/m,
    );
    const run = await runBarman(['-c', conf, 'backup', 'pg15']);
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /Impossible to start the backup: .*exclusive backup supported/);
    assert.deepEqual(
      existsSync(join(dir, 'home15/pg15/base')) ? readdirSync(join(dir, 'home15/pg15/base')) : [],
      [],
    );
  });
});
