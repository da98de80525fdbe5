/**
 * Barman 3.x's remaining recover and list-files options against a real PostgreSQL 15 and a real
 * sshd: `--staging-wal-directory` and `--recovery-conf-filename` in a remote point-in-time
 * recovery (PostgreSQL started on the result, rows read back, the staging directory removed by
 * recovery_end_command), `--recovery-option-port` in the barman-wal-restore restore_command, and
 * `list-files --list-empty-directories` checked against `find -type d -empty`.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  chownTo,
  ensureOsUser,
  lookupOsUser,
  makeTempDir,
  runAs,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  writeBarmanConfig,
} from '../harness/index.js';

describe(
  'recover --staging-wal-directory/--recovery-conf-filename/--recovery-option-port, list-files --list-empty-directories',
  { concurrency: 1 },
  () => {
    let pg: PostgresServer;
    let sshd: SshServer;
    let dir: string;
    let config: string;
    let backupId: string;
    let afterFirstBatch: string;
    const started: PostgresServer[] = [];
    const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

    before(async () => {
      await ensureOsUser('barman');
      await ensureOsUser('pgrestore');
      dir = await makeTempDir('recover-options', { owner: 'barman' });
      for (const sub of ['home', 'home/main', 'home/main/incoming', 'target'])
        mkdirSync(join(dir, sub), { recursive: true });
      for (const sub of ['home', 'home/main', 'home/main/incoming']) await chownTo(join(dir, sub), 'barman');
      chmodSync(join(dir, 'home/main/incoming'), 0o777);
      await chownTo(join(dir, 'target'), 'pgrestore');
      chmodSync(dir, 0o755);
      const incoming = join(dir, 'home/main/incoming');
      sshd = await startSshd({ users: ['barman', 'pgrestore'] });
      pg = await startPostgres({
        version: 15,
        archiveCommand: `test ! -f ${incoming}/%f && cp %p ${incoming}/.%f.tmp && chmod 0644 ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
      });
      config = writeBarmanConfig({
        dir,
        mode: 0o644,
        global: { barman_user: 'barman', compression: 'gzip' },
        servers: {
          main: {
            conninfo: pg.conninfo,
            backup_method: 'postgres',
            immediate_checkpoint: 'on',
            archiver: 'on',
            path_prefix: '/usr/lib/postgresql/15/bin',
          },
        },
      });
      await pg.query('CREATE TABLE t (id int)');
      await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
      const run = await barman('backup', '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      backupId = readdirSync(join(dir, 'home/main/base'))[0]!;
      await pg.query('INSERT INTO t SELECT generate_series(1001, 2000)');
      const [mark] = await pg.query<{ t: string }>(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || 'Z' AS t",
      );
      afterFirstBatch = mark!.t;
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await pg.query('INSERT INTO t SELECT generate_series(2001, 3000)');
      const switched = await barman('switch-wal', '--force', '--archive', 'main');
      assert.equal(switched.exitCode, 0, switched.stderr);
    });

    after(async () => {
      for (const server of started) await server.stop();
      await pg?.stop();
      await sshd?.stop();
    });

    it('list-files --list-empty-directories adds exactly the empty directories, after their parent files', async () => {
      const backupDir = join(dir, 'home/main/base', backupId);
      const plain = (await barman('list-files', '--target', 'data', 'main', backupId)).stdout
        .trim()
        .split('\n');
      const run = await barman(
        'list-files',
        '--target',
        'data',
        '--list-empty-directories',
        'main',
        backupId,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const listed = run.stdout.trim().split('\n');
      const found = await runAs(null, 'find', [backupDir, '-type', 'd', '-empty']);
      const empty = found.stdout.trim().split('\n').filter(Boolean).sort();
      // A PostgreSQL 15 base backup has empty directories: pg_notify, pg_serial, pg_snapshots …
      assert.ok(empty.includes(join(backupDir, 'data/pg_notify')), empty.join('\n'));
      const added = listed.filter((path) => !plain.includes(path));
      assert.deepEqual([...added].sort(), empty);
      assert.deepEqual(
        listed.filter((path) => plain.includes(path)),
        plain,
        'the files keep their order',
      );
      for (const path of added) assert.ok(statSync(path).isDirectory(), path);
      // A walk lists a directory's files before it enters its sub-directories.
      const notify = listed.indexOf(join(backupDir, 'data/pg_notify'));
      assert.ok(notify > listed.indexOf(join(backupDir, 'data/PG_VERSION')), 'after the files of data/');
      const json = await barman(
        '-f',
        'json',
        'list-files',
        '--target',
        'data',
        '--list-empty-directories',
        'main',
        backupId,
      );
      assert.equal(json.exitCode, 0, json.stderr);
      assert.deepEqual((JSON.parse(json.stdout) as { _INFO: string[] })._INFO, listed);
    });

    it('a remote PITR: WAL in --staging-wal-directory, settings in --recovery-conf-filename; PostgreSQL reaches the target', async () => {
      const destination = join(dir, 'target', 'data');
      const staging = join(dir, 'target', 'wal staging');
      const remote = sshd.sshCommand('barman', 'pgrestore');
      const run = await barman(
        'recover',
        'main',
        backupId,
        destination,
        '--remote-ssh-command',
        remote,
        '--target-time',
        afterFirstBatch,
        '--target-action',
        'promote',
        '--staging-wal-directory',
        staging,
        '--recovery-conf-filename',
        'recovery-barman.conf',
      );
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(run.stdout, /^postgresql\.conf line \d+: archive_command = false$/m);
      const pgrestore = await lookupOsUser('pgrestore');
      const walFiles = readdirSync(staging).filter((name) => /^[0-9A-F]{24}$/.test(name));
      assert.ok(walFiles.length >= 2, readdirSync(staging).join(' '));
      assert.equal(statSync(staging).uid, pgrestore.uid);
      assert.equal(statSync(staging).mode & 0o777, 0o700);
      assert.ok(!existsSync(join(destination, 'barman_wal')), 'no barman_wal in PGDATA');
      const settings = readFileSync(join(destination, 'recovery-barman.conf'), 'utf8');
      assert.match(settings, new RegExp(`^restore_command = 'cp ''${staging}''/%f %p'$`, 'm'));
      assert.match(settings, new RegExp(`^recovery_end_command = 'rm -fr ''${staging}'''$`, 'm'));
      assert.match(settings, /^recovery_target_time = /m);
      assert.ok(existsSync(join(destination, 'recovery-barman.conf.origin')));
      assert.doesNotMatch(readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8'), /restore_command/);
      assert.ok(existsSync(join(destination, 'recovery.signal')));

      // The operator includes the file (that is what the option is for), then starts PostgreSQL.
      appendFileSync(join(destination, 'postgresql.conf'), "\ninclude = 'recovery-barman.conf'\n");
      const server = await startRecoveredCopy(destination, { user: 'pgrestore' });
      started.push(server);
      const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM t');
      assert.equal(Number(row!.n), 2000);
      await server.stop();
      assert.ok(!existsSync(staging), 'recovery_end_command removed the staging WAL directory');
    });

    it('--recovery-option-port goes into the barman-wal-restore restore_command of a remote --get-wal recovery', async () => {
      const destination = join(dir, 'target', 'getwal');
      const run = await barman(
        'recover',
        'main',
        backupId,
        destination,
        '--remote-ssh-command',
        sshd.sshCommand('barman', 'pgrestore'),
        '--target-time',
        afterFirstBatch,
        '--get-wal',
        '--recovery-option-port',
        '2222',
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const auto = readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8');
      assert.match(
        auto,
        new RegExp(
          `^restore_command = 'barman-wal-restore -P -U barman --port 2222 -c ${config} \\S+ main %f %p'$`,
          'm',
        ),
      );
    });
  },
);
