/**
 * `barman cloud-wal-archive` against a real S3-compatible server (s3rver) and PostgreSQL 15:
 * archive_command while pgbench runs (synchronous and --async), duplicates, S3 down or hanging,
 * wrong credentials, a missing bucket, multipart uploads through the s3 driver, kill -9 of the
 * upload worker, and Debian's barman-cloud-wal-restore reading what barman-ts wrote.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { S3Storage } from '../../src/storage/s3/index.js';
import type { S3Settings } from '../../src/storage/s3/settings.js';
import { acquireLock } from '../../src/locks/index.js';
import type { IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  freePort,
  makeTempDir,
  runAs,
  runBarman,
  runCompletely,
  startBarman,
  startPostgres,
  startS3Server,
  waitFor,
  switchWalAndWaitArchived,
  requireDebianPackages,
  writeBarmanConfig,
} from '../harness/index.js';

const MiB = 1024 * 1024;
const BUCKET = 'backups';
const PG15_BIN = '/usr/lib/postgresql/15/bin';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('cloud-wal-archive with s3rver and PostgreSQL 15', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let asyncPg: PostgresServer | undefined;
  let hanging: Server;
  const hangingSockets = new Set<Socket>();
  let dir: string;
  let config: string;
  let cloudcatConfig: string;
  let storage: S3Storage;

  const credentials = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });
  const barman = (args: string[], env: Record<string, string | undefined> = {}) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: { ...credentials(), ...env } });
  const cloudcat = (args: string[]) =>
    runBarman(['-c', cloudcatConfig, ...args], { user: 'postgres', env: credentials() });
  const reference = (server: string) => join(dir, `reference-${server}`);
  const spool = (server: string) => join(dir, 'home', server, 'incoming');
  const archiveCommand = (server: string, extra = '') =>
    `cp %p ${reference(server)}/%f && env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ` +
    `${process.execPath} ${BARMAN_BIN} -c ${config} -q cloud-wal-archive ${extra}${server} %p`;

  /** The archived WAL files of a server: name -> decompressed content. */
  async function archived(server: string): Promise<Map<string, Buffer>> {
    const files = new Map<string, Buffer>();
    for (const object of await storage.listObjects(`barman/${server}/wals`)) {
      const data = await storage.readFile(object.path);
      const name = object.path.split('/').pop()!;
      files.set(name.replace(/\.gz$/, ''), name.endsWith('.gz') ? gunzipSync(data) : data);
    }
    return files;
  }

  /** sha256 of an archived WAL file's decompressed content ('' when missing or undecodable). */
  async function archivedSha(server: string, name: string): Promise<string> {
    try {
      const data = await storage.readFile(`barman/${server}/wals/${name.slice(0, 16)}/${name}.gz`);
      return sha(gunzipSync(data));
    } catch {
      return '';
    }
  }

  const spooledNames = (server: string) =>
    readdirSync(spool(server)).filter((name) => /^[0-9A-F]{24}$/.test(name));

  async function pgbench(server: PostgresServer, args: string[]): Promise<void> {
    await runAs('postgres', join(PG15_BIN, 'pgbench'), [
      ...args,
      ...['-h', server.host, '-p', String(server.port), '-U', 'postgres', 'postgres'],
    ]);
  }

  /** Switches WAL and waits until archive_command has succeeded for that segment. */
  async function switchAndWait(server: PostgresServer): Promise<string> {
    await server.query('create table if not exists filler (id int)');
    await server.query('insert into filler values (1)');
    return switchWalAndWaitArchived(server, 180_000);
  }

  /** A configuration with these servers (run as postgres, the file is 0644). */
  const writeCloudConfig = (file: string, servers: Record<string, IniSection>) =>
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
      },
      servers,
    });
  /** The server reading barman-cloud-backup's catalogue of main. */
  const cloudcatServer = (options: IniSection = {}): IniSection => ({
    conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
    backup_method: 'local-to-cloud',
    basebackups_directory: `s3://${BUCKET}/barman/main/base`,
    wals_directory: `s3://${BUCKET}/barman/main/wals`,
    ...options,
  });

  before(async () => {
    requireDebianPackages('barman-cli-cloud', 'python3-boto3');
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('cloud-wal', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'reference-main', 'reference-async', 'files']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    const closedPort = await freePort();
    hanging = createServer((socket) => {
      hangingSockets.add(socket);
      socket.on('close', () => hangingSockets.delete(socket));
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hangingPort = (hanging.address() as { port: number }).port;
    const server = (wals: string, options: IniSection = {}): IniSection => ({
      conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
      backup_method: 'local-rsync',
      wals_directory: `s3://${BUCKET}/barman/${wals}/wals`,
      ...options,
    });
    config = writeCloudConfig('barman.conf', {
      main: server('main'),
      async: server('async'),
      down: server('down', { aws_endpoint_url: `http://127.0.0.1:${closedPort}` }),
      hang: server('hang', { aws_endpoint_url: `http://127.0.0.1:${hangingPort}` }),
      profiled: server('profiled', { aws_profile: 'barmants' }),
      hooked: {
        conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
        backup_method: 'local-rsync',
        archiver: true,
        pre_archive_retry_script: `env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} AWS_DEFAULT_REGION=us-east-1 barman-cloud-wal-archive --endpoint-url ${s3.endpoint} --gzip s3://${BUCKET}/barman \${BARMAN_SERVER}`,
      },
      nobucket: { ...server('nobucket'), wals_directory: 's3://no-such-bucket/barman/nobucket/wals' },
    });
    // cloudcat reads the catalogue of barman-cloud-backup's backups of main, with main's WAL
    // archive: two servers of one configuration may not share it (one's retention would delete
    // WAL the other needs), so it has a configuration of its own.
    cloudcatConfig = writeCloudConfig('cloudcat.conf', { cloudcat: cloudcatServer() });
    const settings: S3Settings = {
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
    };
    Object.assign(process.env, credentials());
    storage = new S3Storage(settings);
    pg = await startPostgres({ version: 15, archiveCommand: archiveCommand('main') });
  });

  after(async () => {
    await pg?.stop();
    await asyncPg?.stop();
    for (const socket of hangingSockets) socket.destroy();
    hanging?.close();
    storage?.destroy();
    await s3?.stop();
  });

  it('archives every segment through archive_command while pgbench runs, gzip-compressed and byte-identical', async () => {
    await pgbench(pg, ['-i', '-q', '-s', '3']);
    await pgbench(pg, ['-c', '2', '-j', '2', '-T', '4']);
    await switchAndWait(pg);
    const copies = readdirSync(reference('main')).filter((name) => /^[0-9A-F]{24}$/.test(name));
    assert.ok(copies.length >= 3, `only ${copies.length} segments were archived`);
    const inS3 = await archived('main');
    for (const name of copies) {
      const object = inS3.get(name);
      assert.ok(object, `${name} is not in the bucket`);
      assert.equal(sha(object), sha(readFileSync(join(reference('main'), name))), `${name} differs`);
    }
    // barman-cloud-wal-archive's layout: <prefix>/<server>/wals/<timeline+log>/<name>.gz
    const keys = (await storage.listObjects('barman/main/wals')).map((object) => object.path);
    assert.ok(keys.includes(`barman/main/wals/${copies[0]!.slice(0, 16)}/${copies[0]}.gz`), keys.join(', '));
  });

  it('accepts the same WAL file again and refuses a different content under an archived name', async () => {
    const name = readdirSync(reference('main')).filter((file) => /^[0-9A-F]{24}$/.test(file))[0]!;
    const again = await barman(['cloud-wal-archive', 'main', join(reference('main'), name)]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal(again.stderr, '');

    const forged = join(dir, 'files', name);
    const content = readFileSync(join(reference('main'), name));
    content[100] = content[100]! ^ 0xff;
    writeFileSync(forged, content);
    chmodSync(forged, 0o644);
    const refused = await barman(['cloud-wal-archive', 'main', forged]);
    assert.equal(refused.exitCode, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `ERROR: ${name} is already archived in s3://${BUCKET}/barman/main/wals with a different content`,
      ),
    );
    assert.equal(sha((await archived('main')).get(name)!), sha(readFileSync(join(reference('main'), name))));
  });

  it('fails at once when S3 cannot be reached, and within --timeout when it does not answer', async () => {
    const file = join(dir, 'files', '000000010000000000000042');
    writeFileSync(file, randomBytes(64 * 1024));
    chmodSync(file, 0o644);
    let started = Date.now();
    const down = await barman(['cloud-wal-archive', 'down', file]);
    assert.equal(down.exitCode, 1);
    assert.match(
      down.stderr,
      /^ERROR: cannot list .*: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\) after 5 attempts$/m,
    );
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);

    started = Date.now();
    const hung = await barman(['cloud-wal-archive', '--timeout', '2', 'hang', file]);
    const elapsed = Date.now() - started;
    assert.equal(hung.exitCode, 1);
    assert.match(
      hung.stderr,
      /ERROR: .*000000010000000000000042 was not archived: no complete answer from s3:\/\/backups\/barman\/hang\/wals within 2 s/,
    );
    assert.ok(elapsed >= 2000 && elapsed < 6000, `took ${elapsed} ms`);
  });

  it('names wrong credentials and a missing bucket, and never prints the secret', async () => {
    const file = join(dir, 'files', '000000010000000000000042');
    const secret = 'not-the-secret-4c1d9';
    // s3rver does not check SigV4 signatures, only key ids: AWS would refuse either.
    const denied = await barman(['cloud-wal-archive', 'main', file], {
      AWS_ACCESS_KEY_ID: 'AKIAWRONGKEYID',
      AWS_SECRET_ACCESS_KEY: secret,
    });
    assert.equal(denied.exitCode, 1);
    assert.match(
      denied.stderr,
      /ERROR: cannot list s3:\/\/backups\/barman\/main\/wals\/.*: access denied \(InvalidAccessKeyId\)/,
    );
    assert.match(denied.stderr, /HINT: check the AWS credentials/);
    assert.ok(!denied.stderr.includes(secret) && !denied.stdout.includes(secret));
    assert.ok(!readFileSync(join(dir, 'log/barman.log'), 'utf8').includes(secret));

    const missing = await barman(['cloud-wal-archive', 'nobucket', file]);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, /ERROR: cannot list .*: bucket 'no-such-bucket' does not exist/);

    // No credentials anywhere (and no instance metadata to ask): a clear error, no stack.
    const none = await barman(['cloud-wal-archive', 'main', file], {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-such-file'),
      AWS_CONFIG_FILE: join(dir, 'no-such-file'),
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    assert.equal(none.exitCode, 1);
    assert.match(none.stderr, /ERROR: cannot list .*: no AWS credentials found\nHINT: set AWS_ACCESS_KEY_ID/);

    // aws_profile: the keys come from that profile of the shared credentials file.
    const credentialsFile = join(dir, 'aws-credentials');
    const profileEnv = {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
      AWS_CONFIG_FILE: join(dir, 'no-such-file'),
    };
    writeFileSync(
      credentialsFile,
      `[barmants]\naws_access_key_id = AKIANOTS3RVER\naws_secret_access_key = ${secret}\n`,
    );
    chmodSync(credentialsFile, 0o644);
    const wrongProfile = await barman(['cloud-wal-archive', '--test', 'profiled', file], profileEnv);
    assert.match(wrongProfile.stderr, /ERROR: cannot access bucket 'backups': access denied \(HTTP 403\)/);
    assert.ok(!wrongProfile.stderr.includes(secret));
    writeFileSync(
      credentialsFile,
      `[default]\naws_access_key_id = AKIANOTS3RVER\naws_secret_access_key = x\n` +
        `[barmants]\naws_access_key_id = ${s3.accessKeyId}\naws_secret_access_key = ${s3.secretAccessKey}\n`,
    );
    const profiled = await barman(['cloud-wal-archive', 'profiled', file], profileEnv);
    assert.equal(profiled.exitCode, 0, profiled.stderr);

    const absent = await barman([
      'cloud-wal-archive',
      'main',
      join(dir, 'files', '000000010000000000000099'),
    ]);
    assert.equal(absent.exitCode, 1);
    assert.match(absent.stderr, /ERROR: cannot read the WAL file '.*000000010000000000000099': ENOENT/);

    const test = await barman(['cloud-wal-archive', '--test', 'main', file]);
    assert.equal(test.exitCode, 0, test.stderr);
    assert.match(
      test.stdout,
      /Ready to archive WAL files of the server main into s3:\/\/backups\/barman\/main\/wals/,
    );
  });

  it('uploads a stream larger than a part as a verified multipart upload', async () => {
    const source = pseudoRandom(23 * MiB + 12345);
    const result = await storage.upload('multipart/big.bin', Readable.from(source.chunks()));
    assert.equal(result.parts, 5);
    assert.equal(result.size, 23 * MiB + 12345);
    assert.equal(sha(await storage.readFile('multipart/big.bin')), source.sha256());
  });

  it('aborts the multipart upload when the source fails, leaving no object', async () => {
    function* failing(): Generator<Buffer> {
      for (let i = 0; i < 12; i++) yield randomBytes(MiB);
      throw new Error('source failed mid-way');
    }
    await assert.rejects(
      storage.upload('multipart/broken.bin', Readable.from(failing())),
      /source failed mid-way/,
    );
    assert.equal(await storage.stat('multipart/broken.bin'), null);
    // s3rver answers AbortMultipartUpload with 405 (not implemented) but logs it: the request was sent.
    const logFile = join(s3.dataDir, '..', 's3rver.log');
    await waitFor('AbortMultipartUpload in the s3rver log', () =>
      /multipart\/broken\.bin\?.*AbortMultipartUpload/.test(readFileSync(logFile, 'utf8')),
    );
  });

  it('--async acknowledges from the local spool and the worker uploads everything while pgbench runs', async () => {
    asyncPg = await startPostgres({ version: 15, archiveCommand: archiveCommand('async', '--async ') });
    await pgbench(asyncPg, ['-i', '-q', '-s', '3']);
    await pgbench(asyncPg, ['-c', '2', '-j', '2', '-T', '4']);
    await switchAndWait(asyncPg);
    const copies = readdirSync(reference('async')).filter((name) => /^[0-9A-F]{24}$/.test(name));
    assert.ok(copies.length >= 3);
    await waitFor('the spool to empty', () => spooledNames('async').length === 0, {
      timeoutMs: 120_000,
    });
    const inS3 = await archived('async');
    for (const name of copies) {
      assert.equal(
        sha(inS3.get(name) ?? Buffer.alloc(0)),
        sha(readFileSync(join(reference('async'), name))),
        name,
      );
    }
    await asyncPg.stop();
  });

  it('loses nothing acknowledged when the upload worker is killed with SIGKILL', async () => {
    const files = new Map<string, Buffer>();
    // Holding the worker lock keeps the enqueuers from starting a worker: a backlog builds up.
    const lockPath = join(dir, 'home', '.async-cloud-wal-upload.lock');
    const held = await acquireLock(lockPath, { waitMs: 30_000 });
    try {
      for (let segment = 0x10; segment < 0x28; segment++) {
        const name = `0000000100000007000000${segment.toString(16).toUpperCase()}`;
        const content = randomBytes(8 * MiB);
        const path = join(dir, 'files', name);
        writeFileSync(path, content);
        chmodSync(path, 0o644);
        const run = await barman(['cloud-wal-archive', '--async', 'async', path]);
        assert.equal(run.exitCode, 0, run.stderr);
        files.set(name, content);
      }
    } finally {
      held.release();
    }
    assert.equal(spooledNames('async').length, files.size);
    // The temp copy of an enqueuer killed before it acknowledged (pid 2^22 + 1 never exists).
    const abandoned = join(spool('async'), '.000000010000000700000030.4194305-abcdef.tmp');
    writeFileSync(abandoned, 'partial copy');
    // A worker uploads 24 incompressible 8 MiB files; it is killed after its first upload.
    const worker = startBarman(['-c', config, 'cloud-wal-upload', 'async']);
    await waitFor('a first upload', () => spooledNames('async').length < files.size, { timeoutMs: 60_000 });
    worker.child.kill('SIGKILL');
    const exit = await worker.exited;
    assert.equal(exit.signal, 'SIGKILL');
    const spooled = new Set(spooledNames('async'));
    assert.ok(spooled.size > 0, 'the worker was killed with files left to upload');
    assert.ok(!existsSync(abandoned), 'the worker removed the abandoned temp file');
    // Every acknowledged file is in the spool or, intact, in the bucket.
    for (const [name, content] of files) {
      if (spooled.has(name)) assert.equal(sha(readFileSync(join(spool('async'), name))), sha(content));
      else assert.equal(await archivedSha('async', name), sha(content), `${name} lost`);
    }
    // cron restarts a worker for the files left in the spool.
    const cron = await barman(['cron']);
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(cron.stdout, /Starting cloud WAL upload for server async \(\d+ file\(s\) queued\)/);
    await waitFor('the spool to empty', () => spooledNames('async').length === 0, { timeoutMs: 120_000 });
    const flush = await barman(['cloud-wal-upload', 'async']);
    assert.equal(flush.exitCode, 0, flush.stderr);
    for (const [name, content] of files) assert.equal(await archivedSha('async', name), sha(content), name);
  });

  it('get-wal serves WAL files from the bucket, decompressed, to stdout or a directory', async () => {
    const name = readdirSync(reference('main')).filter((file) => /^[0-9A-F]{24}$/.test(file))[1]!;
    const expected = sha(readFileSync(join(reference('main'), name)));
    const output = join(dir, 'files', 'get-wal');
    mkdirSync(output, { recursive: true });
    await chownTo(output, 'postgres');
    // restore_command style: the WAL file on stdout, redirected by the shell.
    const piped = join(output, `${name}.stdout`);
    const toStdout = await runCompletely(
      'postgres',
      'sh',
      ['-c', `${process.execPath} ${BARMAN_BIN} -c ${config} get-wal main ${name} > ${piped}`],
      { env: credentials() },
    );
    assert.equal(toStdout.exitCode, 0, toStdout.stderr);
    assert.equal(sha(readFileSync(piped)), expected);
    const toDirectory = await barman(['get-wal', '-o', output, 'main', name]);
    assert.equal(toDirectory.exitCode, 0, toDirectory.stderr);
    assert.equal(sha(readFileSync(join(output, name))), expected);
    const missing = await barman(['get-wal', 'main', '0000000100000000000000FE']);
    assert.equal(missing.exitCode, 1);
    assert.match(
      missing.stderr,
      /ERROR: WAL file '0000000100000000000000FE' not found in server 'main' \(s3:\/\/backups\/barman\/main\/wals\)/,
    );
    // The one WAL archive module serves --peek and rebuild-xlogdb on this layout too.
    const segments = readdirSync(reference('main'))
      .filter((file) => /^[0-9A-F]{24}$/.test(file))
      .sort();
    const peek = await barman(['get-wal', '--peek', '2', 'main', segments[0]!]);
    assert.equal(peek.exitCode, 0, peek.stderr);
    assert.deepEqual(peek.stdout.trim().split('\n'), segments.slice(0, 2));
    const rebuild = await barman(['rebuild-xlogdb', 'main']);
    assert.equal(rebuild.exitCode, 0, rebuild.stderr);
    assert.match(
      rebuild.stdout,
      /Done rebuilding xlogdb for server main \(history: \d+, backup_labels: \d+, wal_file: [1-9]\d*\)/,
    );
  });

  it('check reports the bucket reachable and writable, and holes in the archive', async () => {
    const ok = await barman(['check', 'main']);
    assert.match(
      ok.stdout,
      /\tcloud WAL archive: OK \(s3:\/\/backups\/barman\/main\/wals is reachable and writable\)/,
    );
    assert.match(ok.stdout, /\tcloud WAL continuity: OK\n/);
    const names = readdirSync(reference('main'))
      .filter((file) => /^[0-9A-F]{24}$/.test(file))
      .sort();
    const hole = names[1]!;
    await storage.remove(`barman/main/wals/${hole.slice(0, 16)}/${hole}.gz`);
    const holed = await barman(['check', 'main']);
    assert.equal(holed.exitCode, 1);
    assert.match(
      holed.stdout,
      new RegExp(
        `\\tcloud WAL continuity: FAILED \\(1 segment\\(s\\) missing from s3://backups/barman/main/wals, the first is ${hole}\\)`,
      ),
    );
    // Put it back for the tests that follow.
    const put = await barman(['cloud-wal-archive', 'main', join(reference('main'), hole)]);
    assert.equal(put.exitCode, 0, put.stderr);
    const missing = await barman(['check', 'nobucket']);
    assert.match(
      missing.stdout,
      /\tcloud WAL archive: FAILED \(cannot access bucket 'no-such-bucket': bucket 'no-such-bucket' does not exist\)/,
    );
  });

  it("list-backup and show-backup read a backup written by Debian's barman-cloud-backup", async () => {
    const env = s3.env;
    const cloudArgs = ['--endpoint-url', s3.endpoint, `s3://${BUCKET}/barman`, 'main'];
    const made = await runCompletely(
      'postgres',
      'barman-cloud-backup',
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '--immediate-checkpoint', ...cloudArgs],
      { env, timeoutMs: 300_000 },
    );
    assert.equal(made.exitCode, 0, made.stderr);
    const listed = await runCompletely(
      'postgres',
      'barman-cloud-backup-list',
      ['--format', 'json', ...cloudArgs],
      { env },
    );
    assert.equal(listed.exitCode, 0, listed.stderr);
    const [theirs] = (
      JSON.parse(listed.stdout) as { backups_list: Array<{ backup_id: string; end_wal: string }> }
    ).backups_list;
    assert.ok(theirs);

    const list = await cloudcat(['list-backup', 'cloudcat']);
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(
      list.stdout,
      new RegExp(
        `^cloudcat ${theirs.backup_id} - \\w{3} \\w{3} +\\d+ [\\d:]+ \\d{4} - Size: .+ - WAL Size: .+$`,
        'm',
      ),
    );
    const show = await cloudcat(['-f', 'json', 'show-backup', 'cloudcat', 'latest']);
    assert.equal(show.exitCode, 0, show.stderr);
    const shown = JSON.parse(show.stdout) as {
      cloudcat: { backup_id: string; status: string; base_backup_information: { end_wal: string } };
    };
    assert.equal(shown.cloudcat.backup_id, theirs.backup_id);
    assert.equal(shown.cloudcat.status, 'DONE');
    assert.equal(shown.cloudcat.base_backup_information.end_wal, theirs.end_wal);

    // keep: barman-ts and barman-cloud-backup-keep read each other's annotation.
    const keep = await cloudcat(['keep', '--target', 'standalone', 'cloudcat', theirs.backup_id]);
    assert.equal(keep.exitCode, 0, keep.stderr);
    const theirStatus = await runCompletely(
      'postgres',
      'barman-cloud-backup-keep',
      ['--status', ...cloudArgs, theirs.backup_id],
      { env },
    );
    assert.equal(theirStatus.exitCode, 0, theirStatus.stderr);
    assert.match(theirStatus.stdout, /Keep: standalone/);
    const released = await runCompletely(
      'postgres',
      'barman-cloud-backup-keep',
      ['--release', ...cloudArgs, theirs.backup_id],
      { env },
    );
    assert.equal(released.exitCode, 0, released.stderr);
    const ourStatus = await cloudcat(['keep', '--status', 'cloudcat', theirs.backup_id]);
    assert.equal(ourStatus.stdout, 'Server cloudcat:\n\tKeep: nokeep\n');
    const setByThem = await runCompletely(
      'postgres',
      'barman-cloud-backup-keep',
      ['--target', 'full', ...cloudArgs, theirs.backup_id],
      { env },
    );
    assert.equal(setByThem.exitCode, 0, setByThem.stderr);
    assert.equal(
      (await cloudcat(['keep', '--status', 'cloudcat', 'latest'])).stdout,
      'Server cloudcat:\n\tKeep: full\n',
    );
  });

  it("Debian's barman-cloud-wal-restore fetches a WAL file barman-ts archived", async () => {
    const name = readdirSync(reference('main')).filter((file) => /^[0-9A-F]{24}$/.test(file))[0]!;
    const destination = join(dir, 'files', `restored-${name}`);
    const run = await runCompletely(
      null,
      'barman-cloud-wal-restore',
      ['--endpoint-url', s3.endpoint, `s3://${BUCKET}/barman`, 'main', name, destination],
      { env: s3.env },
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(sha(readFileSync(destination)), sha(readFileSync(join(reference('main'), name))));
  });
  it("archive-wal runs Debian's barman-cloud-wal-archive as a pre_archive_retry_script (the classic hook)", async () => {
    const names = readdirSync(reference('main'))
      .filter((file) => /^[0-9A-F]{24}$/.test(file))
      .slice(0, 2);
    const incoming = spool('hooked');
    mkdirSync(incoming, { recursive: true });
    for (const name of names)
      writeFileSync(join(incoming, name), readFileSync(join(reference('main'), name)));
    for (const path of [join(dir, 'home', 'hooked'), incoming, ...names.map((name) => join(incoming, name))])
      await chownTo(path, 'postgres');
    const run = await barman(['archive-wal', 'hooked']);
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    for (const name of names) {
      // Archived locally by barman-ts...
      const fetched = await barman(['get-wal', '--output-directory', join(dir, 'files'), 'hooked', name]);
      assert.equal(fetched.exitCode, 0, fetched.stderr);
      // ...and uploaded by the hook, in barman-cloud-wal-archive's layout.
      const object = `barman/hooked/wals/${name.slice(0, 16)}/${name}.gz`;
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.openRead(object)) chunks.push(chunk as Buffer);
      assert.equal(sha(gunzipSync(Buffer.concat(chunks))), sha(readFileSync(join(reference('main'), name))));
    }
  });

  it('delete removes a cloud backup and the WAL files only it needed, honouring keep', async () => {
    const env = s3.env;
    const cloudArgs = ['--endpoint-url', s3.endpoint, `s3://${BUCKET}/barman`, 'main'];
    await switchAndWait(pg);
    const second = await runCompletely(
      'postgres',
      'barman-cloud-backup',
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '--immediate-checkpoint', ...cloudArgs],
      { env, timeoutMs: 300_000 },
    );
    assert.equal(second.exitCode, 0, second.stderr);
    const listBackups = async () => {
      const run = await runCompletely(
        'postgres',
        'barman-cloud-backup-list',
        ['--format', 'json', ...cloudArgs],
        { env },
      );
      assert.equal(run.exitCode, 0, run.stderr);
      return (JSON.parse(run.stdout) as { backups_list: Array<{ backup_id: string; begin_wal: string }> })
        .backups_list;
    };
    const [oldest, newest] = await listBackups();
    assert.ok(oldest && newest);

    // The oldest carries the keep annotation of the previous test.
    const refused = await cloudcat(['delete', 'cloudcat', 'oldest']);
    assert.equal(refused.exitCode, 1);
    assert.match(
      refused.stderr,
      new RegExp(`Cannot delete backup ${oldest.backup_id} of server cloudcat: it is kept`),
    );
    assert.equal((await cloudcat(['keep', '--release', 'cloudcat', oldest.backup_id])).exitCode, 0);

    const deleted = await cloudcat(['delete', 'cloudcat', 'oldest']);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    assert.match(deleted.stdout, new RegExp(`Deleting backup ${oldest.backup_id} for server cloudcat`));
    assert.deepEqual(
      (await listBackups()).map((backup) => backup.backup_id),
      [newest.backup_id],
    );
    const segments = (await storage.listObjects('barman/main/wals'))
      .map((object) => object.path.split('/').pop()!.replace(/\.gz$/, ''))
      .filter((name) => /^[0-9A-F]{24}$/.test(name));
    assert.ok(segments.includes(newest.begin_wal), `${newest.begin_wal} is still archived`);
    assert.deepEqual(
      segments.filter((name) => name < newest.begin_wal),
      [],
    );
    assert.deepEqual(await storage.listObjects(`barman/main/base/${oldest.backup_id}`), []);

    // Retention in cron: with REDUNDANCY 1, a newer backup makes the current one OBSOLETE.
    const third = await runCompletely(
      'postgres',
      'barman-cloud-backup',
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '--immediate-checkpoint', ...cloudArgs],
      { env, timeoutMs: 300_000 },
    );
    assert.equal(third.exitCode, 0, third.stderr);
    const retained = writeCloudConfig('retention.conf', {
      cloudcat: cloudcatServer({ retention_policy: 'REDUNDANCY 1' }),
    });
    const cron = await runBarman(['-c', retained, 'cron'], { user: 'postgres', env: credentials() });
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(
      cron.stdout,
      new RegExp(`Enforcing retention policy: removing backup ${newest.backup_id} for server cloudcat`),
    );
    const remaining = await listBackups();
    assert.equal(remaining.length, 1);
    assert.notEqual(remaining[0]!.backup_id, newest.backup_id);
  });
});

/** Deterministic noise (AES-CTR keystream) in 1 MiB chunks, hashed as produced. */
function pseudoRandom(size: number): { chunks: () => Generator<Buffer>; sha256: () => string } {
  const hash = createHash('sha256');
  return {
    *chunks() {
      const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
      for (let produced = 0; produced < size;) {
        const chunk = cipher.update(Buffer.alloc(Math.min(MiB, size - produced)));
        produced += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
    },
    sha256: () => hash.digest('hex'),
  };
}
