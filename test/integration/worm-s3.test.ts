/**
 * worm_mode on s3:// locations, against an S3 server that enforces Object Lock (Debian 13's
 * moto_server, test/harness/moto.ts): a postgres-method backup streamed to the bucket and the
 * WAL archived with cloud-wal-archive carry an Object Lock retention (COMPLIANCE, write time +
 * worm_object_lock_retention); `check` passes on a bucket with Object Lock and fails on a plain
 * one; `delete` is refused before anything goes, naming the object and until when, and leaves
 * every object version and the catalogue as they were; `recover` works from the locked bucket
 * (PostgreSQL started on the copy, rows read back); once the retention has passed, `delete`
 * removes the backup's object versions.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import type { IniSection, MotoServer, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startMotoServer,
  startPostgres,
  startRecoveredCopy,
  switchWalAndWaitArchived,
  writeBarmanConfig,
} from '../harness/index.js';

const LOCKED = 'worm-locked';
const PLAIN = 'worm-plain';
/** Short enough to wait out in the test, long enough for the steps before the wait. */
const RETENTION_SECONDS = 40;

describe('worm_mode with s3:// locations (S3 Object Lock on moto_server)', { concurrency: 1 }, () => {
  let s3: MotoServer;
  let pg: PostgresServer;
  let dir = '';
  let config = '';
  let backupId = '';
  let backupStarted = 0;
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: s3.env, timeoutMs: 300_000 });
  const server = (bucket: string, extra: IniSection = {}): IniSection => ({
    conninfo: pg.conninfo,
    streaming_conninfo: pg.conninfo,
    backup_method: 'postgres',
    backup_compression: 'gzip',
    immediate_checkpoint: true,
    archiver: true,
    basebackups_directory: `s3://${bucket}/barman/main/base`,
    wals_directory: `s3://${bucket}/barman/main/wals`,
    ...extra,
  });

  /** Every version (and delete marker) under `prefix` of a bucket, as key@version lines. */
  const versions = async (prefix: string, bucket = LOCKED): Promise<string[]> => {
    const page = await s3.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
    return [
      ...(page.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`),
      ...(page.DeleteMarkers ?? []).map((v) => `${v.Key}@${v.VersionId} (delete marker)`),
    ].sort();
  };

  before(async () => {
    s3 = await startMotoServer([
      { name: LOCKED, objectLock: true },
      { name: PLAIN, objectLock: false },
    ]);
    dir = await makeTempDir('worm-s3', { owner: 'postgres' });
    for (const sub of ['home', 'recovered']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 15,
      archiveCommand:
        `env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ` +
        `${process.execPath} ${BARMAN_BIN} -c ${config} -q cloud-wal-archive main %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
        worm_mode: 'on',
        worm_object_lock_retention: `${RETENTION_SECONDS} seconds`,
      },
      servers: { main: server(LOCKED), plain: server(PLAIN, { archiver: false }) },
    });
    await pg.query('CREATE TABLE items (id int PRIMARY KEY)');
    await pg.query('INSERT INTO items SELECT generate_series(1, 1000)');
    // Enough for a data archive above one part (5 MiB): the multipart upload is locked too.
    await pg.query('CREATE TABLE big AS SELECT i, md5(i::text) AS h FROM generate_series(1, 300000) i');
    await switchWalAndWaitArchived(pg);
  });

  after(async () => {
    for (const copy of started) await copy.stop();
    await pg?.stop();
    await s3?.stop();
  });

  it('check: s3 object lock OK on a bucket with Object Lock, FAILED on a plain one', async () => {
    const locked = await barman('check', 'main');
    assert.match(
      locked.stdout,
      new RegExp(
        `s3 object lock: OK \\(bucket '${LOCKED}' enforces S3 Object Lock \\(no default retention\\); ` +
          'barman-ts locks each object COMPLIANCE for 40 seconds from its write\\)',
      ),
      locked.stdout,
    );
    assert.match(locked.stdout, /cloud WAL archive: OK/, locked.stdout);
    const plain = await barman('check', 'plain');
    assert.equal(plain.exitCode, 1, plain.stdout);
    assert.match(
      plain.stdout,
      new RegExp(
        `s3 object lock: FAILED \\(s3://${PLAIN}/barman/main/base: bucket '${PLAIN}' does not have S3 Object Lock enabled`,
      ),
    );
  });

  it('a backup to a bucket without Object Lock is refused before it starts, saying why', async () => {
    const run = await barman('backup', 'plain');
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `Impossible to start the backup: s3 object lock \\(.*bucket '${PLAIN}' does not have S3 Object Lock enabled`,
      ),
    );
    assert.deepEqual(await versions('barman/main/base/', PLAIN), [], 'nothing written to the bucket');
  });

  it('a backup and the WAL carry Object Lock retention until write time + worm_object_lock_retention', async () => {
    backupStarted = Date.now();
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const list = await barman('list-backup', 'main');
    backupId = /^main (\d{8}T\d{6})/m.exec(list.stdout)?.[1] ?? '';
    assert.ok(backupId, list.stdout);
    assert.doesNotMatch(list.stdout, /FAILED|STARTED|WAITING/);
    // barman-cloud's layout: no WAL index (xlogdb_directory is not needed), and backup.info
    // stays in the bucket, where each change is a new, locked, version.
    assert.ok(!existsSync(join(dir, 'home/main/wals')));
    const ended = Date.now();
    const objects = [...(await versions('barman/main/base/')), ...(await versions('barman/main/wals/'))];
    assert.ok(
      objects.some((line) => line.includes(`/base/${backupId}/data.tar.gz@`)),
      objects.join('\n'),
    );
    assert.ok(
      objects.some((line) => /\/wals\/0000000100000000\/000000010000000000000001\.gz@/.test(line)),
      objects.join('\n'),
    );
    // Each change of backup.info is a new version, every one of them locked.
    assert.ok(objects.filter((line) => line.includes(`/base/${backupId}/backup.info@`)).length > 1);
    let largest = 0;
    for (const line of objects) {
      const [key, versionId] = line.split('@');
      const head = await s3.client.send(
        new HeadObjectCommand({ Bucket: LOCKED, Key: key, VersionId: versionId }),
      );
      largest = Math.max(largest, head.ContentLength ?? 0);
      assert.equal(head.ObjectLockMode, 'COMPLIANCE', key);
      const until = head.ObjectLockRetainUntilDate?.getTime() ?? 0;
      // The WAL archived before the backup was locked earlier: the lower bound is the test's start.
      assert.ok(until <= ended + RETENTION_SECONDS * 1000 + 2000, `${key} locked until ${until}`);
      assert.ok(until >= backupStarted - 120_000 + RETENTION_SECONDS * 1000, `${key} locked until ${until}`);
    }
    assert.ok(largest > 5 * 1024 * 1024, `an object uploaded in parts (largest: ${largest} bytes)`);
  });

  it('delete of the locked backup is refused before anything goes, saying until when', async () => {
    const base = await versions('barman/main/base/');
    const wals = await versions('barman/main/wals/');
    const run = await barman('delete', 'main', backupId);
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr + run.stdout,
      new RegExp(
        `cannot delete backup ${backupId}: s3://${LOCKED}/barman/main/base/${backupId}/\\S+ is locked by S3 Object Lock \\(COMPLIANCE mode\\), ` +
          'write-once storage keeps it until \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d.\\d{3}Z; nothing was removed',
      ),
    );
    assert.deepEqual(await versions('barman/main/base/'), base, 'no object version and no delete marker');
    // PostgreSQL may archive a new segment meanwhile: every earlier one must still be there.
    const walsNow = new Set(await versions('barman/main/wals/'));
    assert.deepEqual(
      wals.filter((line) => !walsNow.has(line)),
      [],
    );
    assert.ok(![...walsNow].some((line) => line.endsWith('(delete marker)')));
    const list = await barman('list-backup', 'main');
    assert.match(list.stdout, new RegExp(`^main ${backupId} `, 'm'));
  });

  it('recover from the locked bucket: PostgreSQL started on the copy has the rows', async () => {
    await pg.query('INSERT INTO items SELECT generate_series(1001, 2000)');
    await switchWalAndWaitArchived(pg);
    const destination = join(dir, 'recovered', 'pgdata');
    const run = await barman('recover', 'main', backupId, destination);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const copy = await startRecoveredCopy(destination);
    started.push(copy);
    const [row] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '2000');
    const [big] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM big');
    assert.equal(big!.n, '300000');
    await copy.stop();
  });

  it('once the retention has passed, delete removes every version of the backup', async () => {
    // Every object of the backup was written before the backup's end: wait out its retention.
    const wait = backupStarted + RETENTION_SECONDS * 1000 + 60_000 - Date.now();
    const latest = await latestRetention(`barman/main/base/${backupId}/`);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Math.min(wait, latest - Date.now() + 1500))),
    );
    const run = await barman('delete', 'main', backupId);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.deepEqual(
      await versions(`barman/main/base/${backupId}/`),
      [],
      'versions gone, no delete marker left',
    );
    const list = await barman('list-backup', 'main');
    assert.doesNotMatch(list.stdout, new RegExp(backupId));
  });

  /** The latest retain-until date of the object versions under `prefix`. */
  async function latestRetention(prefix: string): Promise<number> {
    let latest = 0;
    for (const line of await versions(prefix)) {
      const [key, versionId] = line.split('@');
      const head = await s3.client.send(
        new HeadObjectCommand({ Bucket: LOCKED, Key: key, VersionId: versionId }),
      );
      latest = Math.max(latest, head.ObjectLockRetainUntilDate?.getTime() ?? 0);
    }
    return latest;
  }
});
