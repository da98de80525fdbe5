/**
 * `barman recover --remote-ssh-command` over a real sshd into a directory owned by another OS
 * user, from a gzip tar backup (postgres method), with recovery hooks; then a delta restore
 * into the used directory, locally and remotely. Each result is started as its owner and checked.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  chownTo,
  ensureOsUser,
  makeTempDir,
  runAs,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  writeBarmanConfig,
} from '../harness/index.js';

describe('barman recover over ssh, tar backups, delta restore, hooks', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  let backupId: string;
  let afterFirstBatch: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  async function startAs(user: string, data: string): Promise<PostgresServer> {
    const server = await startRecoveredCopy(data, { user });
    started.push(server);
    return server;
  }

  const count = async (server: PostgresServer) =>
    Number((await server.query<{ n: string }>('SELECT count(*) AS n FROM t'))[0]!.n);

  before(async () => {
    await ensureOsUser('barman');
    await ensureOsUser('pgrestore');
    dir = await makeTempDir('recover-remote', { owner: 'barman' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'home/main', 'home/main/incoming', 'tbs', 'hooks', 'target'])
      mkdirSync(join(dir, sub), { recursive: true });
    for (const sub of ['home', 'home/main', 'home/main/incoming', 'hooks'])
      await chownTo(join(dir, sub), 'barman');
    chmodSync(join(dir, 'home/main/incoming'), 0o777);
    await chownTo(join(dir, 'tbs'), 'postgres');
    await chownTo(join(dir, 'target'), 'pgrestore');
    chmodSync(dir, 0o755);
    const incoming = join(dir, 'home/main/incoming');
    sshd = await startSshd({ users: ['barman', 'postgres', 'pgrestore'] });
    pg = await startPostgres({
      version: 15,
      archiveCommand: `test ! -f ${incoming}/%f && cp %p ${incoming}/.%f.tmp && chmod 0644 ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'barman', compression: 'gzip' },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          backup_compression: 'gzip',
          backup_compression_format: 'tar',
          immediate_checkpoint: 'on',
          archiver: 'on',
          parallel_jobs: 2,
          path_prefix: '/usr/lib/postgresql/15/bin',
          pre_recovery_script: `env | grep ^BARMAN_ | sort > ${dir}/hooks/pre.env`,
          post_recovery_script: `env | grep ^BARMAN_ | sort > ${dir}/hooks/post.env`,
        },
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE t (id int) TABLESPACE tbs1');
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

  it('recovers a gzip tar backup over ssh to a point in time, into a directory owned by another user', async () => {
    const destination = join(dir, 'target', 'data');
    const tablespace = join(dir, 'target', 'tbs');
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
      '--tablespace',
      `tbs1:${tablespace}`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^Starting remote restore for server main using backup \d{8}T\d{6}\n/);
    // Progress of the rsync pushes, plain lines when not on a terminal.
    assert.match(run.stdout, /^PGDATA: 100% [\d.]+ [KMG]?i?B\/[\d.]+ [KMG]?i?B, (\d+)\/\1 files/m);
    assert.match(
      run.stdout,
      new RegExp(`Remote command: ${remote.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`),
    );
    const { stdout: owner } = await runAs(null, 'stat', ['-c', '%U', join(destination, 'PG_VERSION')]);
    assert.equal(owner.trim(), 'pgrestore');
    const pre = readFileSync(join(dir, 'hooks/pre.env'), 'utf8');
    assert.match(pre, new RegExp(`^BARMAN_DESTINATION_DIRECTORY=${destination}$`, 'm'));
    assert.match(pre, /^BARMAN_PHASE=pre$/m);
    assert.match(
      pre,
      new RegExp(`^BARMAN_REMOTE_COMMAND=${remote.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
    assert.match(pre, /^BARMAN_RECOVER_OPTIONS=\{.*"target_time": ".*"/m);
    assert.match(readFileSync(join(dir, 'hooks/post.env'), 'utf8'), /^BARMAN_PHASE=post$/m);

    const server = await startAs('pgrestore', destination);
    assert.equal(await count(server), 2000);
    await server.stop();
  });

  it('a delta restore over ssh reuses the used directory: identical files kept, strangers removed', async () => {
    const destination = join(dir, 'target', 'data');
    const tablespace = join(dir, 'target', 'tbs');
    writeFileSync(join(destination, 'stranger.txt'), 'not from the backup');
    await chownTo(join(destination, 'stranger.txt'), 'pgrestore');
    const remote = sshd.sshCommand('barman', 'pgrestore');
    const refused = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--remote-ssh-command',
      remote,
      '--tablespace',
      `tbs1:${tablespace}`,
    );
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /is not empty/);
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--remote-ssh-command',
      remote,
      '--tablespace',
      `tbs1:${tablespace}`,
      '--delta-restore',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(!existsSync(join(destination, 'stranger.txt')));
    const server = await startAs('pgrestore', destination);
    assert.equal(await count(server), 3000);
    await server.stop();
  });

  it('reports an unreachable recovery host before doing anything', async () => {
    const run = await barman(
      'recover',
      'main',
      backupId,
      join(dir, 'target', 'other'),
      '--remote-ssh-command',
      'ssh -o BatchMode=yes -o ConnectTimeout=3 -p 1 nobody@127.0.0.1',
    );
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /Unable to connect to the target host using the command 'ssh -o BatchMode=yes/);
  });

  it('a local delta restore over a recovered copy that has run', async () => {
    // Outside barman_home: recovery refuses to write into the catalogue.
    const local = join(dir, 'local');
    mkdirSync(local);
    await chownTo(local, 'barman');
    const destination = join(local, 'delta');
    const tablespace = join(local, 'delta-tbs');
    let run = await barman('recover', 'main', backupId, destination, '--tablespace', `tbs1:${tablespace}`);
    assert.equal(run.exitCode, 0, run.stderr);
    await runAs(null, 'chown', ['-R', 'postgres:', destination, tablespace]);
    const first = await startAs('postgres', destination);
    await first.query('INSERT INTO t SELECT generate_series(9001, 9500)'); // the copy diverges
    await first.stop();
    await runAs(null, 'chown', ['-R', 'barman:', destination, tablespace]);
    run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${tablespace}`,
      '--delta-restore',
      '-f',
      'json',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { reused_files: number; files: number };
    assert.ok(result.reused_files > 0, `some files reused: ${run.stdout}`);
    await runAs(null, 'chown', ['-R', 'postgres:', destination, tablespace]);
    const second = await startAs('postgres', destination);
    assert.equal(await count(second), 3000, 'the diverged rows are gone');
    await second.stop();
  });
});
