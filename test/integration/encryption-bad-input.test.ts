/**
 * encryption = gpg, bad input on real PostgreSQL and gpg: a wrong key id (check fails, put-wal
 * and archive-wal store nothing), no / a failing / an empty passphrase command and a wrong passphrase (recover
 * fails before the destination exists, get-wal fails with the reason), a corrupted encrypted WAL
 * file (get-wal names it). Never a stack trace, never the passphrase.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  chownTo,
  getWalAsBarmanUser,
  runBarman,
  startEncryptionRig,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('encryption = gpg: bad input', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let gpg: GpgHome;
  let backupId: string;
  let segment: string;
  const conf = (name: string) => join(dir, `${name}.conf`);
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', conf(file), ...args], { timeoutMs: 180_000, env: gpg.env });
  /** get-wal as the barman user, its output kept as bytes. */
  const getWal = (file: string, name: string) => getWalAsBarmanUser(conf(file), gpg, ['main', name]);
  const clean = (text: string) => {
    assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
    assert.ok(!text.includes(gpg.passphrase), 'the passphrase is never shown');
  };

  before(async () => {
    let server: Record<string, string>;
    ({ dir, gpg, pg, server } = await startEncryptionRig('encryption-bad', 'good.conf', 'lz4'));
    const variants: Record<string, Record<string, string | null>> = {
      good: {},
      badkey: { encryption_key_id: 'nobody@example.invalid' },
      nopass: { encryption_passphrase_command: null },
      failpass: { encryption_passphrase_command: 'echo not-it; exit 3' },
      emptypass: { encryption_passphrase_command: 'true' },
      wrongpass: { encryption_passphrase_command: 'echo wrong passphrase' },
    };
    for (const [name, changes] of Object.entries(variants))
      writeBarmanConfig({
        dir,
        file: `${name}.conf`,
        mode: 0o644,
        global: { barman_user: 'postgres', log_file: null, compression: 'gzip' },
        servers: { main: { ...server, ...changes } },
      });
    await pg.query('CREATE TABLE t (id int)');
    await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
    const backup = await barman('good', 'backup', '--wait', 'main');
    assert.equal(backup.exitCode, 0, backup.stderr);
    backupId = readdirSync(join(dir, 'home/main/base'))[0]!;
    const lines = readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8').trim().split('\n');
    segment = lines.map((line) => line.split('\t')[0]!).find((name) => /^[0-9A-F]{24}$/.test(name))!;
  });

  after(async () => {
    await pg?.stop();
    gpg?.stopAgent();
  });

  it('a wrong key id: check fails naming the key, archive-wal stores nothing and keeps the file', async () => {
    const check = await barman('badkey', 'check', 'main');
    assert.equal(check.exitCode, 1);
    assert.match(
      check.stdout,
      /^\tencryption: FAILED \(gpg could not encrypt to key 'nobody@example\.invalid'/m,
    );
    await pg.query('INSERT INTO t SELECT generate_series(1, 10)');
    await pg.query('SELECT pg_switch_wal()');
    // The archive_command (put-wal, good.conf) seals the new segment into incoming/.
    const incoming = join(dir, 'home/main/incoming');
    await waitFor('a WAL file in incoming/', () => Promise.resolve(readdirSync(incoming).length > 0), {
      timeoutMs: 30_000,
    });
    const sealed = readdirSync(incoming).sort().at(-1)!;
    const name = sealed.replace(/\.gz\.gpg$/, '');
    const got = getWal('good', name);
    assert.equal(got.status, 0, got.stderr.toString());
    const plain = join(dir, 'recovered', name);
    writeFileSync(plain, got.stdout);
    await chownTo(plain, 'postgres');
    // Only `name` stays unarchived, as a plain file PostgreSQL still has to deliver.
    rmSync(join(incoming, sealed));
    const others = await barman('good', 'archive-wal', 'main');
    assert.equal(others.exitCode, 0, others.stderr);
    const before = readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8');

    // put-wal with the wrong key stores nothing (PostgreSQL keeps its file and retries).
    const put = await barman('badkey', 'put-wal', 'main', '--file', plain);
    clean(put.stderr);
    assert.equal(put.exitCode, 1);
    assert.match(put.stderr, /gpg could not encrypt to key 'nobody@example\.invalid'/);
    assert.deepEqual(readdirSync(incoming), []);

    // A plain file in incoming/ (written by another archive_command) waits for a working key.
    copyFileSync(plain, join(incoming, name));
    await chownTo(join(incoming, name), 'postgres');
    const run = await barman('badkey', 'archive-wal', 'main');
    clean(run.stderr);
    assert.notEqual(run.exitCode, 0);
    assert.match(`${run.stdout}${run.stderr}`, /nobody@example\.invalid/);
    assert.equal(readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8'), before, 'nothing catalogued');
    assert.deepEqual(readdirSync(incoming), [name], `${name} waits in incoming/ for a working key`);
    const fixed = await barman('good', 'archive-wal', 'main');
    assert.equal(fixed.exitCode, 0, fixed.stderr);
    assert.deepEqual(readdirSync(incoming), []);
  });

  const refusals: Array<[string, RegExp]> = [
    ['nopass', /is encrypted, but 'encryption_passphrase_command' is not configured/],
    ['failpass', /'encryption_passphrase_command' failed \(exit status 3\)/],
    ['emptypass', /'encryption_passphrase_command' printed an empty passphrase/],
    ['wrongpass', /bad passphrase/],
  ];
  for (const [variant, reason] of refusals) {
    it(`${variant}: recover fails before writing anything, get-wal fails, both saying why`, async () => {
      gpg.stopAgent(); // the agent caches a passphrase that worked
      const destination = join(dir, 'recovered', variant);
      const run = await barman(variant, 'recover', 'main', backupId, destination);
      assert.equal(run.exitCode, 1, run.stdout);
      assert.match(run.stderr, reason);
      clean(run.stderr);
      assert.ok(!existsSync(destination), 'the destination is never created');
      const got = getWal(variant, segment);
      assert.equal(got.status, 1);
      assert.equal(got.stdout.length, 0, 'no WAL bytes written');
      assert.match(got.stderr.toString(), reason);
      clean(got.stderr.toString());
      assert.doesNotMatch(got.stderr.toString(), /not-it/, "the command's output is never shown");
    });
  }

  it('a corrupted encrypted WAL file: get-wal fails naming it', () => {
    const path = join(dir, 'home/main/wals', segment.slice(0, 16), segment);
    const saved = `${path}.saved`;
    copyFileSync(path, saved);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 2000);
    closeSync(fd);
    try {
      const got = getWal('good', segment);
      assert.equal(got.status, 1);
      assert.match(got.stderr.toString(), new RegExp(`cannot decrypt ${path.replace(/[.]/g, '\\.')}`));
      clean(got.stderr.toString());
    } finally {
      copyFileSync(saved, path);
    }
    const intact = getWal('good', segment);
    assert.equal(intact.status, 0, intact.stderr.toString());
    assert.equal(intact.stdout.length, 16 * 1024 * 1024);
  });
});
