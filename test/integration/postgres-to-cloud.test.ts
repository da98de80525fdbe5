/**
 * backup_method = postgres with an s3:// basebackups_directory (s3rver on 127.0.0.1): barman-ts's
 * own BASE_BACKUP client streams PostgreSQL 15's archives (PGDATA and a tablespace) to the bucket
 * in barman-cloud-backup's layout, gzip, split into parts; the WAL goes to an s3:// wals_directory
 * with cloud-wal-archive (a local wals_directory beside an s3:// basebackups_directory is not a
 * layout the WAL commands know yet). The backup is listed DONE, its objects are in the bucket, and `barman
 * recover` restores it to a time between two commits: PostgreSQL started on the result has
 * exactly the rows committed before that time. A PostgreSQL older than 15 is refused with a clear
 * error, and a replication connection cut in the middle of the copy fails the backup (FAILED, with
 * the reason), never a partial DONE one.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FaultProxy, IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  chownTo,
  makeTempDir,
  runBarman,
  startFaultProxy,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const BUCKET = 'postgres-to-cloud';

describe('barman backup with backup_method = postgres to s3://', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let pg14: PostgresServer | null = null;
  let proxy: FaultProxy | null = null;
  let dir: string;
  let config: string;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], {
      user: 'postgres',
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
      timeoutMs: 300_000,
    });
  const server = (name: string, conninfo: string, extra: IniSection = {}): IniSection => ({
    conninfo,
    streaming_conninfo: conninfo,
    backup_method: 'postgres',
    backup_compression: 'gzip',
    cloud_upload_max_archive_size: '4M',
    immediate_checkpoint: true,
    archiver: true,
    basebackups_directory: `s3://${BUCKET}/barman/${name}/base`,
    wals_directory: `s3://${BUCKET}/barman/${name}/wals`,
    ...extra,
  });
  /** barman.conf with these server sections (archive_command, run as postgres, reads it). */
  const writeConfig = (servers: Record<string, IniSection>, global: IniSection = { compression: 'gzip' }) =>
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', aws_endpoint_url: s3.endpoint, aws_region: 'us-east-1', ...global },
      servers,
    });

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('postgres-to-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'tbs', 'recovered']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 15,
      archiveCommand: cloudWalArchiveCommand(s3, config),
    });
    writeConfig({ main: server('main', pg.conninfo) });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, filler text) TABLESPACE tbs1');
    // Incompressible rows, so that the archives need several parts.
    await pg.query(
      'INSERT INTO items SELECT i, md5(i::text) || repeat(md5((i * 7)::text), 20) FROM generate_series(1, 1000) i',
    );
    await pg.query('CREATE TABLE big AS SELECT i, md5(i::text) AS h FROM generate_series(1, 200000) i');
    await switchWalAndWaitArchived(pg);
  });

  after(async () => {
    for (const copy of started) await copy.stop();
    await pg14?.stop();
    await proxy?.stop();
    await pg?.stop();
    await s3?.stop();
  });

  it('streams the backup to the bucket in barman-cloud layout, DONE once its WAL is archived', async () => {
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Starting backup using postgres method for server main in s3:\/\//);
    assert.match(run.stdout, /Starting backup copy via BASE_BACKUP \(tar archives, gzip\)/);
    const list = await barman('list-backup', 'main');
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, /^main \d{8}T\d{6} .* - Size: .* - WAL Size: /m);
    assert.doesNotMatch(list.stdout, /FAILED|STARTED|WAITING/);
    const id = /^main (\d{8}T\d{6})/m.exec(list.stdout)![1]!;
    const objects = readdirSync(join(s3.dataDir, BUCKET, 'barman', 'main', 'base', id))
      .map((name) => name.replace(/\._S3rver_object$/, ''))
      .filter((name) => !name.includes('._S3rver'))
      .sort();
    const [oid] = (
      await pg.query<{ oid: string }>("SELECT oid FROM pg_tablespace WHERE spcname = 'tbs1'")
    ).map((row) => row.oid);
    assert.ok(objects.includes('backup.info'), objects.join(' '));
    assert.ok(objects.includes('backup_manifest'), objects.join(' '));
    assert.ok(objects.includes('data.tar.gz'), objects.join(' '));
    assert.ok(
      objects.includes('data_0001.tar.gz'),
      `the data archive is split in parts: ${objects.join(' ')}`,
    );
    assert.ok(objects.includes(`${oid!}.tar.gz`), objects.join(' '));
    const show = await barman('show-backup', 'main', id);
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /Status\s+: DONE/);
  });

  it('recovers the backup to a time between two commits, with exactly the rows committed before', async () => {
    await pg.query("INSERT INTO items SELECT i, 'after' FROM generate_series(1001, 2000) i");
    const [mark] = await pg.query<{ t: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t",
    );
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await pg.query("INSERT INTO items SELECT i, 'later' FROM generate_series(2001, 3000) i");
    await switchWalAndWaitArchived(pg);
    const destination = join(dir, 'recovered', 'pitr');
    const run = await barman(
      'recover',
      'main',
      'latest',
      destination,
      '--target-time',
      mark!.t,
      '--target-action',
      'promote',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const copy = await startRecoveredCopy(destination);
    started.push(copy);
    const [row] = await copy.query<{ n: string; max: number }>(
      'SELECT count(*) AS n, max(id) AS max FROM items',
    );
    assert.equal(row!.n, '2000');
    assert.equal(row!.max, 2000);
    const [big] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM big');
    assert.equal(big!.n, '200000');
    await copy.stop();
  });

  it('fails the backup, never DONE, when the replication connection is cut during the copy', async () => {
    proxy = await startFaultProxy(pg.port);
    const proxied = `host=127.0.0.1 port=${proxy.port} user=postgres dbname=postgres`;
    writeConfig({
      main: server('main', pg.conninfo),
      cut: server('cut', pg.conninfo, {
        streaming_conninfo: proxied,
        bandwidth_limit: 512,
        basebackup_retry_times: 0,
      }),
    });
    const running = barman('backup', 'cut');
    await new Promise((resolve) => setTimeout(resolve, 4000));
    proxy.cutAll();
    const run = await running;
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /replication connection was lost during BASE_BACKUP/);
    const list = await barman('list-backup', 'cut');
    assert.match(list.stdout, /FAILED/);
    assert.doesNotMatch(list.stdout, / - Size: /);
  });

  it('refuses a PostgreSQL older than 15 with a clear error', async () => {
    pg14 = await startPostgres({ version: 14 });
    writeConfig({ old: server('old', pg14.conninfo) }, {});
    const check = await barman('check', 'old');
    assert.match(check.stdout, /streaming backup to object storage: FAILED \(PostgreSQL 14 is older than 15/);
    const run = await barman('backup', 'old');
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    const list = await barman('list-backup', 'old');
    assert.doesNotMatch(list.stdout, /DONE/);
  });
});
