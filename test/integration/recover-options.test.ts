/**
 * Barman 3.x's remaining recover and list-files options against a real PostgreSQL 15 and a real
 * sshd: `--staging-wal-directory` and `--recovery-conf-filename` in a remote point-in-time
 * recovery (PostgreSQL started on the result, rows read back, the staging directory removed by
 * recovery_end_command), `--recovery-option-port` in the barman-wal-restore restore_command, and
 * `list-files --list-empty-directories` checked against `find -type d -empty`, and
 * `staging_location = remote`: a gzip tar backup extracted by the recovery host's own tar (a
 * logging wrapper first in the remote PATH proves it), started and read back.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
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
      const servers = ['main', 'tar'];
      for (const sub of ['home', 'target', 'remote-bin', ...servers.map((name) => `home/${name}/incoming`)])
        mkdirSync(join(dir, sub), { recursive: true });
      for (const sub of ['home', ...servers.flatMap((name) => [`home/${name}`, `home/${name}/incoming`])])
        await chownTo(join(dir, sub), 'barman');
      for (const name of servers) chmodSync(join(dir, `home/${name}/incoming`), 0o777);
      await chownTo(join(dir, 'target'), 'pgrestore');
      chmodSync(dir, 0o755);
      // The recovery host's tar: logs its arguments, then runs GNU tar (or claims to be another tar).
      writeFileSync(
        join(dir, 'remote-bin/tar'),
        `#!/bin/sh\nif [ -e ${dir}/remote-bin/not-gnu ]; then echo 'bsdtar 3.7.2'; exit 0; fi\n` +
          `echo "$*" >> ${dir}/remote-bin/tar.log\nexec /bin/tar "$@"\n`,
        { mode: 0o755 },
      );
      chmodSync(join(dir, 'remote-bin'), 0o777); // tar.log is written by the remote user
      sshd = await startSshd({
        users: ['barman', 'pgrestore'],
        setEnv: { PATH: `${dir}/remote-bin:/usr/local/bin:/usr/bin:/bin` },
      });
      // Every segment goes to both servers' incoming directories (a script: the command would be too long).
      const script = join(dir, 'archive.sh');
      writeFileSync(
        script,
        '#!/bin/sh\n' +
          servers
            .map((name) => {
              const incoming = join(dir, `home/${name}/incoming`);
              return `test -f ${incoming}/$2 || { cp "$1" ${incoming}/.$2.tmp && chmod 0644 ${incoming}/.$2.tmp && mv ${incoming}/.$2.tmp ${incoming}/$2; } || exit 1\n`;
            })
            .join(''),
        { mode: 0o755 },
      );
      pg = await startPostgres({ version: 15, archiveCommand: `/bin/sh ${script} %p %f` });
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
          tar: {
            conninfo: pg.conninfo,
            backup_method: 'postgres',
            backup_compression: 'gzip',
            backup_compression_format: 'tar',
            immediate_checkpoint: 'on',
            archiver: 'on',
            path_prefix: '/usr/lib/postgresql/15/bin',
            staging_location: 'remote',
            staging_path: join(dir, 'target', 'staging'),
          },
        },
      });
      await pg.query('CREATE TABLE t (id int)');
      await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
      const run = await barman('backup', '--wait', 'main');
      assert.equal(
        run.exitCode,
        0,
        `${run.stdout}\n${run.stderr}\n${readFileSync(pg.logFile, 'utf8').slice(-2000)}`,
      );
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
      const tarBackup = await barman('backup', '--wait', 'tar');
      assert.equal(tarBackup.exitCode, 0, tarBackup.stderr);
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
    it("staging_location = remote: the gzip tar backup is extracted by the recovery host's tar from staging_path", async () => {
      const tarId = readdirSync(join(dir, 'home/tar/base'))[0]!;
      const remote = sshd.sshCommand('barman', 'pgrestore');
      const destination = join(dir, 'target', 'tar-data');
      const staging = join(dir, 'target', 'staging');

      // A recovery host whose tar is not GNU tar: refused before anything is written.
      writeFileSync(join(dir, 'remote-bin/not-gnu'), '');
      const refused = await barman('recover', 'tar', tarId, destination, '--remote-ssh-command', remote);
      rmSync(join(dir, 'remote-bin/not-gnu'));
      assert.equal(refused.exitCode, 1);
      assert.match(refused.stderr, /staging_location = remote: the recovery host's tar is not GNU tar/);
      assert.match(refused.stderr, /HINT: Set staging_location = local/);
      assert.ok(!existsSync(destination), 'nothing written');
      // --delta-restore is refused with remote staging, as Barman does.
      const delta = await barman(
        'recover',
        'tar',
        tarId,
        destination,
        '--remote-ssh-command',
        remote,
        '--delta-restore',
      );
      assert.equal(delta.exitCode, 1);
      assert.match(delta.stderr, /staging_location = remote: --delta-restore/);

      const run = await barman('recover', 'tar', tarId, destination, '--remote-ssh-command', remote);
      assert.equal(run.exitCode, 0, run.stderr);
      const log = readFileSync(join(dir, 'remote-bin/tar.log'), 'utf8');
      // The compressed archive, staged under staging_path, extracted into the destination.
      assert.match(
        log,
        new RegExp(
          `^-x -f ${staging}/barman-staging-tar-${tarId}-[0-9a-f]{8}/base\\.tar\\.gz -C ${destination} --no-same-owner --use-compress-program=gzip --anchored `,
          'm',
        ),
      );
      assert.deepEqual(readdirSync(staging), [], 'the staged archives are removed');
      assert.equal(statSync(join(destination, 'PG_VERSION')).uid, (await lookupOsUser('pgrestore')).uid);
      assert.ok(existsSync(join(destination, `backup_manifest.${tarId}`)), 'the manifest is placed');
      // Recovery to the end of the backup: its WAL files copied into pg_wal, as for a local extraction.
      assert.ok(readdirSync(join(destination, 'pg_wal')).some((name) => /^[0-9A-F]{24}$/.test(name)));
      const server = await startRecoveredCopy(destination, { user: 'pgrestore' });
      started.push(server);
      const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM t');
      assert.equal(Number(row!.n), 3000);
      await server.stop();
    });
  },
);
