/**
 * Network faults between barman-ts and object storage, and a 1 GiB+ file (issue 6). s3rver on
 * 127.0.0.1 sits behind a fault-injecting TCP proxy (test/harness/fault-proxy.ts) that resets
 * connections mid-request, refuses them or swallows them. PostgreSQL 15 archives its WAL
 * straight to s3rver; backups (local-to-cloud), cloud-wal-archive and the cloud-wal-upload
 * worker go through the proxy. A transient cut is retried and the work succeeds; a lasting fault
 * ends in a clean failure within bounded time: exit 1, one clear error, the backup FAILED in its
 * backup.info in the bucket, every multipart upload completed or aborted, nothing acknowledged
 * that is not stored; once the proxy forwards again, the next attempt succeeds. Last, a
 * local-to-cloud backup of a cluster holding a 1.1 GiB file of noise (split into several tar
 * parts and multipart uploads) is recovered and PostgreSQL started on it.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S3Storage } from '../../src/storage/s3/index.js';
import { acquireLock } from '../../src/locks/index.js';
import type { FaultProxy, IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  runCompletely,
  startBarman,
  startFaultProxy,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  waitFor,
  requireDebianPackages,
  writeBarmanConfig,
} from '../harness/index.js';

const MiB = 1024 * 1024;
const BUCKET = 'faults';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('object storage faults and large files', { concurrency: 1 }, () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let storage: S3Storage;
  const started: PostgresServer[] = [];
  const credentials = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: credentials(), timeoutMs: 300_000 });
  /**
   * Servers that see main's WAL archive through another endpoint or with another base prefix.
   * In one configuration, servers sharing a WAL archive are disabled (one's retention would
   * delete WAL the other needs), so each has a configuration of its own.
   */
  const VIEWS = ['big', 'archiver', 'archiver-proxied', 'nobucket'];
  const viewConfig = (server: string) => join(dir, `${server}.conf`);
  const barmanWith = (server: string, ...args: string[]) =>
    runBarman(['-c', viewConfig(server), ...args], {
      user: 'postgres',
      env: credentials(),
      timeoutMs: 300_000,
    });
  /**
   * barman.conf, and each view's section in a file of its own with the same [barman] (run as
   * postgres, the files are 0644). The conninfo names PostgreSQL's port once it runs.
   */
  const writeConfigs = (port?: number) => {
    const conninfo = `host=127.0.0.1${port === undefined ? '' : ` port=${port}`} user=postgres dbname=postgres`;
    const cloudBackups = (base: string): IniSection => ({
      conninfo,
      backup_method: 'local-to-cloud',
      immediate_checkpoint: true,
      basebackups_directory: `s3://${BUCKET}/${base}/base`,
      wals_directory: `s3://${BUCKET}/main/wals`,
    });
    const walsOnly = (wals: string, options: IniSection = {}): IniSection => ({
      conninfo,
      backup_method: 'local-rsync',
      wals_directory: `s3://${BUCKET}/${wals}`,
      ...options,
    });
    const servers: Record<string, IniSection> = {
      main: { ...cloudBackups('main'), backup_compression: 'none' },
      big: {
        ...cloudBackups('big'),
        // the 1 GiB file: no proxy in the way, several tar parts, multipart parts of 64 MiB
        aws_endpoint_url: s3.endpoint,
        // s3rver sends nothing while it joins the parts of a 1 GiB object
        aws_read_timeout: 60,
        backup_compression: 'none',
        cloud_upload_max_archive_size: '256Mi',
        cloud_upload_min_chunk_size: '64Mi',
      },
      archiver: walsOnly('main/wals', { aws_endpoint_url: s3.endpoint, compression: 'gzip' }),
      'archiver-proxied': walsOnly('main/wals', { compression: 'gzip' }),
      nobucket: { ...cloudBackups('nobucket'), basebackups_directory: 's3://no-such-bucket/nobucket/base' },
      wal: walsOnly('wal/wals'),
      async: walsOnly('async/wals'),
    };
    const write = (file: string, names: readonly string[]) =>
      writeBarmanConfig({
        dir,
        file,
        mode: 0o644,
        global: {
          barman_user: 'postgres',
          aws_endpoint_url: proxy.endpoint,
          aws_region: 'us-east-1',
          parallel_jobs: 2,
          aws_read_timeout: 3, // a black hole must not stall anything for long
        },
        servers: Object.fromEntries(names.map((name) => [name, servers[name]!])),
      });
    write(
      config,
      Object.keys(servers).filter((name) => !VIEWS.includes(name)),
    );
    for (const view of VIEWS) write(viewConfig(view), [view]);
  };
  const s3rverLog = () => readFileSync(join(s3.dataDir, '..', 's3rver.log'), 'utf8');

  /** Multipart uploads s3rver still holds (it keeps their parts on disk until completed). */
  const openUploads = (): string[] => {
    const uploads = join(s3.dataDir, BUCKET, '._S3rver_uploads');
    return existsSync(uploads) ? readdirSync(uploads) : [];
  };
  /** Open uploads no AbortMultipartUpload was sent for (s3rver logs the abort, answers 405). */
  const orphanUploads = (): string[] => {
    const log = s3rverLog();
    const aborted = new Set(
      [...log.matchAll(/uploadId=([0-9a-f]+)[^\n]*AbortMultipartUpload/g)].map((match) => match[1]!),
    );
    return openUploads().filter((id) => !aborted.has(id));
  };
  const backupIdOf = (stdout: string): string => {
    const match =
      /Starting backup using local-to-cloud method for server \S+ in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(stdout);
    assert.ok(match, stdout);
    return match[1]!;
  };
  const backupInfo = async (server: string, id: string) =>
    (await storage.readFile(`${server}/base/${id}/backup.info`)).toString('utf8');
  /** No JavaScript stack in what an operator sees. */
  const assertNoStack = (output: string) => assert.doesNotMatch(output, /^\s+at .+:\d+:\d+\)?$/m);

  before(async () => {
    requireDebianPackages('barman-cli-cloud', 'python3-boto3');
    s3 = await startS3Server({ buckets: [BUCKET] });
    proxy = await startFaultProxy(s3.port);
    dir = await makeTempDir('cloud-faults', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'files', 'recovered']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = join(dir, 'barman.conf');
    writeConfigs();
    Object.assign(process.env, credentials());
    storage = new S3Storage({
      bucket: BUCKET,
      prefix: '',
      region: 'us-east-1',
      profile: null,
      endpointUrl: s3.endpoint,
      encryption: null,
      kmsKeyId: null,
      readTimeoutMs: 30_000,
      connectTimeoutMs: 5_000,
      maxAttempts: 3,
      partSize: 5 * MiB,
      partConcurrency: 2,
      deleteBatchSize: 1000,
    });
    // The cluster's own WAL goes straight to s3rver: only barman-ts's backups meet the faults.
    pg = await startPostgres({
      version: 15,
      archiveCommand:
        `env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ` +
        `${process.execPath} ${BARMAN_BIN} -c ${viewConfig('archiver')} -q cloud-wal-archive archiver %p`,
    });
    writeConfigs(pg.port);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
    await pg.query('INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 100000) AS i');
    await switchWalAndWaitArchived(pg);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await proxy?.stop();
    storage?.destroy();
    await s3?.stop();
  });

  it('local-to-cloud: connections reset mid-upload are retried and the backup completes', async () => {
    await proxy.pass();
    const cutsBefore = proxy.stats.cuts;
    // Four: more than the SDK's own three attempts would survive if they hit the same part.
    proxy.cutRequestsAfter(2 * MiB, 4);
    const run = await barman('backup', 'main');
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    assert.equal(proxy.stats.cuts - cutsBefore, 4, 'the resets happened during the backup');
    const id = backupIdOf(run.stdout);
    assert.match(await backupInfo('main', id), /^status=DONE$/m);
    assert.deepEqual(orphanUploads(), []);
  });

  it('local-to-cloud: a lasting fault on uploads fails cleanly: FAILED in the bucket, uploads aborted', async () => {
    await proxy.pass();
    // Every request carrying more than 1 MiB is reset: small ones (backup.info, abort) still pass.
    proxy.cutRequestsAfter(1 * MiB);
    const startedAt = Date.now();
    const run = await barman('backup', 'main');
    const elapsed = Date.now() - startedAt;
    await proxy.pass();
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
    assert.match(run.stderr, /^ERROR: Backup failed copying files\.$/m);
    assert.match(
      run.stderr,
      /DETAILS: cannot upload part \d+ of s3:\/\/faults\/main\/base\/\d{8}T\d{6}\/data\.tar: the connection to http:\/\/127\.0\.0\.1:\d+ was cut \(ECONNRESET\) after 5 attempts$/m,
    );
    assertNoStack(run.stderr + run.stdout);
    const id = backupIdOf(run.stdout);
    const info = await backupInfo('main', id);
    assert.match(info, /^status=FAILED$/m);
    assert.match(info, /^error=failure copying files \(cannot upload part/m);
    const list = await barman('list-backup', 'main');
    assert.match(list.stdout, new RegExp(`^main ${id} - FAILED$`, 'm'));
    assert.ok(openUploads().length > 0, 'a multipart upload was started');
    assert.deepEqual(orphanUploads(), []);
    // Nothing holds the backup: the next one works.
    const next = await barman('backup', 'main');
    assert.equal(next.exitCode, 0, next.stderr);
  });

  it('local-to-cloud: an endpoint that stops answering mid-upload is abandoned after aws_read_timeout and retried', async () => {
    await proxy.pass();
    const cutsBefore = proxy.stats.cuts;
    // The first request to pass 2 MiB freezes (read and dropped, never answered), once.
    proxy.stallRequestsAfter(2 * MiB, 1);
    const startedAt = Date.now();
    const run = await barman('backup', 'main');
    const elapsed = Date.now() - startedAt;
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    // aws_read_timeout = 3: the frozen request was given up after 3 s, not hours.
    assert.ok(elapsed >= 3000 && elapsed < 60_000, `took ${elapsed} ms`);
    assert.equal(proxy.stats.cuts, cutsBefore, 'barman-ts closed the frozen connection itself');
    assert.match(await backupInfo('main', backupIdOf(run.stdout)), /^status=DONE$/m);
    assert.deepEqual(orphanUploads(), []);
  });

  it('local-to-cloud: S3 gone for good mid-upload: a clean, bounded failure, marked FAILED by the next backup', async () => {
    await proxy.pass();
    const bytesBefore = proxy.stats.bytesUp;
    // Paced at ~20 MB/s: the ~30 MB upload lasts long enough to be caught in the middle.
    const running = barman('backup', '--bwlimit', '20000', 'main');
    // Down once the data upload is under way (backup.info and the WAL listing are far smaller).
    await waitFor('the upload to start', () => proxy.stats.bytesUp - bytesBefore > 6 * MiB, {
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    await proxy.down();
    const downAt = Date.now();
    const run = await running;
    const elapsed = Date.now() - downAt;
    await proxy.pass();
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    // Three requests (the part, its abort, backup.info FAILED), each ~6 s of retries.
    assert.ok(elapsed < 45_000, `took ${elapsed} ms after the outage`);
    assert.match(run.stderr, /^ERROR: Backup failed copying files\.$/m);
    assert.match(
      run.stderr,
      /^DETAILS: cannot (upload part \d+ of|start the upload of|complete the upload of) s3:\/\/faults\/main\/base\/\d{8}T\d{6}\/data(_\d{4})?\.tar: (cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)|the connection to http:\/\/127\.0\.0\.1:\d+ was cut \(ECONNRESET\)) after 5 attempts$/m,
    );
    const id = backupIdOf(run.stdout);
    assert.match(
      run.stderr,
      new RegExp(
        `^WARNING: cannot mark backup ${id} FAILED: .*; it stays STARTED until the next backup of main marks it FAILED$`,
        'm',
      ),
    );
    assertNoStack(run.stderr + run.stdout);
    assert.match(await backupInfo('main', id), /^status=STARTED$/m);
    // The abort could not reach S3 either: that upload is left for the next backup, which finds
    // it in the upload journal next to the backup lock.
    const left = orphanUploads();
    assert.equal(left.length, 1, left.join(', '));
    const journal = readFileSync(join(dir, 'home', '.main-backup.uploads'), 'utf8');
    assert.match(journal, new RegExp(`^main/base/${id}/data\\.tar ${left[0]}$`, 'm'));
    const next = await barman('backup', 'main');
    assert.equal(next.exitCode, 0, next.stderr);
    assert.match(
      next.stderr,
      new RegExp(`backup ${id} was interrupted \\(status STARTED\\); marking it FAILED`),
    );
    const list = await barman('list-backup', 'main');
    assert.match(list.stdout, new RegExp(`^main ${id} - FAILED$`, 'm'));
    assert.deepEqual(orphanUploads(), [], 'the next backup aborted the stranded upload');
    assert.equal(readFileSync(join(dir, 'home', '.main-backup.uploads'), 'utf8'), '');
    // It also asks S3 for any other unfinished upload of that backup (ListMultipartUploads:
    // s3rver answers NotImplemented, AWS and most compatible stores list them).
    assert.match(s3rverLog(), new RegExp(`main%2Fbase%2F${id}&uploads=`));
  });

  it('cloud-wal-archive: a multipart WAL upload reset mid-body is retried; a lasting reset or freeze fails cleanly, aborted, then it succeeds', async () => {
    // 96 MiB of noise: WAL files over 64 MiB go up as multipart uploads (of 64 MiB parts).
    const name = '000000010000000A00000001';
    const path = join(dir, 'files', name);
    const digest = await writeNoise(path, 96 * MiB, 3);
    chmodSync(path, 0o644);
    const key = `wal/wals/000000010000000A/${name}`;
    await proxy.pass();
    proxy.cutRequestsAfter(4 * MiB);
    const startedAt = Date.now();
    const failed = await barman('cloud-wal-archive', 'wal', path);
    const elapsed = Date.now() - startedAt;
    await proxy.pass();
    assert.equal(failed.exitCode, 1, failed.stderr);
    assert.ok(elapsed < 40_000, `took ${elapsed} ms`);
    assert.match(
      failed.stderr,
      new RegExp(
        `^ERROR: cannot upload part \\d of s3://faults/wal/wals/000000010000000A/${name}: the connection to http://127\\.0\\.0\\.1:\\d+ was cut \\(ECONNRESET\\) after 5 attempts$`,
        'm',
      ),
    );
    assertNoStack(failed.stderr);
    assert.equal(await storage.stat(key), null, 'nothing stored under the name');
    assert.ok(s3rverLog().includes(`/${key}?uploadId=`), 'a multipart upload was started');
    assert.deepEqual(orphanUploads(), []);

    // A part frozen past --timeout (2 s, before aws_read_timeout): the command gives up at the
    // timeout, but not before the multipart upload it started is aborted.
    const uploadsBefore = openUploads().length;
    proxy.stallRequestsAfter(4 * MiB, 1);
    const timedOutAt = Date.now();
    const timedOut = await barman('cloud-wal-archive', '--timeout', '2', 'wal', path);
    const timedOutMs = Date.now() - timedOutAt;
    await proxy.pass();
    assert.equal(timedOut.exitCode, 1, timedOut.stderr);
    assert.match(timedOut.stderr, new RegExp(`${name} was not archived: no complete answer .* within 2 s`));
    assert.ok(timedOutMs < 12_000, `took ${timedOutMs} ms`);
    assert.equal(openUploads().length, uploadsBefore + 1, 'a multipart upload was started');
    assert.deepEqual(orphanUploads(), []);

    const cutsBefore = proxy.stats.cuts;
    proxy.cutRequestsAfter(4 * MiB, 3);
    const retried = await barman('cloud-wal-archive', 'wal', path);
    assert.equal(retried.exitCode, 0, retried.stderr);
    assert.equal(proxy.stats.cuts - cutsBefore, 3);
    assert.equal(sha(await storage.readFile(key)), digest);
    assert.deepEqual(orphanUploads(), []);
  });

  it('cloud-wal-archive: a PUT that freezes mid-body is retried; a lasting freeze ends at --timeout, then it succeeds', async () => {
    // A 16 MiB segment: one PutObject.
    const name = '000000010000000A00000002';
    const path = join(dir, 'files', name);
    const digest = await writeNoise(path, 16 * MiB, 4);
    chmodSync(path, 0o644);
    const key = `wal/wals/000000010000000A/${name}`;
    await proxy.pass();
    proxy.stallRequestsAfter(2 * MiB);
    let startedAt = Date.now();
    const frozen = await barman('cloud-wal-archive', '--timeout', '8', 'wal', path);
    let elapsed = Date.now() - startedAt;
    await proxy.pass();
    assert.equal(frozen.exitCode, 1, frozen.stderr);
    assert.ok(elapsed >= 8000 && elapsed < 15_000, `took ${elapsed} ms`);
    assert.match(
      frozen.stderr,
      new RegExp(
        `^ERROR: .*${name} was not archived: no complete answer from s3://faults/wal/wals within 8 s$`,
        'm',
      ),
    );
    assertNoStack(frozen.stderr);

    proxy.stallRequestsAfter(2 * MiB, 1);
    startedAt = Date.now();
    const retried = await barman('cloud-wal-archive', '--timeout', '30', 'wal', path);
    elapsed = Date.now() - startedAt;
    assert.equal(retried.exitCode, 0, retried.stderr);
    assert.ok(elapsed >= 3000, `the frozen attempt waited for aws_read_timeout (${elapsed} ms)`);
    assert.equal(sha(await storage.readFile(key)), digest);
  });

  it('cloud-wal-upload: uploads reset mid-body keep every file spooled, and all go up once S3 is back', async () => {
    await proxy.pass();
    const spool = join(dir, 'home', 'async', 'incoming');
    const files = new Map<string, string>();
    // Holding the worker lock keeps the enqueuers from starting a worker before the fault is set.
    const lockFile = join(dir, 'home', '.async-cloud-wal-upload.lock');
    writeFileSync(lockFile, '');
    await chownTo(lockFile, 'postgres'); // the worker (barman_user) opens it too
    const held = await acquireLock(lockFile, { waitMs: 30_000 });
    try {
      for (let segment = 1; segment <= 3; segment++) {
        const name = `00000001000000B00000000${segment}`;
        const path = join(dir, 'files', name);
        files.set(name, await writeNoise(path, 8 * MiB, 10 + segment));
        chmodSync(path, 0o644);
        const queued = await barman('cloud-wal-archive', '--async', 'async', path);
        assert.equal(queued.exitCode, 0, queued.stderr);
      }
    } finally {
      held.release();
    }
    const spooled = () => readdirSync(spool).filter((entry) => /^[0-9A-F]{24}$/.test(entry));
    assert.equal(spooled().length, 3);
    proxy.cutRequestsAfter(1 * MiB);
    const logFile = join(dir, 'log', 'barman.log');
    const failuresBefore = (readFileSync(logFile, 'utf8').match(/cannot upload 00000001000000B0/g) ?? [])
      .length;
    const worker = startBarman(['-c', config, 'cloud-wal-upload', 'async']);
    try {
      await waitFor(
        'a round of failed uploads',
        () =>
          (readFileSync(logFile, 'utf8').match(/cannot upload 00000001000000B0/g) ?? []).length -
            failuresBefore >=
          3,
        { timeoutMs: 60_000 },
      );
      assert.equal(spooled().length, 3, 'nothing left the spool');
      // s3rver keeps what a cut PUT delivered: at most a truncated copy, never the whole file.
      for (const [name, digest] of files) {
        const stored = await storage.stat(`async/wals/00000001000000B0/${name}`);
        if (stored)
          assert.notEqual(sha(await storage.readFile(`async/wals/00000001000000B0/${name}`)), digest);
      }
      await proxy.pass();
      const backAt = Date.now();
      const exit = await worker.exited;
      // The retry delay doubled once for that round of failures (1 s, then 2 s), not once per file.
      assert.ok(Date.now() - backAt < 20_000, `the worker took ${Date.now() - backAt} ms after S3 came back`);
      assert.equal(exit.exitCode, 0, exit.stderr);
      assert.deepEqual(spooled(), []);
      for (const [name, digest] of files)
        assert.equal(sha(await storage.readFile(`async/wals/00000001000000B0/${name}`)), digest, name);
      assertNoStack(exit.stderr + exit.stdout);
    } finally {
      await proxy.pass();
      worker.child.kill('SIGKILL'); // a no-op once it has exited; never left running on a failure
    }
  });

  it('local-to-cloud: wrong credentials and a missing bucket are named, with no stack and no secret', async () => {
    await proxy.pass();
    const secret = 'not-the-secret-7f3a1';
    // s3rver checks key ids, not signatures: AWS would refuse either.
    const denied = await runBarman(['-c', config, 'backup', 'main'], {
      user: 'postgres',
      env: { AWS_ACCESS_KEY_ID: 'AKIAWRONGKEYID', AWS_SECRET_ACCESS_KEY: secret },
      timeoutMs: 120_000,
    });
    assert.equal(denied.exitCode, 1, denied.stdout);
    // The pre-backup check meets it first (HeadBucket: a status, no error name).
    assert.match(
      denied.stderr,
      /^ERROR: Impossible to start the backup: cloud WAL archive \(cannot access bucket 'faults': access denied \(HTTP 403\)\)/m,
    );
    assert.ok(!(denied.stderr + denied.stdout).includes(secret));
    assertNoStack(denied.stderr + denied.stdout);

    const missing = await barmanWith('nobucket', 'backup', 'nobucket');
    assert.equal(missing.exitCode, 1, missing.stdout);
    // The pre-backup check reads the catalogue in the bucket, and names the problem once.
    assert.match(
      missing.stderr,
      /^ERROR: Impossible to start the backup: cloud backup catalogue \(cannot list s3:\/\/no-such-bucket\/nobucket\/base\/: bucket 'no-such-bucket' does not exist\)\. Run 'barman check nobucket' for details$/m,
    );
    assertNoStack(missing.stderr + missing.stdout);
  });

  it('archive_command through an S3 outage: PostgreSQL retries, nothing is acknowledged that is not stored', async () => {
    await proxy.pass();
    const archived = async () =>
      (
        await pg.query<{ last: string | null; failed: string }>(
          'SELECT last_archived_wal AS last, failed_count::text AS failed FROM pg_stat_archiver',
        )
      )[0]!;
    const inBucket = async (name: string) =>
      (await storage.stat(`main/wals/${name.slice(0, 16)}/${name}.gz`)) !== null;
    // --timeout 3: PostgreSQL's archiver waits for each attempt.
    await pg.query(
      `ALTER SYSTEM SET archive_command = 'env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ` +
        `${process.execPath} ${BARMAN_BIN} -c ${viewConfig('archiver-proxied')} -q cloud-wal-archive --timeout 3 archiver-proxied %p'`,
    );
    await pg.query('SELECT pg_reload_conf()');
    try {
      const before = await archived();
      await proxy.down();
      await pg.query('INSERT INTO items VALUES (100001)');
      const [row] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
      const pending = row!.name;
      await waitFor(
        'failed archive attempts',
        async () => Number((await archived()).failed) >= Number(before.failed) + 2,
        {
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
      const during = await archived();
      assert.ok(
        during.last === null || during.last < pending,
        `${pending} was acknowledged during the outage`,
      );
      assert.equal(await inBucket(pending), false);
      await proxy.pass();
      // A WAL switch wakes the archiver, which then archives the backlog in order.
      const next = await switchWalAndWaitArchived(pg, 120_000);
      for (const name of [pending, next]) assert.ok(await inBucket(name), `${name} is in the bucket`);
    } finally {
      await proxy.pass();
      await pg.query('ALTER SYSTEM RESET archive_command');
      await pg.query('SELECT pg_reload_conf()');
    }
  });

  it('local-to-cloud: a 1.1 GiB file crosses tar parts and multipart boundaries and is recovered byte for byte', async () => {
    const bigName = 'barman_ts_big.bin';
    const bigPath = join(pg.dataDir, bigName);
    const size = 1100 * MiB + 12345;
    const digest = await writeNoise(bigPath, size, 9);
    await chownTo(bigPath, 'postgres');
    const [source] = await pg.query<{ n: string }>('SELECT count(*) AS n FROM items');
    let run;
    try {
      run = await barmanWith('big', 'backup', 'big');
    } finally {
      rmSync(bigPath, { force: true });
    }
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    const id = backupIdOf(run.stdout);
    const parts = (await storage.listObjects(`big/base/${id}`))
      .filter((object) => /\/data(_\d{4})?\.tar$/.test(object.path))
      .sort((a, b) => a.path.localeCompare(b.path));
    // cloud_upload_max_archive_size = 256Mi: the files before it, the big file alone in a part
    // of its own (a member is never split), the rest, then backup_label.
    assert.ok(parts.length >= 3, parts.map((part) => part.path).join(', '));
    const oversized = parts.filter((part) => part.size > 256 * MiB);
    assert.equal(oversized.length, 1, parts.map((part) => `${part.path} ${part.size}`).join(', '));
    const big = oversized[0]!;
    assert.ok(big.size > size && big.size < size + MiB, `${big.path}: ${big.size} bytes`);
    // cloud_upload_min_chunk_size = 64Mi: 18 parts for that archive.
    const partNumbers = new Set(
      [...s3rverLog().matchAll(new RegExp(`${big.key}\\?[^\\n]*partNumber=(\\d+)`, 'g'))].map((m) => m[1]),
    );
    assert.equal(partNumbers.size, Math.ceil(big.size / (64 * MiB)));

    const destination = join(dir, 'recovered', 'big');
    const recovered = await barmanWith('big', 'recover', 'big', id, destination);
    assert.equal(recovered.exitCode, 0, recovered.stderr);
    assert.equal(await fileSha(join(destination, bigName)), digest);
    const server = await startRecoveredCopy(destination);
    started.push(server);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, source!.n);
    await server.stop();
    rmSync(destination, { recursive: true, force: true });

    // Debian's barman-cloud-restore reads the same parts (the oversized one included).
    const restored = join(dir, 'recovered', 'big-cloud-restore');
    const cloudRestore = await runCompletely(
      'postgres',
      'barman-cloud-restore',
      ['--endpoint-url', s3.endpoint, `s3://${BUCKET}`, 'big', id, restored],
      { env: s3.env, timeoutMs: 300_000 },
    );
    assert.equal(cloudRestore.exitCode, 0, cloudRestore.stderr);
    assert.equal(await fileSha(join(restored, bigName)), digest);
    assert.ok(existsSync(join(restored, 'global', 'pg_control')));
    assert.match(readFileSync(join(restored, 'backup_label'), 'utf8'), new RegExp(`Barman backup big ${id}`));
    rmSync(restored, { recursive: true, force: true });
  });
});

/** Deterministic noise (AES-CTR keystream) of `size` bytes written to `path`; resolves with its sha256. */
async function writeNoise(path: string, size: number, seed: number): Promise<string> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const zeros = Buffer.alloc(4 * MiB);
  for (let written = 0; written < size;) {
    const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - written)));
    hash.update(chunk);
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return hash.digest('hex');
}

async function fileSha(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
