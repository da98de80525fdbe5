/**
 * Streaming backups to the cloud, end to end (issue 12's proof): a `backup_method = postgres`
 * server whose basebackups_directory and wals_directory are both s3:// URLs (s3rver), with a
 * cloud staging limit smaller than the database. WAL arrives by archive_command (put-wal into
 * incoming/) and is uploaded by `barman cron`; the backup streams from PostgreSQL 15 through the
 * staging directory, which never holds more than the limit; `check`, `get-wal`, `rebuild-xlogdb`
 * and `keep` work on the server; and `barman recover` restores the backup to a point in time, where
 * PostgreSQL starts with exactly the rows committed before it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'streaming-to-cloud';
const STAGING_LIMIT = 12_000_000;

/** Bytes of the files directly in `directory` (0 when it does not exist). */
function bytesIn(directory: string): number {
  let total = 0;
  try {
    for (const name of readdirSync(directory)) {
      try {
        total += statSync(join(directory, name)).size;
      } catch {
        // removed between the listing and the stat: no longer on disk
      }
    }
  } catch {
    return 0;
  }
  return total;
}

describe(
  'streaming backups to the cloud (postgres method, s3:// catalogue and WAL)',
  { concurrency: 1 },
  () => {
    let s3: S3Server;
    let pg: PostgresServer;
    let dir: string;
    let config: string;
    let staging: string;
    let backupId: string;
    const started: PostgresServer[] = [];
    const barman = (...args: string[]) =>
      runBarman(['-c', config, ...args], { user: 'postgres', env: { ...s3.env }, timeoutMs: 300_000 });

    before(async () => {
      s3 = await startS3Server({ buckets: [BUCKET] });
      dir = await makeTempDir('streaming-to-cloud', { owner: 'postgres' });
      for (const sub of ['home', 'log', 'recovered']) {
        mkdirSync(join(dir, sub), { recursive: true });
        await chownTo(join(dir, sub), 'postgres');
      }
      staging = join(dir, 'home', 'staging');
      config = join(dir, 'barman.conf');
      pg = await startPostgres({
        version: 15,
        archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal --file %p main`,
      });
      writeBarmanConfig({
        dir,
        mode: 0o644,
        global: {
          barman_user: 'postgres',
          compression: 'gzip',
          aws_endpoint_url: s3.endpoint,
          aws_region: 'us-east-1',
        },
        servers: {
          main: {
            conninfo: pg.conninfo,
            streaming_conninfo: pg.conninfo,
            backup_method: 'postgres',
            archiver: true,
            immediate_checkpoint: true,
            basebackups_directory: `s3://${BUCKET}/barman/main/base`,
            wals_directory: `s3://${BUCKET}/barman/main/wals`,
            cloud_staging_directory: staging,
            cloud_staging_max_size: '1G',
          },
        },
      });
      // About 40 MB of rows that do not compress, beside PostgreSQL's own ~20 MB.
      await pg.query(
        'CREATE TABLE big AS SELECT i, md5(i::text) || md5((i * 3)::text) || md5((i * 7)::text) AS h ' +
          'FROM generate_series(1, 300000) i',
      );
      await pg.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
      await pg.query("INSERT INTO items SELECT i, 'before the backup' FROM generate_series(1, 500) i");
      await switchWalAndWaitArchived(pg);
    });

    after(async () => {
      for (const copy of started) await copy.stop();
      await pg?.stop();
      await s3?.stop();
    });

    it('check passes, with the WAL archive and the staging directory in it', async () => {
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stdout + cron.stderr);
      const run = await barman('check', 'main');
      assert.doesNotMatch(run.stdout, /FAILED/, run.stdout);
      assert.match(run.stdout, /cloud staging directory: OK/);
      assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    });

    it('backs up a database larger than the staging limit without ever staging more than it', async () => {
      const [size] = await pg.query<{ bytes: string }>(
        'SELECT pg_database_size(current_database()) AS bytes',
      );
      assert.ok(Number(size!.bytes) > 3 * STAGING_LIMIT, `the database (${size!.bytes} bytes) is larger`);
      let peak = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          peak = Math.max(peak, bytesIn(staging));
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();
      const run = await barman('backup', '--wait', '--cloud-staging-max-size', String(STAGING_LIMIT), 'main');
      watching = false;
      await watcher;
      assert.equal(run.exitCode, 0, run.stdout + run.stderr);
      assert.ok(peak > 0, 'the backup went through the staging directory');
      assert.ok(peak <= STAGING_LIMIT, `at most ${STAGING_LIMIT} bytes staged, saw ${peak}`);
      assert.equal(bytesIn(staging), 0, 'nothing left in staging');
      const list = await barman('list-backup', 'main');
      assert.equal(list.exitCode, 0, list.stderr);
      backupId = /^main (\d{8}T\d{6})/m.exec(list.stdout)![1]!;
      assert.doesNotMatch(list.stdout, /FAILED|STARTED|WAITING/);
    });

    it('get-wal, rebuild-xlogdb and keep work on the s3:// server', async () => {
      const show = await barman('show-backup', 'main', backupId);
      assert.equal(show.exitCode, 0, show.stderr);
      const beginWal = /Begin WAL\s+: ([0-9A-F]{24})/.exec(show.stdout)![1]!;
      const wal = await barman('get-wal', '--peek', '1', 'main', beginWal);
      assert.equal(wal.exitCode, 0, wal.stderr);
      assert.equal(wal.stdout.trim(), beginWal);
      const rebuild = await barman('rebuild-xlogdb', 'main');
      assert.equal(rebuild.exitCode, 0, rebuild.stdout + rebuild.stderr);
      const keep = await barman('keep', '--target', 'full', 'main', backupId);
      assert.equal(keep.exitCode, 0, keep.stdout + keep.stderr);
      const status = await barman('keep', '--status', 'main', backupId);
      assert.match(status.stdout, /full/);
      const release = await barman('keep', '--release', 'main', backupId);
      assert.equal(release.exitCode, 0, release.stdout + release.stderr);
    });

    it('recovers to a point in time with exactly the rows committed before it', async () => {
      await pg.query("INSERT INTO items SELECT i, 'before the target' FROM generate_series(501, 1500) i");
      const [mark] = await pg.query<{ t: string }>(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t",
      );
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await pg.query("INSERT INTO items SELECT i, 'after the target' FROM generate_series(1501, 2500) i");
      await switchWalAndWaitArchived(pg);
      // cron has what archive_command left in incoming/ uploaded (its upload worker, in the background).
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stdout + cron.stderr);
      const incoming = join(dir, 'home', 'main', 'incoming');
      await waitFor(
        'incoming/ uploaded',
        () => readdirSync(incoming).filter((name) => /^[0-9A-F]{24}$/.test(name)).length === 0,
        { timeoutMs: 120_000 },
      );
      const destination = join(dir, 'recovered', 'pitr');
      const run = await barman(
        'recover',
        'main',
        backupId,
        destination,
        '--target-time',
        mark!.t,
        '--target-action',
        'promote',
      );
      assert.equal(run.exitCode, 0, run.stdout + run.stderr);
      const copy = await startRecoveredCopy(destination);
      started.push(copy);
      const [row] = await copy.query<{ n: string; max: number }>(
        'SELECT count(*) AS n, max(id) AS max FROM items',
      );
      assert.equal(row!.n, '1500');
      assert.equal(row!.max, 1500);
      const [big] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM big');
      assert.equal(big!.n, '300000');
      await copy.stop();
    });
  },
);
