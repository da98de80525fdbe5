/**
 * Encrypted block-level incremental backups in a directory (PostgreSQL 17, summarize_wal = on,
 * encryption = gpg with a generated key in a throwaway GNUPGHOME, gzip tar archives): a marker
 * row is written, then a full backup and two incrementals are taken with rows added, updated and
 * deleted between them. Every archive of each backup is a `.gpg` OpenPGP message (the
 * INCREMENTAL.* files are inside them), no file under barman_home holds the marker, plain or
 * gunzipped, and no INCREMENTAL.* file is stored. The chain is recovered with the passphrase and
 * PostgreSQL started on it reads exactly the rows of the source. Bad input: no
 * encryption_passphrase_command at recovery is refused before the destination exists; a plain
 * incremental on an encrypted parent (encryption turned off) is refused naming the parent.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  fileType,
  filesContaining,
  filesUnder,
  gzipFilesContaining,
  isPublicKeyEncrypted,
  makeGpgHome,
  MARKER,
  runBarman,
  startIncrementalBackupRig,
  startRecoveredCopy,
  switchWalAndWaitArchived,
  writeBarmanConfig,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT (SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM secrets) || ' big=' || " +
  "(SELECT count(*) || ':' || sum(v) FROM big) AS state";

describe('encrypted incremental backups in a directory (PostgreSQL 17)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let gpg: GpgHome;
  let dir: string;
  let config: string;
  let base: string;
  let server: Record<string, string>;
  let sourceState = '';
  const ids: string[] = [];
  const started: PostgresServer[] = [];
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', file, ...args], { user: 'postgres', env: gpg.env, timeoutMs: 300_000 });
  const info = (id: string) =>
    parseBackupInfo(readFileSync(join(base, id, 'backup.info'), 'utf8'), `${id}/backup.info`);
  const newestId = () => readdirSync(base).sort().at(-1)!;
  /** The same server, with `changes` to its options, in `file` of the temp dir. */
  const variant = (file: string, changes: Record<string, string | null>) => {
    const options = Object.fromEntries(
      Object.entries({ ...server, ...changes }).filter(
        (entry): entry is [string, string] => entry[1] !== null,
      ),
    );
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: { barman_user: 'postgres', log_file: null },
      servers: { main: options },
    });
    return join(dir, file);
  };

  before(async () => {
    gpg = await makeGpgHome('postgres');
    const encryption = {
      backup_compression: 'gzip',
      backup_compression_format: 'tar',
      encryption: 'gpg',
      encryption_key_id: gpg.fingerprint,
      encryption_passphrase_command: gpg.passphraseCommand,
    };
    ({ pg, dir, config, base } = await startIncrementalBackupRig(
      'encryption-incremental',
      17,
      () => encryption,
      // put-wal seals the WAL it receives: it needs the key of this keyring.
      gpg.env,
    ));
    server = { conninfo: pg.conninfo, streaming_conninfo: pg.conninfo, backup_method: 'postgres' };
    Object.assign(server, { immediate_checkpoint: 'on', archiver: 'on', ...encryption });
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
  });

  it('takes a full backup and two incrementals, each compressed then encrypted', async () => {
    const full = await barman(config, 'backup', '--wait', 'main');
    assert.equal(full.exitCode, 0, full.stdout + full.stderr);
    ids.push(newestId());

    await pg.statements(
      `INSERT INTO secrets VALUES (2, '${MARKER}-first');` +
        'UPDATE big SET v = v + 1 WHERE id % 100 = 0; DELETE FROM big WHERE id > 49000;',
    );
    const first = await barman(config, 'backup', '--incremental', 'latest-full', '--wait', 'main');
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    assert.match(
      first.stdout,
      /BASE_BACKUP \(INCREMENTAL, parent \d{8}T\d{6}, tar archives, gzip, encrypted with gpg\)/,
    );
    ids.push(newestId());

    await pg.statements(
      `INSERT INTO secrets VALUES (3, '${MARKER}-second'); UPDATE secrets SET note = note || '-updated' WHERE id = 1;` +
        "INSERT INTO big SELECT i, i, repeat('z', 100) FROM generate_series(60001, 61000) i;",
    );
    const second = await barman(config, 'backup', '--incremental', ids[1]!, '--wait', 'main');
    assert.equal(second.exitCode, 0, second.stdout + second.stderr);
    ids.push(newestId());
    assert.equal(new Set(ids).size, 3);
    sourceState = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
    await switchWalAndWaitArchived(pg);
    const archived = await barman(config, 'archive-wal', 'main');
    assert.equal(archived.exitCode, 0, archived.stderr);

    for (const [index, id] of ids.entries()) {
      const backup = info(id);
      assert.equal(backup.status, 'DONE');
      assert.equal(backup.encryption, 'gpg');
      assert.equal(backup.compression, 'gzip');
      assert.equal(backup.parent_backup_id ?? null, index === 0 ? null : ids[index - 1]);
      const data = join(base, id, 'data');
      const stored = readdirSync(data).sort();
      assert.ok(stored.includes('base.tar.gz.gpg'), `${id}: ${stored.join(' ')}`);
      for (const name of stored) {
        if (name === 'backup_manifest') continue; // plaintext, as for a full backup (UPLOAD_MANIFEST reads it)
        assert.match(name, /\.tar\.gz\.gpg$/, `${id}: ${name}`);
        assert.ok(isPublicKeyEncrypted(join(data, name)), `${name}: ${fileType(join(data, name))}`);
      }
    }
    // Shown as Barman 3.14+ shows it, in the chain layout (console and JSON).
    const shown = await barman(config, 'show-backup', 'main', ids[2]!);
    assert.match(shown.stdout, /Backup Method {8}: postgres\n {4}Encryption {11}: gpg\n/, shown.stdout);
    const json = await barman(config, '-f', 'json', 'show-backup', 'main', ids[2]!);
    const document = JSON.parse(json.stdout) as {
      main: { base_backup_information: { encryption?: string } };
    };
    assert.equal(document.main.base_backup_information.encryption, 'gpg', json.stdout);
    // The incrementals did send changed blocks only: their manifests list INCREMENTAL.* files.
    assert.match(readFileSync(join(base, ids[2]!, 'data', 'backup_manifest'), 'utf8'), /INCREMENTAL\./);
  });

  it('leaves no marker and no INCREMENTAL.* file under barman_home, plain or gunzipped', () => {
    const home = join(dir, 'home');
    assert.deepEqual(filesContaining(home, MARKER), []);
    assert.deepEqual(gzipFilesContaining(home, MARKER), []);
    const files = filesUnder(home);
    assert.ok(files.length > 10, files.join(' '));
    assert.deepEqual(
      files.filter((path) => /(^|\/)INCREMENTAL\./.test(path.slice(home.length))),
      [],
    );
  });

  it('refuses to recover the encrypted chain without encryption_passphrase_command, writing nothing', async () => {
    const destination = join(dir, 'recovered', 'no-passphrase');
    const file = variant('no-passphrase.conf', { encryption_passphrase_command: null });
    const run = await barman(file, 'recover', 'main', ids[2]!, destination);
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /encryption_passphrase_command/);
    assert.match(run.stderr, new RegExp(`backup ${ids[0]}`), 'names the encrypted backup');
    assert.ok(!existsSync(destination), 'the destination is not created');
  });

  it('refuses a plain incremental on an encrypted parent once encryption is turned off', async () => {
    const file = variant('plain.conf', {
      encryption: null,
      encryption_key_id: null,
      encryption_passphrase_command: null,
      backup_compression: null,
      backup_compression_format: null,
    });
    const run = await barman(file, 'backup', '--incremental', ids[2]!, 'main');
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `Backup ${ids[2]} is not eligible as a parent for an incremental backup: it is encrypted \\(gpg\\)`,
      ),
    );
    assert.equal(newestId(), ids[2], 'no backup was started');
  });

  it('recovers the chain with the passphrase: PostgreSQL reads exactly the rows, marker included', async () => {
    const destination = join(dir, 'recovered', 'chain');
    const run = await barman(config, 'recover', 'main', ids[2]!, destination);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Combining the incremental chain/);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(gpg.passphrase), 'the passphrase is never shown');
    const copy = await startRecoveredCopy(destination, { version: 17 });
    started.push(copy);
    const state = (await copy.query<{ state: string }>(STATE_SQL))[0]!.state;
    assert.equal(state, sourceState);
    assert.ok(state.includes(`1:${MARKER}-full-updated,2:${MARKER}-first,3:${MARKER}-second`), state);
    await copy.stop();
  });
});
