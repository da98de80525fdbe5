/**
 * encryption = gpg with s3:// locations (s3rver, PostgreSQL 15, a generated key in a throwaway
 * GNUPGHOME): a marker row is written, then every kind of backup barman-ts can encrypt to the
 * bucket is taken — `local-to-cloud` and `postgres` streamed to an s3:// basebackups_directory —
 * and WAL is archived three ways at once (archive_command runs put-wal → archive-wal into s3://,
 * `cloud-wal-archive` and `cloud-wal-archive --async`). Then every object of the bucket, every file
 * under barman_home, the async spool (also while it holds a queued file) and the cloud staging
 * directory are searched: no marker, nothing that gunzips to it, every archive and WAL object a
 * `.gpg` OpenPGP message. Both backups are recovered with the passphrase (one also over
 * --remote-ssh-command) and PostgreSQL reads the marker back. Bad input: a corrupted encrypted object is named; a passphrase command that
 * fails or prints nothing stops recovery and get-wal before anything is written.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireLock } from '../../src/locks/index.js';
import type { GpgHome, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  fileType,
  filesContaining,
  filesUnder,
  gzipFilesContaining,
  isPublicKeyEncrypted,
  makeGpgHome,
  MARKER,
  makeTempDir,
  requireDebianPackages,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  startSshd,
  switchWalAndWaitArchived,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'encrypted-cloud';

describe('encryption = gpg with s3:// backups and WAL', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let gpg: GpgHome;
  let dir: string;
  let config: string;
  const backups: Record<string, string> = {};
  /** The last segment PostgreSQL archived (it holds the marker row). */
  let markerSegment = '';
  const started: PostgresServer[] = [];
  const home = () => join(dir, 'home');
  const bucketDir = () => join(s3.dataDir, BUCKET);
  const env = () => ({ ...s3.env, ...gpg.env });
  const barman = (args: string[], file = config) =>
    runBarman(['-c', file, ...args], { user: 'postgres', env: env(), timeoutMs: 300_000 });
  const objects = (prefix: string) =>
    filesUnder(join(bucketDir(), prefix))
      .map((path) => path.slice(bucketDir().length + 1).replace(/\._S3rver_object$/, ''))
      .filter((path) => !path.endsWith('._S3rver_metadata.json') && !path.endsWith('.md5'));

  /** Recovers `server`'s backup into `destination`; PostgreSQL started on it reads both marker rows. */
  const recoverAndReadMarker = async (server: string, destination: string, extra: string[] = []) => {
    const run = await barman(['recover', server, backups[server]!, destination, ...extra]);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(gpg.passphrase), 'the passphrase is never shown');
    const copy = await startRecoveredCopy(destination);
    started.push(copy);
    const rows = await copy.query<{ note: string }>('SELECT note FROM secrets ORDER BY id');
    assert.deepEqual(
      rows.map((r) => r.note),
      [`${MARKER}-in-backup`, `${MARKER}-in-wal`],
    );
    await copy.stop();
  };

  const writeConfig = (file: string, passphraseCommand: string) =>
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
        log_file: null,
      },
      servers: Object.fromEntries(
        [
          ['ltc', 'local-to-cloud'],
          ['pgc', 'postgres'],
          ['asy', 'local-to-cloud'],
        ].map(([name, method]) => [
          name!,
          {
            conninfo: pg ? pg.conninfo : 'host=127.0.0.1',
            streaming_conninfo: pg ? pg.conninfo : 'host=127.0.0.1',
            backup_method: method!,
            backup_compression: 'gzip',
            archiver: name === 'pgc',
            immediate_checkpoint: true,
            basebackups_directory: `s3://${BUCKET}/barman/${name}/base`,
            wals_directory: `s3://${BUCKET}/barman/${name}/wals`,
            cloud_staging_directory: join(dir, 'home', 'staging', name!),
            encryption: 'gpg',
            encryption_key_id: gpg.fingerprint,
            encryption_passphrase_command: passphraseCommand,
          },
        ]),
      ),
    });

  before(async () => {
    requireDebianPackages('gnupg', 'file');
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('encryption-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'recovered', 'files']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    gpg = await makeGpgHome('postgres');
    config = writeConfig('barman.conf', gpg.passphraseCommand);
    const barmanRun = `env GNUPGHOME=${gpg.home} AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} ${process.execPath} ${BARMAN_BIN} -c ${config} -q`;
    pg = await startPostgres({
      version: 15,
      // Every way WAL reaches an s3:// archive: put-wal (then archive-wal), sync and async uploads.
      archiveCommand:
        `${barmanRun} put-wal --file %p pgc && ${barmanRun} cloud-wal-archive ltc %p && ` +
        `${barmanRun} cloud-wal-archive --async asy %p`,
    });
    config = writeConfig('barman.conf', gpg.passphraseCommand);
    await pg.query('CREATE TABLE secrets (id int, note text)');
    await pg.query(`INSERT INTO secrets VALUES (1, '${MARKER}-in-backup')`);
    await switchWalAndWaitArchived(pg);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    gpg?.stopAgent();
    await s3?.stop();
  });

  it('check passes for the encrypted cloud servers', async () => {
    const archived = await barman(['archive-wal', 'pgc']);
    assert.equal(archived.exitCode, 0, archived.stderr);
    for (const server of ['ltc', 'pgc']) {
      const run = await barman(['check', server]);
      assert.match(run.stdout, /^\tencryption: OK$/m, run.stdout);
    }
  });

  it('takes a local-to-cloud and a streamed postgres backup, every archive stored as .gpg', async () => {
    for (const server of ['ltc', 'pgc']) {
      const run = await barman(['backup', '--wait', server]);
      assert.equal(run.exitCode, 0, run.stdout + run.stderr);
      const id = /Starting backup using \S+ method for server \S+ in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(
        run.stdout,
      );
      assert.ok(id, run.stdout);
      backups[server] = id[1]!;
      const stored = objects(`barman/${server}/base/${id[1]!}`).map((path) => path.split('/').at(-1)!);
      const archives = stored.filter((name) => name.includes('.tar'));
      assert.ok(
        archives.some((name) => name === 'data.tar.gz.gpg'),
        stored.join(' '),
      );
      for (const name of archives) assert.match(name, /^(data|\d+)(_\d{4})?\.tar\.gz\.gpg$/);
      const info = readFileSync(
        join(bucketDir(), `barman/${server}/base/${id[1]!}/backup.info._S3rver_object`),
        'utf8',
      );
      assert.match(info, /^encryption=gpg$/m);
      assert.match(info, /^status=DONE$/m);
      const archive = join(bucketDir(), `barman/${server}/base/${id[1]!}/data.tar.gz.gpg._S3rver_object`);
      assert.ok(isPublicKeyEncrypted(archive), fileType(archive));
    }
  });

  it('archives WAL encrypted three ways; the async spool holds only sealed files', async () => {
    await pg.query(`INSERT INTO secrets VALUES (2, '${MARKER}-in-wal')`);
    const segment = await switchWalAndWaitArchived(pg);
    markerSegment = segment;
    const archived = await barman(['archive-wal', 'pgc']);
    assert.equal(archived.exitCode, 0, archived.stderr);
    // A copy of the segment holding the marker, queued while no upload worker may run.
    const copy = join(dir, 'files', segment);
    copyFileSync(join(pg.dataDir, 'pg_wal', segment), copy);
    assert.ok(readFileSync(copy).includes(`${MARKER}-in-wal`), 'the plaintext segment holds the marker');
    await chownTo(copy, 'postgres');
    const spool = join(home(), 'asy', 'incoming');
    await waitFor('the async spool to empty', () => readdirSync(spool).length === 0, { timeoutMs: 120_000 });
    const held = await acquireLock(join(home(), '.asy-cloud-wal-upload.lock'), { waitMs: 30_000 });
    try {
      const queued = await barman(['cloud-wal-archive', '--async', 'asy', copy]);
      assert.equal(queued.exitCode, 0, queued.stderr);
      const names = readdirSync(spool);
      assert.deepEqual(names, [`${segment}.gz.gpg`], 'queued compressed and encrypted, named as its object');
      assert.ok(isPublicKeyEncrypted(join(spool, names[0]!)), fileType(join(spool, names[0]!)));
      assert.deepEqual(filesContaining(spool, MARKER), []);
    } finally {
      held.release();
    }
    const flushed = await barman(['cloud-wal-upload', 'asy']);
    assert.equal(flushed.exitCode, 0, flushed.stderr);
    assert.deepEqual(readdirSync(spool), []);
    for (const server of ['ltc', 'pgc', 'asy']) {
      const wals = objects(`barman/${server}/wals`);
      assert.ok(
        wals.some((path) => path.endsWith(`${segment}.gz.gpg`)),
        `${server}: ${segment} stored encrypted (${wals.join(' ')})`,
      );
      for (const path of wals) {
        assert.match(path, /\.gz\.gpg$/, path);
        const stored = join(bucketDir(), `${path}._S3rver_object`);
        assert.ok(isPublicKeyEncrypted(stored), `${path}: ${fileType(stored)}`);
      }
    }
  });

  it('leaves no marker anywhere: bucket, barman_home, spool, staging, nor inside a gzip stream', () => {
    for (const root of [bucketDir(), home()]) {
      assert.deepEqual(filesContaining(root, MARKER), [], root);
      assert.deepEqual(gzipFilesContaining(root, MARKER), [], root);
    }
  });

  it('get-wal decrypts an object of each archive: the marker segment comes back whole', async () => {
    for (const server of ['ltc', 'pgc', 'asy']) {
      const out = join(dir, 'files', `get-wal-${server}`);
      mkdirSync(out);
      await chownTo(out, 'postgres');
      const run = await barman(['get-wal', '-o', out, server, markerSegment]);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.ok(!`${run.stdout}${run.stderr}`.includes(gpg.passphrase));
      const wal = readFileSync(join(out, markerSegment));
      assert.equal(wal.length, 16 * 1024 * 1024);
      assert.ok(wal.includes(`${MARKER}-in-wal`), `${server}: the decrypted segment holds the marker`);
    }
  });

  it('recovers both backups with the passphrase: PostgreSQL reads the marker rows back', async () => {
    for (const server of ['ltc', 'pgc']) await recoverAndReadMarker(server, join(dir, 'recovered', server));
  });

  it('recovers over --remote-ssh-command: decrypted on the barman host, PostgreSQL reads the marker', async () => {
    const sshd = await startSshd({ users: ['postgres'] });
    try {
      const destination = join(dir, 'recovered', 'remote');
      const ssh = ['--remote-ssh-command', sshd.sshCommand('postgres', 'postgres')];
      const refused = await barman(
        ['recover', 'ltc', backups.ltc!, destination, ...ssh],
        writeConfig('failing-remote.conf', 'false'),
      );
      assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /'encryption_passphrase_command' failed/);
      assert.ok(!existsSync(destination), 'nothing written on the remote host');
      await recoverAndReadMarker('ltc', destination, ssh);
    } finally {
      await sshd.stop();
    }
  });

  it('a passphrase command that fails or prints nothing stops recovery before anything is written', async () => {
    const failing = writeConfig('failing.conf', 'false');
    const empty = writeConfig('empty.conf', 'true');
    for (const [file, message] of [
      [failing, /'encryption_passphrase_command' failed \(exit status 1\)/],
      [empty, /'encryption_passphrase_command' printed an empty passphrase/],
    ] as const) {
      const destination = join(dir, 'recovered', 'refused');
      const run = await barman(['recover', 'ltc', backups.ltc!, destination], file);
      assert.equal(run.exitCode, 1, run.stdout + run.stderr);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(destination), 'nothing written');
      const out = join(dir, 'files', 'get-wal-refused');
      mkdirSync(out, { recursive: true });
      await chownTo(out, 'postgres');
      const got = await barman(['get-wal', '-o', out, 'ltc', markerSegment], file);
      assert.equal(got.exitCode, 1);
      assert.match(got.stderr, message);
      assert.deepEqual(readdirSync(out), [], 'get-wal wrote nothing');
    }
  });

  it('a corrupted encrypted object is named: get-wal and recover fail clearly', async () => {
    const [wal] = objects('barman/ltc/wals')
      .filter((path) => /\/[0-9A-F]{24}\.gz\.gpg$/.test(path))
      .sort();
    const walFile = join(bucketDir(), `${wal!}._S3rver_object`);
    const bytes = readFileSync(walFile);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(walFile, bytes);
    const name = wal!.split('/').at(-1)!.replace('.gz.gpg', '');
    const got = await barman(['get-wal', '-o', join(dir, 'files', 'get-wal-refused'), 'ltc', name]);
    assert.equal(got.exitCode, 1, got.stderr);
    // gpg's integrity check, or the decompression of what it gave first, names the object.
    assert.match(got.stderr, new RegExp(`s3://${BUCKET}/${wal!.replace(/\./g, '\\.')}`), got.stderr);
    assert.doesNotMatch(got.stderr, /\n\s+at /, 'no stack trace');

    const part = `barman/pgc/base/${backups.pgc!}/data.tar.gz.gpg`;
    const partFile = join(bucketDir(), `${part}._S3rver_object`);
    const archive = readFileSync(partFile);
    archive[Math.floor(archive.length / 2)]! ^= 0xff;
    writeFileSync(partFile, archive);
    const run = await barman(['recover', 'pgc', backups.pgc!, join(dir, 'recovered', 'corrupt')]);
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(run.stderr, new RegExp(`s3://${BUCKET}/${part.replace(/\./g, '\\.')}`), run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
});
