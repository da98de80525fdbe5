/**
 * Encrypted block-level incremental backups on an s3:// basebackups_directory (s3rver,
 * PostgreSQL 18, summarize_wal = on, encryption = gpg with a throwaway GNUPGHOME, WAL by
 * cloud-wal-archive, encrypted too): a full backup and two incrementals, rows changed between
 * them, each streamed as gzip tar parts encrypted in the process (`data.tar.gz.gpg`). No object
 * of the bucket and no file under barman_home holds the marker, plain or gunzipped; no
 * INCREMENTAL.* object exists. The chain is recovered with the passphrase and PostgreSQL reads
 * exactly the source's rows. In a bucket a chain may mix encrypted and plain backups (each
 * archive is decrypted by its name): encryption turned off, a plain incremental on the encrypted
 * chain is taken and recovered. Bad input: no encryption_passphrase_command, for the encrypted
 * chain and for the mixed one whose target is plain, is refused before the destination exists.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GpgHome, PostgresServer, S3Server } from '../harness/index.js';
import {
  chownTo,
  fileType,
  filesContaining,
  filesUnder,
  gzipFilesContaining,
  isPublicKeyEncrypted,
  makeGpgHome,
  makeTempDir,
  MARKER,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const BUCKET = 'encrypted-incremental';
const STATE_SQL =
  "SELECT (SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM secrets) || ' big=' || " +
  "(SELECT count(*) || ':' || sum(v) FROM big) AS state";

describe('encrypted incremental backups on s3:// (PostgreSQL 18)', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let gpg: GpgHome;
  let dir: string;
  let config: string;
  let encryptedState = '';
  const ids: string[] = [];
  const started: PostgresServer[] = [];
  const bucketDir = () => join(s3.dataDir, BUCKET);
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', file, ...args], {
      user: 'postgres',
      env: { ...s3.env, ...gpg.env },
      timeoutMs: 300_000,
    });
  /** Object names of backup `id`. */
  const objectsOf = (id: string) =>
    filesUnder(join(bucketDir(), 'barman/main/base', id))
      .filter((path) => path.endsWith('._S3rver_object'))
      .map((path) =>
        path
          .split('/')
          .at(-1)!
          .replace(/\._S3rver_object$/, ''),
      )
      .sort();
  const backupId = (stdout: string) => {
    const found = /Starting backup using \S+ method for server \S+ in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(stdout);
    assert.ok(found, stdout);
    return found[1]!;
  };
  /** barman.conf with `changes` to the server's options (null removes one). */
  const writeConfig = (file: string, changes: Record<string, string | null> = {}) => {
    const options: Record<string, string> = {
      conninfo: pg.conninfo,
      streaming_conninfo: pg.conninfo,
      backup_method: 'postgres',
      backup_compression: 'gzip',
      immediate_checkpoint: 'on',
      archiver: 'on',
      basebackups_directory: `s3://${BUCKET}/barman/main/base`,
      wals_directory: `s3://${BUCKET}/barman/main/wals`,
      encryption: 'gpg',
      encryption_key_id: gpg.fingerprint,
      encryption_passphrase_command: gpg.passphraseCommand,
    };
    for (const [key, value] of Object.entries(changes))
      if (value === null) delete options[key];
      else options[key] = value;
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
      servers: { main: options },
    });
    return join(dir, file);
  };
  const recoverAndRead = async (file: string, id: string, name: string) => {
    const destination = join(dir, 'recovered', name);
    const run = await barman(file, 'recover', 'main', id, destination);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Combining the incremental chain/);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(gpg.passphrase), 'the passphrase is never shown');
    const copy = await startRecoveredCopy(destination, { version: 18 });
    started.push(copy);
    const state = (await copy.query<{ state: string }>(STATE_SQL))[0]!.state;
    await copy.stop();
    return state;
  };
  const refusedWithoutPassphrase = async (file: string, id: string, name: string) => {
    const destination = join(dir, 'recovered', name);
    const run = await barman(file, 'recover', 'main', id, destination);
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /encryption_passphrase_command/);
    assert.match(run.stderr, new RegExp(`backup ${ids[0]}`), 'names the oldest encrypted backup');
    assert.ok(!existsSync(destination), 'the destination is not created');
  };

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('encryption-incremental-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'recovered']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    gpg = await makeGpgHome('postgres');
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 18,
      settings: { summarize_wal: 'on' },
      archiveCommand: cloudWalArchiveCommand(s3, config, { env: { GNUPGHOME: gpg.home } }),
    });
    writeConfig('barman.conf');
    await pg.statements(
      'CREATE TABLE secrets (id int PRIMARY KEY, note text);' +
        `INSERT INTO secrets VALUES (1, '${MARKER}-full');` +
        "CREATE TABLE big (id int PRIMARY KEY, v int, pad text); INSERT INTO big SELECT i, i, repeat('y', 100) FROM generate_series(1, 50000) i;",
    );
  });

  after(async () => {
    for (const copy of started) await copy.stop();
    await pg?.stop();
    gpg?.stopAgent();
    await s3?.stop();
  });

  it('streams a full backup and two incrementals to the bucket, every archive encrypted', async () => {
    const full = await barman(config, 'backup', '--wait', 'main');
    assert.equal(full.exitCode, 0, full.stdout + full.stderr);
    ids.push(backupId(full.stdout));
    await pg.statements(
      `INSERT INTO secrets VALUES (2, '${MARKER}-first');` +
        'UPDATE big SET v = v + 1 WHERE id % 100 = 0; DELETE FROM big WHERE id > 49000;',
    );
    const first = await barman(config, 'backup', '--incremental', 'latest-full', '--wait', 'main');
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /BASE_BACKUP \(INCREMENTAL, parent \d{8}T\d{6}, tar archives, gzip\)/);
    ids.push(backupId(first.stdout));
    await pg.statements(
      `INSERT INTO secrets VALUES (3, '${MARKER}-second'); UPDATE secrets SET note = note || '-updated' WHERE id = 1;` +
        "INSERT INTO big SELECT i, i, repeat('z', 100) FROM generate_series(60001, 61000) i;",
    );
    const second = await barman(config, 'backup', '--incremental', ids[1]!, '--wait', 'main');
    assert.equal(second.exitCode, 0, second.stdout + second.stderr);
    ids.push(backupId(second.stdout));
    encryptedState = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    await switchWalAndWaitArchived(pg);

    for (const id of ids) {
      const objects = objectsOf(id);
      assert.ok(objects.includes('data.tar.gz.gpg'), `${id}: ${objects.join(' ')}`);
      for (const name of objects) {
        if (name === 'backup.info' || name === 'backup_manifest') continue;
        assert.match(name, /^(data|\d+)(_\d{4})?\.tar\.gz\.gpg$/, `${id}: ${name}`);
        const stored = join(bucketDir(), 'barman/main/base', id, `${name}._S3rver_object`);
        assert.ok(isPublicKeyEncrypted(stored), `${name}: ${fileType(stored)}`);
      }
    }
  });

  it('leaves no marker and no INCREMENTAL.* object in the bucket or barman_home, plain or gunzipped', () => {
    for (const root of [bucketDir(), join(dir, 'home')]) {
      assert.deepEqual(filesContaining(root, MARKER), [], root);
      assert.deepEqual(gzipFilesContaining(root, MARKER), [], root);
      assert.deepEqual(
        filesUnder(root).filter((path) => /(^|\/)INCREMENTAL\./.test(path.slice(root.length))),
        [],
      );
    }
  });

  it('refuses to recover the encrypted chain without encryption_passphrase_command', async () => {
    const file = writeConfig('no-passphrase.conf', { encryption_passphrase_command: null });
    await refusedWithoutPassphrase(file, ids[2]!, 'no-passphrase');
  });

  it('recovers the encrypted chain with the passphrase: exactly the rows, marker included', async () => {
    const state = await recoverAndRead(config, ids[2]!, 'chain');
    assert.equal(state, encryptedState);
    assert.ok(state.includes(`1:${MARKER}-full-updated,2:${MARKER}-first,3:${MARKER}-second`), state);
  });

  it('encryption turned off: a plain incremental on the encrypted chain, recovered with the passphrase', async () => {
    const plain = writeConfig('plain.conf', {
      encryption: null,
      encryption_key_id: null,
      backup_compression: null,
    });
    await pg.statements(
      `INSERT INTO secrets VALUES (4, 'plain-after-encryption'); DELETE FROM big WHERE id <= 10;`,
    );
    const third = await barman(plain, 'backup', '--incremental', ids[2]!, '--wait', 'main');
    assert.equal(third.exitCode, 0, third.stdout + third.stderr);
    assert.match(third.stdout, /BASE_BACKUP \(INCREMENTAL, parent \d{8}T\d{6}, tar archives\)/);
    const mixedId = backupId(third.stdout);
    assert.ok(objectsOf(mixedId).includes('data.tar'), objectsOf(mixedId).join(' '));
    const mixedState = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    await switchWalAndWaitArchived(pg);

    const noPassphrase = writeConfig('plain-no-passphrase.conf', {
      encryption: null,
      encryption_key_id: null,
      backup_compression: null,
      encryption_passphrase_command: null,
    });
    await refusedWithoutPassphrase(noPassphrase, mixedId, 'mixed-no-passphrase');
    const state = await recoverAndRead(plain, mixedId, 'mixed');
    assert.equal(state, mixedState);
    assert.ok(state.includes('4:plain-after-encryption'), state);
  });
});
