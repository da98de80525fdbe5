/**
 * Everything barman-ts writes is private to barman_user (0600 files, 0700 directories), even
 * when what it copies was more open: a realistic flow against a PostgreSQL 15 cluster created
 * with group access (PGDATA 0750, files 0640, so pg_basebackup and pg_receivewal write 0640
 * too) whose archive_command hands put-wal --file 0644 copies of its WAL. Then every path under
 * barman_home, the lock directory and the log directory is walked: no group or other bit may be
 * set anywhere. Last, `check` reports a server directory other users can enter.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  writeBarmanConfig,
  BARMAN_BIN,
  chownTo,
  freePort,
  isProcessAlive,
  lockPid,
  makeTempDir,
  runAs,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  switchWalAndWaitArchived,
  terminateProcess,
  waitFor,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** Every path under `root` (itself included) whose mode gives group or other users any access. */
function openPaths(root: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const info = lstatSync(path);
    if (info.isSymbolicLink()) return; // a link's own mode means nothing (tablespace links)
    if ((info.mode & 0o077) !== 0)
      found.push(`${path} (${(info.mode & 0o7777).toString(8).padStart(4, '0')})`);
    if (info.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(root);
  return found;
}

describe('files barman-ts writes are private to barman_user', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let home: string;
  let locks: string;
  let config: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  before(async () => {
    dir = await makeTempDir('private-files', { owner: 'postgres' });
    home = join(dir, 'home');
    locks = join(dir, 'locks');
    config = join(dir, 'barman.conf');
    // What an administrator prepares: barman_home for barman_user, private (see README).
    mkdirSync(home, { mode: 0o700 });
    chmodSync(home, 0o700);
    await chownTo(home, 'postgres');
    // archive_command leaves a world-readable copy of each segment here for put-wal --file.
    const outbox = join(dir, 'outbox');
    mkdirSync(outbox);
    await chownTo(outbox, 'postgres');
    const tablespace = join(dir, 'tbs');
    mkdirSync(tablespace);
    await chownTo(tablespace, 'postgres');
    sshd = await startSshd({ users: ['postgres'] });
    pg = await startPostgres({
      version: 15,
      groupAccess: true,
      archiveCommand:
        `cp %p ${outbox}/%f && chmod 0644 ${outbox}/%f && ` +
        `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file ${outbox}/%f && rm -f ${outbox}/%f`,
    });
    const closedPort = await freePort();
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: {
        barman_user: 'postgres',
        barman_home: home,
        barman_lock_directory: locks,
        compression: 'gzip',
        path_prefix: PG15_BIN,
        immediate_checkpoint: true,
        aws_region: 'us-east-1',
      },
      servers: {
        main: {
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          reuse_backup: 'link',
          archiver: true,
          streaming_archiver: true,
          slot_name: 'barman_private',
          create_slot: 'auto',
        },
        remote: {
          conninfo: pg.conninfo,
          ssh_command: sshd.sshCommand('postgres', 'postgres'),
          backup_method: 'rsync',
          archiver: true,
        },
        stream: {
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: true,
        },
        cloud: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          wals_directory: 's3://bucket/cloud/wals',
          aws_endpoint_url: `http://127.0.0.1:${closedPort}`,
        },
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${tablespace}'`);
    await pg.query('CREATE TABLE accounts (id int) TABLESPACE tbs1');
    await pg.query('INSERT INTO accounts SELECT generate_series(1, 10000)');
  });

  after(async () => {
    await runBarman(['-c', config, 'receive-wal', '--stop', 'main']).catch(() => undefined);
    for (const task of ['main-receive-wal', 'cloud-cloud-wal-upload']) {
      const pid = lockPid(join(locks, `.${task}.lock`));
      if (pid !== null && isProcessAlive(pid)) await terminateProcess(pid, 'SIGTERM', 3_000);
    }
    await pg?.stop();
    await sshd?.stop();
  });

  it('the source cluster really is group-readable (the case under test)', () => {
    assert.equal(lstatSync(pg.dataDir).mode & 0o777, 0o750);
    assert.equal(lstatSync(join(pg.dataDir, 'PG_VERSION')).mode & 0o777, 0o640);
  });

  it('archives WAL: put-wal --file of 0644 copies, archive-wal, receive-wal started by cron', async () => {
    await pg.query('CREATE TABLE filler (id int)');
    await pg.query('INSERT INTO filler VALUES (1)');
    await switchWalAndWaitArchived(pg);
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    await waitFor(
      'receive-wal streaming',
      async () =>
        (
          await pg.query<{ active: boolean }>(
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman_private'",
          )
        )[0]?.active === true,
      { timeoutMs: 30_000 },
    );
    await pg.query('INSERT INTO filler VALUES (2)');
    await switchWalAndWaitArchived(pg);
    await waitFor(
      'a streamed segment',
      () => readdirSync(join(home, 'main/streaming')).some((name) => /^[0-9A-F]{24}$/.test(name)),
      { timeoutMs: 30_000 },
    );
    // A stranger delivered to incoming/ (say, by rsync -a from another host): errors/.
    const stranger = join(home, 'main/incoming/0000000A00000000000000FF');
    writeFileSync(stranger, Buffer.alloc(16 * 1024 * 1024, 1));
    chmodSync(stranger, 0o644);
    await chownTo(stranger, 'postgres');
    const archived = await barman('archive-wal', 'main');
    assert.equal(archived.exitCode, 1, `the stranger is rejected: ${archived.stdout}${archived.stderr}`);
    assert.ok(
      readdirSync(join(home, 'main/errors')).some((name) => name.startsWith('0000000A00000000000000FF.')),
    );
    assert.ok(readdirSync(join(home, 'main/wals')).length > 0);
  });

  it('backs up with local-rsync, rsync over ssh and pg_basebackup, and keeps one', async () => {
    for (const server of ['main', 'remote', 'stream']) {
      const run = await barman('backup', server);
      assert.equal(run.exitCode, 0, `${server}: ${run.stdout}${run.stderr}`);
    }
    await switchWalAndWaitArchived(pg);
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    const keep = await barman('keep', 'main', 'latest', '--target', 'full');
    assert.equal(keep.exitCode, 0, keep.stderr);
  });

  it('recovery is untouched: a recovered copy of the private backup starts', async () => {
    const destination = join(dir, 'recovered');
    const run = await runBarman(
      [
        '-c',
        config,
        'recover',
        '--tablespace',
        `tbs1:${join(dir, 'recovered-tbs')}`,
        'main',
        'latest',
        destination,
      ],
      { timeoutMs: 180_000 },
    );
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.equal(lstatSync(destination).mode & 0o777, 0o700);
    const copy = await startRecoveredCopy(destination);
    try {
      const [row] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
      assert.equal(row!.n, '10000');
    } finally {
      await copy.stop();
    }
  });

  it('queues WAL for S3 (cloud-wal-archive --async) from a 0644 file', async () => {
    const source = join(dir, 'outbox', '000000010000000000000042');
    writeFileSync(source, Buffer.alloc(16 * 1024 * 1024, 2));
    chmodSync(source, 0o644);
    await chownTo(source, 'postgres');
    const run = await runBarman(['-c', config, 'cloud-wal-archive', '--async', 'cloud', source], {
      user: 'postgres',
      env: { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'nothing' },
    });
    assert.equal(run.exitCode, 0, run.stderr);
    // The endpoint is down: the upload worker keeps the file spooled.
    assert.ok(existsSync(join(home, 'cloud/incoming/000000010000000000000042')));
  });

  it('leaves no file or directory open to group or other users', async () => {
    await runAs(null, 'sync', []);
    const offenders = [home, locks, join(dir, 'log')].flatMap(openPaths);
    assert.deepEqual(
      offenders.length,
      0,
      `${offenders.length} paths open to other users, among them:\n${offenders.slice(0, 60).join('\n')}`,
    );
    // The walk did see what the flow wrote.
    const logged = readFileSync(join(dir, 'log/barman.log'), 'utf8');
    assert.match(logged, /put-wal|archive/);
    assert.ok(readdirSync(join(home, 'stream/base')).length === 1);
    assert.ok(readdirSync(join(home, 'remote/base')).length === 1);
  });

  it('check reports a server directory other users can enter', async () => {
    // Shown only when it fails: a healthy server's check reads as Barman's.
    const before = await barman('check', 'main');
    assert.doesNotMatch(before.stdout, /directory permissions/, before.stdout);
    chmodSync(home, 0o755);
    chmodSync(join(home, 'main'), 0o755);
    chmodSync(join(home, 'main/wals'), 0o755);
    try {
      const run = await barman('check', 'main');
      assert.match(
        run.stdout,
        new RegExp(
          `^\\tdirectory permissions: FAILED \\(${home}/main/wals is open to other users \\(mode 0755\\).*chmod -R go-rwx ${home}/main/wals`,
          'm',
        ),
      );
      const json = await barman('-f', 'json', 'check', 'main');
      const parsed = JSON.parse(json.stdout) as { main: Record<string, { status: string }> };
      assert.equal(parsed.main.directory_permissions?.status, 'FAILED');
      // One private parent is enough: nobody else can reach what is below it.
      chmodSync(join(home, 'main'), 0o700);
      const fixed = await barman('check', 'main');
      assert.doesNotMatch(fixed.stdout, /directory permissions/, fixed.stdout);
    } finally {
      chmodSync(home, 0o700);
      chmodSync(join(home, 'main'), 0o700);
      chmodSync(join(home, 'main/wals'), 0o700);
    }
  });
});
