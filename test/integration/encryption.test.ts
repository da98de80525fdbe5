/**
 * encryption = gpg on real PostgreSQL with a generated key in a throwaway GNUPGHOME: a marker
 * row is backed up (postgres method, gzip tar) and archived (uncompressed WAL, so that plaintext
 * would show), then nothing under barman_home contains the marker and every stored archive and
 * WAL file is an OpenPGP message (`file`, as Barman detects them); backup.info and xlog.db say
 * `gpg` as Barman 3.14+ writes them; get-wal and recover decrypt with the passphrase command and
 * PostgreSQL starts on the recovered copy with the marker. encryption-bad-input.test.ts has the
 * refusals.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  fileType,
  filesContaining,
  filesUnder,
  getWalAsBarmanUser,
  isPublicKeyEncrypted,
  MARKER,
  runBarman,
  startEncryptionRig,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

describe('encryption = gpg', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let gpg: GpgHome;
  let backupId: string;
  let server: Record<string, string>;
  const started: PostgresServer[] = [];
  const conf = (name: string) => join(dir, name);
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', conf(file), ...args], { timeoutMs: 180_000, env: gpg.env });

  before(async () => {
    ({ dir, gpg, pg, server } = await startEncryptionRig('encryption', 'barman.conf', 'gzip'));
    const global = { barman_user: 'postgres', log_file: null };
    writeBarmanConfig({ dir, mode: 0o644, global, servers: { main: server } });
    writeBarmanConfig({
      dir,
      file: 'gzip.conf',
      mode: 0o644,
      global: { ...global, compression: 'gzip' },
      servers: { main: server },
    });
    await pg.query('CREATE TABLE secrets (id int, note text)');
    await pg.query(`INSERT INTO secrets VALUES (1, '${MARKER}-in-backup')`);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    gpg?.stopAgent();
  });

  it('check encrypts a test message to the key and decrypts it back', async () => {
    const run = await barman('barman.conf', 'check', 'main');
    assert.match(run.stdout, /^\tencryption: OK$/m, run.stdout);
  });

  it('stores the backup and the WAL encrypted: no marker under barman_home, OpenPGP files only', async () => {
    // Sampled through the copy: no file of the backup's data/ is ever a plaintext archive
    // (each is written encrypted as it arrives; temp names wrap an encrypted name too).
    const base = join(dir, 'home/main/base');
    const plaintext = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const id of existsSync(base) ? readdirSync(base) : []) {
          const data = join(base, id, 'data');
          for (const name of existsSync(data) ? readdirSync(data) : []) {
            const unwrapped = name.replace(/^\.(.*)\.\d+-[0-9a-f]+\.tmp$/, '$1');
            if (!unwrapped.endsWith('.gpg') && unwrapped !== 'backup_manifest') plaintext.add(name);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const backup = await barman('barman.conf', 'backup', '--wait', 'main');
    watching = false;
    await watcher;
    assert.equal(backup.exitCode, 0, backup.stderr);
    assert.match(backup.stdout, /BASE_BACKUP \(tar archives, gzip, encrypted with gpg\)/);
    assert.deepEqual([...plaintext], [], 'no plaintext archive was ever written');
    await pg.query(`INSERT INTO secrets VALUES (2, '${MARKER}-in-wal')`);
    const switched = await barman('barman.conf', 'switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);

    assert.deepEqual(filesContaining(join(dir, 'home'), MARKER), []);
    backupId = readdirSync(join(dir, 'home/main/base')).sort().at(-1)!;
    const data = join(dir, 'home/main/base', backupId, 'data');
    const stored = readdirSync(data).sort();
    assert.ok(stored.includes('base.tar.gz.gpg'), stored.join(' '));
    assert.ok(!stored.includes('base.tar.gz'), 'the plaintext archive is removed');
    for (const name of stored) {
      if (name === 'backup_manifest') continue; // kept plaintext, as Barman does
      assert.match(name, /\.tar(\.gz)?\.gpg$/);
      assert.ok(isPublicKeyEncrypted(join(data, name)), `${name}: ${fileType(join(data, name))}`);
    }
    const info = readFileSync(join(dir, 'home/main/base', backupId, 'backup.info'), 'utf8');
    assert.match(info, /^encryption=gpg$/m);
    assert.match(info, /^status=DONE$/m);

    const wals = join(dir, 'home/main/wals');
    const archived = filesUnder(wals).filter((path) => !path.endsWith('xlog.db'));
    assert.ok(archived.length >= 2, archived.join(' '));
    for (const path of archived) assert.ok(isPublicKeyEncrypted(path), `${path}: ${fileType(path)}`);
    const lines = readFileSync(join(wals, 'xlog.db'), 'utf8').trim().split('\n');
    for (const line of lines) assert.match(line, /^\S+\t\d+\t[\d.]+\tNone\tgpg$/, line);
    assert.deepEqual(readdirSync(join(dir, 'home/main/incoming')), []);
  });

  it('compresses before encrypting (compression = gzip): xlog.db says gzip and gpg', async () => {
    // put-wal (the archive_command, barman.conf) seals as it receives: it compresses then.
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', log_file: null, compression: 'gzip' },
      servers: { main: server },
    });
    await pg.query(`INSERT INTO secrets SELECT g, repeat('x', 100) FROM generate_series(3, 2000) g`);
    const switched = await barman('gzip.conf', 'switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const last = readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8').trim().split('\n').at(-1)!;
    const [name, size] = last.split('\t');
    assert.match(last, /\tgzip\tgpg$/);
    assert.ok(Number(size) < 4 * 1024 * 1024, `a compressed segment is small (${size} bytes)`);
    const got = getWalAsBarmanUser(conf('gzip.conf'), gpg, ['main', name!]);
    assert.equal(got.status, 0, got.stderr.toString());
    assert.equal(
      got.stdout.length,
      16 * 1024 * 1024,
      'get-wal gives the whole decrypted, decompressed segment',
    );
    const kept = getWalAsBarmanUser(conf('gzip.conf'), gpg, ['--keep-compression', 'main', name!]);
    assert.equal(kept.status, 0, kept.stderr.toString());
    assert.equal(
      kept.stdout.subarray(0, 2).toString('hex'),
      '1f8b',
      '--keep-compression: decrypted, still gzip',
    );
    assert.ok(kept.stdout.length < Number(size), `the gzip stream inside the ${size}-byte encrypted file`);
  });

  it('get-wal decrypts: the archived WAL holding the marker gives it back, the passphrase never shown', () => {
    const lines = readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8').trim().split('\n');
    const segments = lines.map((line) => line.split('\t')[0]!).filter((name) => /^[0-9A-F]{24}$/.test(name));
    let found = false;
    for (const name of segments) {
      const run = getWalAsBarmanUser(conf('barman.conf'), gpg, ['main', name]);
      assert.equal(run.status, 0, run.stderr.toString());
      assert.ok(!run.stderr.toString().includes(gpg.passphrase));
      if (run.stdout.includes(`${MARKER}-in-wal`)) found = true;
    }
    assert.ok(found, `one of ${segments.join(' ')} holds the marker once decrypted`);
  });

  it('verify-backup refuses an encrypted backup clearly instead of checking ciphertext', async () => {
    const run = await barman('barman.conf', 'verify-backup', 'main', backupId);
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /backup \S+ is encrypted \(gpg\): barman-ts cannot read its content/);
  });

  it('recovers with the passphrase: PostgreSQL starts and reads the marker rows', async () => {
    const destination = join(dir, 'recovered', 'dest');
    const run = await barman('barman.conf', 'recover', 'main', backupId, destination);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(gpg.passphrase), 'the passphrase is never shown');
    assert.ok(existsSync(join(destination, 'PG_VERSION')));
    const server = await startRecoveredCopy(destination);
    started.push(server);
    const rows = await server.query<{ note: string }>('SELECT note FROM secrets WHERE id <= 2 ORDER BY id');
    assert.deepEqual(
      rows.map((row) => row.note),
      [`${MARKER}-in-backup`, `${MARKER}-in-wal`],
    );
    const [count] = await server.query<{ n: string }>('SELECT count(*) AS n FROM secrets');
    assert.equal(count!.n, '2000');
    await server.stop();
  });
});
