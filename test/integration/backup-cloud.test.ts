/**
 * backup_method = local-to-cloud (s3rver on 127.0.0.1): PostgreSQL 15 with a tablespace archives
 * its WAL with `barman cloud-wal-archive`; `barman backup` streams gzip tar archives to the
 * bucket, split into parts by cloud_upload_max_archive_size; list-backup shows it DONE (and so
 * does Debian's barman-cloud-backup-list when installed); `barman recover` restores it with the
 * WAL at the end of the archive and PostgreSQL started on the result has every row. With the
 * object storage unreachable the backup fails with a clear error.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  freePort,
  makeTempDir,
  runBarman,
  runCompletely,
  startPostgres,
  startS3Server,
  waitFor,
  waitForEndOfRecovery,
  switchWalAndWaitArchived,
  requireDebianPackages,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const BUCKET = 'backup-cloud';

describe('barman backup with backup_method = local-to-cloud', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let backupId: string;
  const started: PostgresServer[] = [];
  const credentials = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: credentials(), timeoutMs: 300_000 });

  const switchAndWait = () => switchWalAndWaitArchived(pg).then(() => undefined);
  /**
   * barman.conf (archive_command, run as postgres, reads it); `main` overrides options of [main].
   * The archive command needs the file before PostgreSQL starts, the backup its port.
   */
  const writeConfig = (main: IniSection = {}, at: { port?: number; file?: string; endpoint?: string } = {}) =>
    writeBarmanConfig({
      dir,
      file: at.file,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: at.endpoint ?? s3.endpoint,
        aws_region: 'us-east-1',
        parallel_jobs: 2,
      },
      servers: {
        main: {
          conninfo: `host=127.0.0.1${at.port === undefined ? '' : ` port=${at.port}`} user=postgres dbname=postgres`,
          backup_method: 'local-to-cloud',
          backup_compression: 'gzip',
          cloud_upload_max_archive_size: '8M',
          immediate_checkpoint: true,
          basebackups_directory: `s3://${BUCKET}/barman/main/base`,
          wals_directory: `s3://${BUCKET}/barman/main/wals`,
          ...main,
        },
      },
    });

  before(async () => {
    requireDebianPackages('barman-cli-cloud', 'python3-boto3');
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('backup-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'tbs', 'recovered']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = writeConfig();
    pg = await startPostgres({
      version: 15,
      archiveCommand: cloudWalArchiveCommand(s3, config),
    });
    // The archive command needs the configuration before PostgreSQL starts, the backup its port.
    writeConfig({}, { port: pg.port });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY) TABLESPACE tbs1');
    await pg.query('CREATE TABLE empty_dir_check (id int)');
    await pg.query('INSERT INTO items SELECT generate_series(1, 1000)');
    await switchAndWait();
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await s3?.stop();
  });

  it('streams the backup to the bucket in tar parts and lists it DONE', async () => {
    const run = await barman('backup', 'main');
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    const id =
      /Starting backup using local-to-cloud method for server main in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(
        run.stdout,
      );
    assert.ok(id, run.stdout);
    backupId = id[1]!;
    // cloud_upload_max_archive_size = 8M splits PGDATA (~30 MB of tar) into several parts.
    const archives = /^Backup size: .* in \d+ archives \((.*)\)$/m.exec(run.stdout);
    assert.ok(archives, run.stdout);
    const dataParts = archives[1]!.split(', ').filter((name) => /^data(_\d{4})?\.tar\.gz$/.test(name));
    assert.ok(dataParts.length >= 3, archives[1]);
    assert.match(run.stdout, /\d+\.tar\.gz/);
    await pg.query('INSERT INTO items SELECT generate_series(1001, 2000)');
    await switchAndWait();
    const list = await barman('list-backup', 'main');
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`main ${backupId} .*Size:`));
    const shown = await barman('show-backup', 'main', backupId);
    assert.equal(shown.exitCode, 0, shown.stderr);
    assert.match(shown.stdout, /Status\s+: DONE/);
    // Debian's barman-cli-cloud (installed by .ci/run) lists it too.
    const listed = await runCompletely(
      'postgres',
      'barman-cloud-backup-list',
      ['--endpoint-url', s3.endpoint, `s3://${BUCKET}/barman`, 'main'],
      { env: s3.env, timeoutMs: 120_000 },
    );
    assert.equal(listed.exitCode, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(backupId));
  });

  it('recovers the backup with the archived WAL and PostgreSQL starts with every row', async () => {
    const destination = join(dir, 'recovered', 'end');
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(existsSync(join(destination, 'pg_wal')));
    assert.ok(existsSync(join(destination, 'backup_label')));
    // PostgreSQL's own tool checks every restored file against the backup's manifest (sizes and
    // SHA-256), tablespace included; -n: the WAL is checked by starting the server below. Ignored:
    // what recovery changes on purpose (archive_command disabled, the saved originals, the
    // tablespace_map replaced by the relocated links) and its own files.
    const manifest = `backup_manifest.${backupId}`;
    const ignored = [
      manifest,
      '.barman-recover.info',
      'postgresql.conf',
      'postgresql.conf.origin',
      'postgresql.auto.conf.origin',
      'tablespace_map',
    ];
    const verified = await runCompletely('postgres', '/usr/lib/postgresql/15/bin/pg_verifybackup', [
      '-n',
      '-m',
      join(destination, manifest),
      ...ignored.flatMap((name) => ['-i', name]),
      destination,
    ]);
    assert.equal(verified.exitCode, 0, verified.stderr + verified.stdout);
    assert.match(verified.stdout, /backup successfully verified/);
    const server = await startPostgres({ version: 15, existingDataDir: destination });
    started.push(server);
    await waitFor(
      'the recovered server to leave recovery',
      async () => !(await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r,
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '2000');
    await server.stop();
  });

  it('recover --bwlimit paces the archive downloads (bandwidth_limit)', async () => {
    const backupDir = join(s3.dataDir, BUCKET, 'barman', 'main', 'base', backupId);
    const bytes = readdirSync(backupDir)
      .filter((name) => /\.tar(\.gz)?\._S3rver_object$/.test(name))
      .reduce((sum, name) => sum + statSync(join(backupDir, name)).size, 0);
    // A limit that makes the downloads last about 4 s, whatever the archives weigh.
    const limitKbps = Math.max(1, Math.floor(bytes / 1024 / 4));
    const destination = join(dir, 'recovered', 'paced');
    const started = Date.now();
    const run = await barman(
      'recover',
      '--bwlimit',
      String(limitKbps),
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    const elapsedMs = Date.now() - started;
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(existsSync(join(destination, 'PG_VERSION')));
    const minimumMs = (bytes / (limitKbps * 1024)) * 1000 * 0.8;
    assert.ok(elapsedMs >= minimumMs, `${elapsedMs} ms for ${bytes} bytes at ${limitKbps} KB/s`);
  });

  it('list-files, status and check read the catalogue in the bucket', async () => {
    const files = await barman('list-files', 'main', backupId);
    assert.equal(files.exitCode, 0, files.stderr);
    const lines = files.stdout.trim().split('\n');
    const base = `s3://${BUCKET}/barman/main/base/${backupId}/`;
    assert.ok(lines.includes(`${base}backup.info`), files.stdout);
    assert.ok(lines.includes(`${base}data_0001.tar.gz`), files.stdout);
    assert.ok(lines.includes(`${base}data_0002.tar.gz`), `split at 8M: ${files.stdout}`);
    const wals = lines.filter((line) => line.includes('/wals/'));
    assert.ok(wals.length > 0, files.stdout);
    for (const wal of wals)
      assert.match(
        wal,
        new RegExp(
          `^s3://${BUCKET}/barman/main/wals/[0-9A-F]{16}/[0-9A-F]{24}(\\.[0-9A-F]{8}\\.backup)?\\.gz$`,
        ),
      );
    const walOnly = await barman('list-files', '--target', 'wal', 'main', backupId);
    // --target wal: every WAL file up to the next backup (here: all), the standalone set first.
    const allWals = walOnly.stdout.trim().split('\n');
    assert.deepEqual(allWals.slice(0, wals.length), wals);
    assert.ok(allWals.length > wals.length, walOnly.stdout);

    const status = await barman('status', 'main');
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /No\. of available backups: 1\n/);
    assert.match(status.stdout, new RegExp(`Last available backup: ${backupId}`));

    const check = await barman('check', 'main');
    assert.equal(check.exitCode, 0, check.stdout);
    assert.match(check.stdout, /minimum redundancy requirements: OK \(have 1 backups, expected at least 0\)/);
    assert.match(check.stdout, /failed backups: OK \(there are 0 failed backups\)/);
    assert.match(check.stdout, /cloud WAL archive: OK/);
  });

  it("is restored by Debian's barman-cloud-restore (compatibility)", async () => {
    const destination = join(dir, 'recovered', 'cloud-restore');
    const restored = await runCompletely(
      'postgres',
      'barman-cloud-restore',
      [
        '--endpoint-url',
        s3.endpoint,
        '--tablespace',
        `tbs1:${destination}-tbs`,
        `s3://${BUCKET}/barman`,
        'main',
        backupId,
        destination,
      ],
      { env: s3.env, timeoutMs: 300_000 },
    );
    assert.equal(restored.exitCode, 0, restored.stderr);
    for (const file of ['backup_label', 'global/pg_control', 'PG_VERSION', 'pg_wal'])
      assert.ok(existsSync(join(destination, file)), file);
    assert.ok(
      readFileSync(join(destination, 'backup_label'), 'utf8').includes(`Barman backup main ${backupId}`),
    );
    // And PostgreSQL starts on what it restored from the parts, WAL fetched by get-wal.
    execFileSync('chown', ['-R', 'postgres:', destination, `${destination}-tbs`]);
    chmodSync(destination, 0o700); // barman-cloud-restore leaves it 0755, which PostgreSQL refuses
    const server = await startPostgres({
      version: 15,
      existingDataDir: destination,
      restoreCommand: `env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ${process.execPath} ${BARMAN_BIN} -c ${config} -q get-wal main %f > %p`,
    });
    started.push(server);
    await waitForEndOfRecovery(server, 90_000);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '2000');
    await server.stop();
  });

  it('marks the backup FAILED when its PostgreSQL session is lost during the copy', async () => {
    // Unlogged: a large copy (time to interrupt it) without the WAL to archive.
    await pg.query(
      'CREATE UNLOGGED TABLE filler AS SELECT i, repeat(md5(i::text), 8) AS t FROM generate_series(1, 1500000) AS i',
    );
    const running = barman('backup', 'main');
    // The backup's session runs pg_walfile_name_offset right after pg_backup_start, then idles.
    let terminated = false;
    await waitFor(
      'the backup to start',
      async () => {
        const rows = await pg.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE query ILIKE '%pg_walfile_name_offset%' AND state = 'idle' AND pid <> pg_backend_pid()",
        );
        if (rows.length === 0) return false;
        await pg.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        terminated = true;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    assert.ok(terminated);
    const run = await running;
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, /session holding the backup was lost/);
    const id = /in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(run.stdout)![1]!;
    const shown = await barman('show-backup', 'main', id);
    assert.equal(shown.exitCode, 0, shown.stderr);
    assert.match(shown.stdout, /Status\s+: FAILED/);
    assert.match(shown.stdout, /failure copying files/);
  });

  it('marks a killed backup FAILED at the next backup', async () => {
    const running = barman('backup', 'main');
    await waitFor(
      'the backup to copy',
      async () => {
        const rows = await pg.query(
          "SELECT pid FROM pg_stat_activity WHERE query ILIKE '%pg_walfile_name_offset%' AND state = 'idle' AND pid <> pg_backend_pid()",
        );
        return rows.length > 0;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    // The CLI process itself (runuser's child), found by its unique arguments.
    const line = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
      .split('\n')
      .find((row) => row.includes(`${BARMAN_BIN} -c ${config} backup main`) && !row.includes('runuser'));
    assert.ok(line, 'the backup process');
    process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    const killed = await running;
    assert.notEqual(killed.exitCode, 0);
    const id = /in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(killed.stdout)![1]!;
    assert.match((await barman('show-backup', 'main', id)).stdout, /Status\s+: STARTED/);
    await pg.query('DROP TABLE filler');
    const next = await barman('backup', 'main');
    assert.equal(next.exitCode, 0, next.stderr);
    assert.match(
      next.stderr,
      new RegExp(`backup ${id} was interrupted \\(status STARTED\\); marking it FAILED`),
    );
    const shown = await barman('show-backup', 'main', id);
    assert.match(shown.stdout, /Status\s+: FAILED/);
    assert.match(shown.stdout, /the backup process was interrupted/);
    // Every multipart upload s3rver still holds (if the kill came mid-upload) was aborted through
    // the upload journal next to the backup lock; cloud-faults.test.ts kills one mid-upload for sure.
    const uploads = join(s3.dataDir, BUCKET, '._S3rver_uploads');
    const log = readFileSync(join(s3.dataDir, '..', 's3rver.log'), 'utf8');
    for (const upload of existsSync(uploads) ? readdirSync(uploads) : [])
      assert.match(log, new RegExp(`uploadId=${upload}[^\\n]*AbortMultipartUpload`), upload);
  });

  it('--bwlimit paces the uploads (bandwidth_limit)', async () => {
    const limitKbps = 512;
    const started = Date.now();
    const run = await barman('backup', '--bwlimit', String(limitKbps), 'main');
    const elapsedMs = Date.now() - started;
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    const size = /Backup size: ([\d.]+) (B|KiB|MiB|GiB) in/.exec(run.stdout);
    assert.ok(size, run.stdout);
    const bytes = Number(size[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[size[2] as 'B'];
    // The uploads cannot have gone faster than the limit (the first chunk goes at once).
    const minimumMs = (bytes / (limitKbps * 1024)) * 1000 * 0.8;
    assert.ok(minimumMs > 3000, `enough data to measure: ${bytes} bytes`);
    assert.ok(elapsedMs >= minimumMs, `${elapsedMs} ms for ${bytes} bytes at ${limitKbps} KB/s`);
  });

  it('fails with a clear error when the object storage is unreachable', async () => {
    const closed = join(dir, 'closed.conf');
    const port = await freePort();
    writeConfig({}, { port: pg.port, file: closed, endpoint: `http://127.0.0.1:${port}` });
    const run = await runBarman(['-c', closed, 'backup', 'main'], {
      user: 'postgres',
      env: credentials(),
      timeoutMs: 300_000,
    });
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(run.stderr, /cannot connect to PostgreSQL/);
  });

  it('recover refuses a backup with an archive part missing from the bucket (backup manifest)', async () => {
    const backupDir = join(s3.dataDir, BUCKET, 'barman', 'main', 'base', backupId);
    const part = 'data_0002.tar.gz';
    for (const name of readdirSync(backupDir).filter((file) => file.startsWith(`${part}._S3rver`)))
      rmSync(join(backupDir, name));
    const destination = join(dir, 'recovered', 'missing-part');
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, /file\(s\) of the backup manifest are in none of the archives of s3:\/\//);
    assert.match(run.stderr, /The destination is incomplete/);
  });

  it('stages its uploads when asked: never more than --cloud-staging-max-size (less than the database) on disk, then recovered', async () => {
    // Plain tar in one archive per tablespace: the 5 MiB parts of PGDATA go through staging.
    writeConfig(
      { backup_compression: null, cloud_upload_max_archive_size: null, cloud_staging_max_size: '1G' },
      { port: pg.port },
    );
    try {
      const check = await barman('check', 'main');
      assert.match(
        check.stdout,
        new RegExp(`cloud staging directory: OK \\(${dir}/home/main/cloud-staging, at most 953\\.7 MiB\\)`),
      );
      const limit = 12_000_000;
      const [size] = await pg.query<{ bytes: string }>(
        'SELECT sum(pg_database_size(oid))::text AS bytes FROM pg_database',
      );
      assert.ok(Number(size!.bytes) > limit, `the database (${size!.bytes} bytes) is larger than the limit`);
      const [before] = await pg.query<{ n: string }>('SELECT count(*) AS n FROM items');
      const staging = join(dir, 'staging');
      let peak = 0;
      const sample = () => {
        if (!existsSync(staging)) return;
        let bytes = 0;
        for (const name of readdirSync(staging))
          bytes += statSync(join(staging, name), { throwIfNoEntry: false })?.size ?? 0;
        peak = Math.max(peak, bytes);
      };
      const timer = setInterval(sample, 5);
      const run = await barman(
        'backup',
        '--cloud-staging-directory',
        staging,
        '--cloud-staging-max-size',
        String(limit),
        'main',
      ).finally(() => clearInterval(timer));
      assert.equal(run.exitCode, 0, run.stderr + run.stdout);
      assert.ok(peak > 0, 'parts were staged on disk');
      assert.ok(peak <= limit, `${peak} bytes staged at once, above the limit`);
      assert.deepEqual(readdirSync(staging), [], 'no staged file is left');
      assert.equal(statSync(staging).mode & 0o777, 0o700);
      const id = /in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(run.stdout)![1]!;
      await pg.query('INSERT INTO items SELECT generate_series(100001, 100500)');
      await switchAndWait();
      const destination = join(dir, 'recovered', 'staged');
      const recovered = await barman(
        'recover',
        'main',
        id,
        destination,
        '--tablespace',
        `tbs1:${destination}-tbs`,
      );
      assert.equal(recovered.exitCode, 0, recovered.stderr);
      const server = await startPostgres({ version: 15, existingDataDir: destination });
      started.push(server);
      await waitFor(
        'the recovered server to leave recovery',
        async () => !(await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r,
        { timeoutMs: 90_000, intervalMs: 200 },
      );
      const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
      assert.equal(Number(row!.n), Number(before!.n) + 500);
      await server.stop();
    } finally {
      writeConfig({}, { port: pg.port });
    }
  });
});
