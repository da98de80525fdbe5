/**
 * An incremental chain on an s3:// basebackups_directory (s3rver on 127.0.0.1, PostgreSQL 17)
 * recovered the ways a full backup is: `--delta-restore` into a used directory (files already
 * there reused), `--remote-ssh-command` over a private sshd into a directory of another OS user,
 * and `--get-wal` (restore_command reads the bucket at start-up). Before those, kill -9 during an
 * incremental backup streaming to the bucket: the next backup marks it FAILED, a new incremental
 * is taken on the last good one (never on the killed one, which is refused as a parent), and the
 * chain ending with it is what every recovery below reads. PostgreSQL is started on each result
 * and must show exactly the rows of the source.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { PostgresServer, S3Server, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  ensureOsUser,
  killNow,
  lookupOsUser,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  startSshd,
  switchWalAndWaitArchived,
  waitFor,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'big' AS name, count(*)::text || ':' || sum(v)::text AS value FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || sum(id)::text FROM t_ts UNION ALL " +
  "SELECT 'created', count(*)::text FROM t_new) AS facts";
const BUCKET = 'incremental-cloud-recover';

describe('recovery of an incremental chain on s3:// (PostgreSQL 17)', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  let endState = '';
  const ids: string[] = [];
  const started: PostgresServer[] = [];
  const credentials = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: credentials(), timeoutMs: 300_000 });
  const baseDir = () => join(s3.dataDir, BUCKET, 'barman', 'main', 'base');
  const backupIds = () =>
    existsSync(baseDir()) ? readdirSync(baseDir()).filter((name) => /^\d{8}T\d{6}$/.test(name)) : [];
  const info = (id: string) =>
    parseBackupInfo(
      readFileSync(join(baseDir(), id, 'backup.info._S3rver_object'), 'utf8'),
      `${id}/backup.info`,
    );
  const state = async (server: PostgresServer) =>
    (await server.query<{ state: string }>(STATE_SQL))[0]!.state;
  const newestId = async () => {
    const list = await barman('list-backup', 'main');
    assert.equal(list.exitCode, 0, list.stderr);
    return /^main (\d{8}T\d{6})/m.exec(list.stdout)![1]!;
  };
  const startedOn = async (destination: string, user?: string) => {
    const copy = await startRecoveredCopy(destination, { version: 17, ...(user ? { user } : {}) });
    started.push(copy);
    const found = await state(copy);
    await copy.stop();
    return found;
  };

  before(async () => {
    await ensureOsUser('pgrestore');
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('incremental-cloud-recover', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'tbs', 'recovered', 'remote']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), sub === 'remote' ? 'pgrestore' : 'postgres');
    }
    sshd = await startSshd({ users: ['postgres', 'pgrestore'] });
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 17,
      settings: { summarize_wal: 'on' },
      archiveCommand: cloudWalArchiveCommand(s3, config),
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
        compression: 'gzip',
      },
      servers: {
        main: {
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          immediate_checkpoint: true,
          archiver: true,
          cloud_upload_max_archive_size: '8M',
          basebackups_directory: `s3://${BUCKET}/barman/main/base`,
          wals_directory: `s3://${BUCKET}/barman/main/wals`,
        },
      },
    });
    await pg.statements(
      `CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs';` +
        'CREATE TABLE t_ts (id int) TABLESPACE tbs1; INSERT INTO t_ts SELECT generate_series(1, 5000);' +
        "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 200000) i;",
    );
    await switchWalAndWaitArchived(pg);
    const full = await barman('backup', '--wait', 'main');
    assert.equal(full.exitCode, 0, full.stdout + full.stderr);
    ids.push(await newestId());
    await pg.statements('UPDATE big SET v = v + 1 WHERE id % 100 = 0; CREATE TABLE t_new (id int);');
    const first = await barman('backup', '--incremental', 'latest-full', '--wait', 'main');
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    ids.push(await newestId());
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await sshd?.stop();
    await s3?.stop();
  });

  it('kill -9 during an incremental to the bucket: marked FAILED by the next backup, never a parent', async () => {
    await pg.statements(
      "UPDATE big SET pad = repeat('y', 100) WHERE id % 10 = 0; INSERT INTO t_ts SELECT generate_series(5001, 5100);",
    );
    const before = backupIds();
    const postgres = await lookupOsUser('postgres');
    // 32 kB/s (MAX_RATE's minimum): the stream lasts long enough to be killed in the middle.
    const child = spawn(
      process.execPath,
      [BARMAN_BIN, '-c', config, 'backup', '--incremental', ids[1]!, '--bwlimit', '32', 'main'],
      { uid: postgres.uid, gid: postgres.gid, env: childEnv(credentials()), stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let killed = '';
    await waitFor(
      'the incremental to be streaming into the bucket',
      async () => {
        const added = backupIds().filter((id) => !before.includes(id));
        if (added.length !== 1) return false;
        killed = added[0]!;
        const [row] = await pg.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_progress_basebackup WHERE phase = 'streaming database files' AND backup_streamed > 0",
        );
        return row!.n === '1';
      },
      { timeoutMs: 120_000 },
    );
    assert.ok(killNow(child.pid!));
    await exited;
    assert.equal(info(killed).status, 'STARTED');

    const next = await barman('backup', '--incremental', 'latest', '--wait', 'main');
    assert.equal(next.exitCode, 0, next.stderr + next.stdout);
    assert.match(next.stderr + next.stdout, new RegExp(`backup ${killed} was interrupted`));
    assert.equal(info(killed).status, 'FAILED');
    const [newest] = backupIds().filter((id) => !before.includes(id) && id !== killed);
    assert.ok(newest, 'the next incremental is in the bucket');
    assert.equal(info(newest).status, 'DONE');
    assert.equal(info(newest).parent_backup_id, ids[1], 'its parent is the last good backup');
    ids.push(newest);

    const refused = await barman('backup', '--incremental', killed, 'main');
    assert.equal(refused.exitCode, 1, refused.stdout);
    assert.match(
      refused.stderr,
      new RegExp(`Backup ${killed} cannot be the parent of an incremental backup`),
    );
    const list = await barman('list-backup', 'main');
    assert.match(list.stdout, new RegExp(`^main ${killed} .*FAILED`, 'm'), list.stdout);

    endState = await state(pg);
    await switchWalAndWaitArchived(pg);
  });

  it('--delta-restore of the chain into a used directory reuses its files; PostgreSQL starts with every row', async () => {
    const destination = join(dir, 'recovered', 'delta');
    const recover = (...extra: string[]) =>
      barman('recover', 'main', ids[2]!, destination, '--tablespace', `tbs1:${destination}-tbs`, ...extra);
    const first = await recover();
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    assert.equal(await startedOn(destination), endState);
    // The copy ran and changed: the delta restore puts the chain's files back and keeps the others.
    const delta = await recover('--delta-restore', '-f', 'json');
    assert.equal(delta.exitCode, 0, delta.stdout + delta.stderr);
    const result = JSON.parse(delta.stdout) as { reused_files?: number; main?: { reused_files: number } };
    const reused = result.reused_files ?? result.main?.reused_files ?? 0;
    assert.ok(reused > 100, `only ${reused} files reused: ${delta.stdout}`);
    assert.equal(await startedOn(destination), endState);
  });

  it('--remote-ssh-command recovers the chain from the bucket into a directory of another user', async () => {
    const destination = join(dir, 'remote', 'data');
    const run = await barman(
      'recover',
      'main',
      ids[2]!,
      destination,
      '--tablespace',
      `tbs1:${join(dir, 'remote', 'tbs')}`,
      '--remote-ssh-command',
      sshd.sshCommand('postgres', 'pgrestore'),
    );
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /Starting remote restore/);
    assert.match(run.stdout, /Combining the incremental chain/);
    const leftovers = readdirSync(join(dir, 'home', 'main')).filter((name) =>
      name.startsWith('barman-recover-'),
    );
    assert.deepEqual(leftovers, [], 'the staging directory is removed');
    assert.equal(await startedOn(destination, 'pgrestore'), endState);
  });

  it('--get-wal: the recovered chain fetches its WAL from the bucket at start-up', async () => {
    const destination = join(dir, 'recovered', 'getwal');
    const run = await barman(
      'recover',
      'main',
      ids[2]!,
      destination,
      '--get-wal',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.ok(!existsSync(join(destination, 'barman_wal')), 'no WAL copied with --get-wal');
    const auto = join(destination, 'postgresql.auto.conf');
    const settings = readFileSync(auto, 'utf8');
    assert.match(
      settings,
      new RegExp(`^restore_command = '.* -c ${config} -q get-wal -P main %f > %p'$`, 'm'),
    );
    // The DBA gives get-wal its S3 credentials (here in the command; a profile or role in real life).
    writeFileSync(
      auto,
      settings.replace(
        "restore_command = '",
        `restore_command = 'env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} `,
      ),
    );
    assert.equal(await startedOn(destination), endState);
  });
});
