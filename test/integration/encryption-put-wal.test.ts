/**
 * put-wal seals what it writes (`encryption = gpg`), on real PostgreSQL 15 whose archive_command
 * is `put-wal --file %p`, with a generated key in a throwaway GNUPGHOME: incoming/ only ever
 * holds `<name>.gz.gpg` OpenPGP files (no marker), get-wal decrypts one still waiting there,
 * archive-wal stores them as they are (xlog.db: gzip, gpg; no second encryption), a recovery
 * replays them and PostgreSQL reads the marker. Duplicates: a retried put-wal of an archived
 * segment is recognised by decrypting; a sealed copy arriving in incoming/ again is dropped when
 * identical, kept in errors/ when different, and left in incoming/ when no passphrase command
 * lets archive-wal compare it. Bad input: a renamed segment is refused before it is sealed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  chownTo,
  filesContaining,
  getWalAsBarmanUser,
  isPublicKeyEncrypted,
  MARKER,
  runBarman,
  startEncryptionRig,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

/** A segment, backup label or history file sealed by put-wal (compression = gzip). */
const SEALED = /^([0-9A-F]{24}(\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)\.gz\.gpg$/;

describe('put-wal with encryption = gpg: no plaintext WAL in incoming/', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let gpg: GpgHome;
  let backupId: string;
  let segment: string;
  let plainCopy: string;
  const started: PostgresServer[] = [];
  const conf = (name: string) => join(dir, name);
  const incoming = () => join(dir, 'home/main/incoming');
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', conf(file), ...args], { timeoutMs: 180_000, env: gpg.env });
  const archivedPath = (name: string) => join(dir, 'home/main/wals', name.slice(0, 16), name);
  const xlogLine = (name: string) =>
    readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith(`${name}\t`));
  const sealWithGpg = (plain: Buffer): Buffer => {
    const run = spawnSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        'gpg',
        '--batch',
        '--yes',
        '--compress-level',
        '0',
        '--recipient',
        gpg.fingerprint,
        '--encrypt',
      ],
      { env: { ...process.env, ...gpg.env }, input: gzipSync(plain), maxBuffer: 64 << 20 },
    );
    assert.equal(run.status, 0, run.stderr.toString());
    return run.stdout;
  };

  before(async () => {
    let server: Record<string, string>;
    ({ dir, gpg, pg, server } = await startEncryptionRig('encryption-put-wal', 'barman.conf', 'gzip'));
    const global = { barman_user: 'postgres', log_file: null, compression: 'gzip' };
    writeBarmanConfig({ dir, mode: 0o644, global, servers: { main: server } });
    const { encryption_passphrase_command: _unused, ...withoutPassphrase } = server;
    writeBarmanConfig({
      dir,
      file: 'nopass.conf',
      mode: 0o644,
      global,
      servers: { main: withoutPassphrase },
    });
    await pg.query('CREATE TABLE secrets (id int, note text)');
    const backup = await barman('barman.conf', 'backup', '--wait', 'main');
    assert.equal(backup.exitCode, 0, backup.stderr);
    backupId = readdirSync(join(dir, 'home/main/base')).sort().at(-1)!;
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    gpg?.stopAgent();
  });

  it('put-wal writes each WAL file sealed into incoming/: OpenPGP files, no marker', async () => {
    await pg.query(`INSERT INTO secrets VALUES (1, '${MARKER}-in-wal')`);
    const [row] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name');
    segment = row!.name;
    await pg.query('SELECT pg_switch_wal()');
    const deadline = Date.now() + 60_000;
    while (!readdirSync(incoming()).includes(`${segment}.gz.gpg`)) {
      assert.ok(
        Date.now() < deadline,
        `${segment} never reached incoming/: ${readdirSync(incoming()).join(' ')}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const waiting = readdirSync(incoming());
    for (const name of waiting) {
      assert.match(name, SEALED);
      assert.ok(isPublicKeyEncrypted(join(incoming(), name)), name);
    }
    assert.deepEqual(filesContaining(join(dir, 'home'), MARKER), []);
  });

  it('get-wal decrypts a sealed file still waiting in incoming/', () => {
    const got = getWalAsBarmanUser(conf('barman.conf'), gpg, ['main', segment]);
    assert.equal(got.status, 0, got.stderr.toString());
    assert.equal(got.stdout.length, 16 * 1024 * 1024);
    assert.ok(got.stdout.includes(`${MARKER}-in-wal`), 'the decrypted segment holds the marker');
    assert.ok(!got.stderr.toString().includes(gpg.passphrase));
    plainCopy = join(dir, 'recovered', segment);
    writeFileSync(plainCopy, got.stdout);
  });

  it('archive-wal stores sealed files as they are: xlog.db says gzip and gpg, nothing left, no marker', async () => {
    const sealed = readFileSync(join(incoming(), `${segment}.gz.gpg`));
    const run = await barman('nopass.conf', 'archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(readdirSync(incoming()), []);
    assert.match(xlogLine(segment)!, /\tgzip\tgpg$/);
    // Linked, not encrypted again: the stored file is the one put-wal wrote (no private key needed).
    assert.ok(readFileSync(archivedPath(segment)).equals(sealed), 'stored byte for byte');
    assert.deepEqual(filesContaining(join(dir, 'home'), MARKER), []);
  });

  it('a retried put-wal of an archived segment is recognised by decrypting; without the passphrase it is refused, nothing lost', async () => {
    const retried = await barman('barman.conf', 'put-wal', 'main', '--file', plainCopy);
    assert.equal(retried.exitCode, 0, retried.stderr);
    assert.deepEqual(readdirSync(incoming()), []);

    const blind = await barman('nopass.conf', 'put-wal', 'main', '--file', plainCopy);
    assert.equal(blind.exitCode, 1, blind.stdout);
    assert.match(blind.stderr, /comparing it with the new copy needs the passphrase/);
    assert.match(blind.stderr, /encryption_passphrase_command/);
    assert.deepEqual(readdirSync(incoming()), [], 'nothing stored: PostgreSQL keeps its file');
  });

  it('a sealed duplicate in incoming/: kept when it cannot be compared, dropped when identical, errors/ when different', async () => {
    const duplicate = join(incoming(), `${segment}.gz.gpg`);
    writeFileSync(duplicate, sealWithGpg(readFileSync(plainCopy)));
    await chownTo(duplicate, 'postgres');
    const blind = await barman('nopass.conf', 'archive-wal', 'main');
    assert.notEqual(blind.exitCode, 0);
    assert.match(`${blind.stdout}${blind.stderr}`, /comparing them needs 'encryption_passphrase_command'/);
    assert.ok(existsSync(duplicate), 'kept in incoming/');

    const compared = await barman('barman.conf', 'archive-wal', 'main');
    assert.equal(compared.exitCode, 0, compared.stderr);
    assert.deepEqual(readdirSync(incoming()), [], 'identical once decrypted: dropped');
    const errors = join(dir, 'home/main/errors');
    const errorsBefore = existsSync(errors) ? readdirSync(errors) : [];

    const different = Buffer.from(readFileSync(plainCopy));
    different[different.length - 100] = different[different.length - 100]! ^ 0xff;
    writeFileSync(duplicate, sealWithGpg(different));
    await chownTo(duplicate, 'postgres');
    const rejected = await barman('barman.conf', 'archive-wal', 'main');
    assert.match(`${rejected.stdout}${rejected.stderr}`, new RegExp(`${segment} is already present`));
    assert.deepEqual(readdirSync(incoming()), []);
    const added = readdirSync(errors).filter((name) => !errorsBefore.includes(name));
    assert.equal(added.length, 1, added.join(' '));
    assert.match(added[0]!, new RegExp(`^${segment}\\.\\d{8}T\\d{6}Z\\.duplicate$`));
  });

  it('refuses a renamed segment before sealing it: nothing stored', async () => {
    const renamed = join(dir, 'recovered', '00000001000000AA000000AA');
    copyFileSync(plainCopy, renamed);
    await chownTo(renamed, 'postgres');
    const run = await barman('barman.conf', 'put-wal', 'main', '--file', renamed);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stderr,
      /00000001000000AA000000AA was not stored: it .*does not belong to the segment its name says/,
    );
    assert.deepEqual(readdirSync(incoming()), []);
  });

  it('recovers from the sealed WAL: PostgreSQL reads the marker', async () => {
    const switched = await barman('barman.conf', 'switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const destination = join(dir, 'recovered', 'dest');
    const run = await barman('barman.conf', 'recover', 'main', backupId, destination);
    assert.equal(run.exitCode, 0, run.stderr);
    const server = await startRecoveredCopy(destination);
    started.push(server);
    const rows = await server.query<{ note: string }>('SELECT note FROM secrets WHERE id = 1');
    assert.deepEqual(
      rows.map((row) => row.note),
      [`${MARKER}-in-wal`],
    );
    await server.stop();
  });
});
