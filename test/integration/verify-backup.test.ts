/**
 * Verification on real PostgreSQL 15 with a tablespace: local-rsync backups get a backup_manifest
 * with autogenerate_manifest (and with generate-manifest, once, afterwards) that PostgreSQL 17's
 * pg_verifybackup accepts; verify-backup passes on them and on a pg_basebackup backup, and
 * names the file when one is changed, missing or extra, or when the manifest was edited.
 * check-backup marks FAILED a backup whose WAL range lost a segment in its middle, naming it;
 * check-wal-archive refuses a used archive. A local-to-cloud backup in s3rver is verified too.
 */
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { storageFor } from '../../src/storage/index.js';
import type { IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  PG17_TOOLS,
  readBackupInfoFields,
  runBarman,
  runInDebian13,
  startPostgres,
  startS3Server,
  storageTestConfig,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

describe('verify-backup, generate-manifest, check-backup, check-wal-archive', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  const base = () => join(dir, 'home/main/base');
  const newestBackup = () => readdirSync(base()).sort().at(-1)!;
  const writeConfig = (file: string, main: IniSection = {}) =>
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: { barman_user: 'postgres', compression: 'gzip' },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          parallel_jobs: 2,
          immediate_checkpoint: 'on',
          archiver: 'on',
          path_prefix: '/usr/lib/postgresql/15/bin',
          ...main,
        },
        empty: { conninfo: pg.conninfo, backup_method: 'local-rsync', archiver: 'on', active: 'false' },
      },
    });

  before(async () => {
    dir = await makeTempDir('verify-backup', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(join(dir, 'home'));
    mkdirSync(join(dir, 'tbs'));
    await chownTo(join(dir, 'home'), 'postgres');
    await chownTo(join(dir, 'tbs'), 'postgres');
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeConfig('barman.conf', { autogenerate_manifest: 'on' });
    writeConfig('postgres.conf', { backup_method: 'postgres' });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE accounts (id int, note text) TABLESPACE tbs1');
    await pg.query("INSERT INTO accounts SELECT g, 'row' FROM generate_series(1, 20000) g");
  });

  after(async () => {
    await pg?.stop();
  });

  let autoId = '';
  it('autogenerate_manifest: a local-rsync backup ends with a backup_manifest that verifies', async () => {
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    autoId = newestBackup();
    assert.match(
      run.stdout,
      new RegExp(`Backup manifest for backup '${autoId}' successfully generated for server main\\n`),
    );
    const manifest = readFileSync(join(base(), autoId, 'data/backup_manifest'), 'utf8');
    assert.match(manifest, /"Path": "global\/pg_control", "Size": 8192, .*"Checksum-Algorithm": "SHA256"/);
    assert.match(manifest, /"Path": "pg_tblspc\/\d+\/PG_15_\d+\/\d+\/\d+"/);
    assert.match(manifest, /"WAL-Ranges": \[\n\{ "Timeline": 1, "Start-LSN": "[0-9A-F]+\/[0-9A-F]+"/);
    const verify = await barman('verify-backup', 'main', 'latest');
    assert.equal(verify.exitCode, 0, verify.stderr);
    // Progress lines (stdout is not a terminal) between Barman's two lines.
    assert.match(verify.stdout, /^Verifying backup 'latest' on server main\n/);
    assert.match(verify.stdout, new RegExp(`verifying backup ${autoId}: 100% .*, (\\d+)/\\1 files`));
    assert.match(verify.stdout, /\nbackup successfully verified\n$/);
  });

  it("PostgreSQL 17's pg_verifybackup accepts the generated manifest", async () => {
    // -n: a stored backup has no WAL of its own (Barman runs it the same way).
    const run = await runInDebian13(`${PG17_TOOLS}/pg_verifybackup`, ['-n', join(base(), autoId, 'data')]);
    // runInDebian13 rejects on a non-zero exit.
    assert.match(run.stdout, /backup successfully verified/);
  });

  let plainId = '';
  it('generate-manifest writes the manifest of a backup taken without one, once', async () => {
    const run = await barman('backup', '--no-manifest', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    plainId = newestBackup();
    const manifest = join(base(), plainId, 'data/backup_manifest');
    assert.equal(existsSync(manifest), false);
    const missing = await barman('verify-backup', 'main', plainId);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.stderr, new RegExp(`ERROR: the backup has no backup_manifest \\(${manifest}\\)`));
    assert.match(missing.stderr, /barman generate-manifest SERVER BACKUP_ID/);

    const generate = await barman('generate-manifest', 'main', plainId);
    assert.equal(generate.exitCode, 0, generate.stderr);
    assert.match(generate.stdout, new RegExp(`backup_manifest of ${plainId}: 100% `));
    assert.match(
      generate.stdout,
      new RegExp(`\nBackup manifest for backup '${plainId}' successfully generated for server main\n$`),
    );
    const written = readFileSync(manifest, 'utf8');
    const again = await barman('generate-manifest', 'main', plainId);
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, new RegExp(`ERROR: File ${manifest} already exists\\.`));
    assert.equal(readFileSync(manifest, 'utf8'), written);
    const verify = await barman('verify-backup', 'main', plainId);
    assert.equal(verify.exitCode, 0, verify.stderr);
    const tool = await runInDebian13(`${PG17_TOOLS}/pg_verifybackup`, ['-n', join(base(), plainId, 'data')]);
    assert.match(tool.stdout, /backup successfully verified/);
  });

  it('names the file that changed, went missing or appeared, and an edited manifest', async () => {
    const data = join(base(), plainId, 'data');
    const verifyFails = async (expected: RegExp) => {
      const run = await barman('verify-backup', 'main', plainId);
      assert.equal(run.exitCode, 1, run.stdout);
      assert.match(run.stderr, expected);
      assert.match(
        run.stderr,
        new RegExp(`ERROR: verify backup failure on backup ${plainId} of server main`),
      );
      assert.doesNotMatch(run.stdout, /successfully verified/);
    };
    // A byte changed, same size: only the checksum tells.
    const control = join(data, 'global/pg_control');
    const original = readFileSync(control);
    const changed = Buffer.from(original);
    changed[100] = changed[100]! ^ 0xff;
    writeFileSync(control, changed);
    await verifyFails(/ERROR: checksum mismatch for file "global\/pg_control"/);
    writeFileSync(control, original);

    const version = join(data, 'PG_VERSION');
    renameSync(version, join(dir, 'PG_VERSION.moved'));
    await verifyFails(/ERROR: "PG_VERSION" is present in the manifest but not in the backup/);
    renameSync(join(dir, 'PG_VERSION.moved'), version);

    writeFileSync(join(data, 'base/stranger'), 'not from the backup');
    await verifyFails(/ERROR: "base\/stranger" is present in the backup but not in the manifest/);
    rmSync(join(data, 'base/stranger'));

    appendFileSync(version, '\n');
    await verifyFails(/ERROR: "PG_VERSION" has size 4 in the backup but size 3 in the manifest/);
    writeFileSync(version, readFileSync(version).subarray(0, 3));

    const manifest = join(data, 'backup_manifest');
    const text = readFileSync(manifest, 'utf8');
    writeFileSync(
      manifest,
      text.replace('"Path": "PG_VERSION", "Size": 3', '"Path": "PG_VERSION", "Size": 4'),
    );
    await verifyFails(/ERROR: backup_manifest checksum mismatch/);
    writeFileSync(manifest, text);
    const healed = await barman('verify-backup', 'main', plainId);
    assert.equal(healed.exitCode, 0, healed.stderr);
  });

  it('verifies a pg_basebackup backup against its own manifest (CRC32C checksums)', async () => {
    const run = await runBarman(['-c', join(dir, 'postgres.conf'), 'backup', '--wait', 'main'], {
      timeoutMs: 180_000,
    });
    assert.equal(run.exitCode, 0, run.stderr);
    const id = newestBackup();
    assert.match(
      readFileSync(join(base(), id, 'data/backup_manifest'), 'utf8'),
      /"Checksum-Algorithm": "CRC32C"/,
    );
    const verify = await barman('verify-backup', 'main', id);
    assert.equal(verify.exitCode, 0, verify.stderr);
    assert.match(verify.stdout, /backup successfully verified/);
    const file = join(base(), id, 'data/PG_VERSION');
    const original = readFileSync(file);
    writeFileSync(file, Buffer.from('99\n'));
    const bad = await barman('verify-backup', 'main', id);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /ERROR: checksum mismatch for file "PG_VERSION"/);
    writeFileSync(file, original);
  });

  it('check-backup: a good backup stays DONE silently; a segment missing in the middle of its range fails it, named', async () => {
    const good = await barman('check-backup', 'main', autoId);
    assert.equal(good.exitCode, 0, good.stderr);
    assert.equal(good.stdout, '');
    assert.equal(readBackupInfoFields(join(base(), autoId, 'backup.info')).status, 'DONE');

    // A backup whose WAL range spans several segments: WAL switches while a slow copy runs.
    writeConfig('slow.conf', { bandwidth_limit: '1500' });
    const backup = runBarman(['-c', join(dir, 'slow.conf'), 'backup', 'main'], { timeoutMs: 300_000 });
    for (let round = 0; round < 4; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await pg.query("INSERT INTO accounts SELECT g, 'during' FROM generate_series(1, 1000) g");
      await switchWalAndWaitArchived(pg);
    }
    const run = await backup;
    assert.equal(run.exitCode, 0, run.stderr);
    await switchWalAndWaitArchived(pg);
    // put-wal left the segments in incoming/: archive-wal (cron's work) puts them in the archive.
    assert.equal((await barman('archive-wal', 'main')).exitCode, 0);
    const id = newestBackup();
    const info = readBackupInfoFields(join(base(), id, 'backup.info'));
    const waiting = await barman('check-backup', 'main', id);
    assert.equal(waiting.exitCode, 0, waiting.stderr);
    assert.equal(readBackupInfoFields(join(base(), id, 'backup.info')).status, 'DONE');
    const begin = parseInt(info.begin_wal!.slice(16), 16);
    const end = parseInt(info.end_wal!.slice(16), 16);
    assert.ok(end - begin >= 2, `the range ${info.begin_wal}..${info.end_wal} has no middle segment`);
    const middle = `${info.begin_wal!.slice(0, 16)}${(begin + 1).toString(16).toUpperCase().padStart(8, '0')}`;
    const wals = join(dir, 'home/main/wals', middle.slice(0, 16));
    renameSync(join(wals, middle), join(dir, middle));

    const failed = await barman('check-backup', 'main', id);
    assert.equal(failed.exitCode, 1, failed.stdout);
    const reason = `At least one WAL file is missing. The first missing WAL file is ${middle}`;
    assert.equal(
      failed.stderr,
      `ERROR: This backup has been marked as FAILED due to the following reason: ${reason}\n`,
    );
    const after = readBackupInfoFields(join(base(), id, 'backup.info'));
    assert.equal(after.status, 'FAILED');
    assert.equal(after.error, reason);
    const again = await barman('check-backup', 'main', id);
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /ERROR: The validity of a failed backup cannot be checked/);
    renameSync(join(dir, middle), join(wals, middle));
  });

  it('check-wal-archive: a used archive fails, --timeline past its timelines and an empty archive pass', async () => {
    const used = await barman('check-wal-archive', 'main');
    assert.equal(used.exitCode, 1);
    assert.equal(used.stdout, 'Server main:\n');
    assert.equal(used.stderr, 'ERROR: WAL archive check failed for server main: Expected empty archive\n');
    const current = await barman('check-wal-archive', '--timeline', '1', 'main');
    assert.equal(current.exitCode, 1);
    assert.match(current.stderr, /Found \d+ files in WAL archive equal to or newer than timeline 1\n/);
    const later = await barman('check-wal-archive', '--timeline', '2', 'main');
    assert.equal(later.exitCode, 0, later.stderr);
    assert.equal(later.stdout, 'Server main:\n - WAL archive check for server main passed\n');
    const empty = await barman('check-wal-archive', 'empty');
    assert.equal(empty.exitCode, 0, empty.stderr);
    const json = await barman('-f', 'json', 'check-wal-archive', 'empty');
    assert.deepEqual(JSON.parse(json.stdout), { empty: 'WAL archive check for server empty passed' });
  });
});

describe('verify-backup and generate-manifest on an s3:// catalogue (s3rver)', { concurrency: 1 }, () => {
  const BUCKET = 'verify';
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: s3.env, timeoutMs: 300_000 });
  const writeConfig = (port?: number) =>
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', aws_endpoint_url: s3.endpoint, aws_region: 'us-east-1' },
      servers: {
        main: {
          conninfo: `host=127.0.0.1${port === undefined ? '' : ` port=${port}`} user=postgres dbname=postgres`,
          backup_method: 'local-to-cloud',
          cloud_upload_max_archive_size: '8M',
          immediate_checkpoint: true,
          basebackups_directory: `s3://${BUCKET}/main/base`,
          wals_directory: `s3://${BUCKET}/main/wals`,
        },
      },
    });

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('verify-cloud', { owner: 'postgres' });
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    config = writeConfig();
    pg = await startPostgres({
      version: 15,
      archiveCommand: cloudWalArchiveCommand(s3, config),
    });
    writeConfig(pg.port);
    await pg.query('CREATE TABLE items AS SELECT generate_series(1, 50000) AS id');
  });

  after(async () => {
    await pg?.stop();
    await s3?.stop();
  });

  it('verifies a backup in the bucket, writes a missing manifest, and names a changed archive member', async () => {
    const run = await barman('backup', 'main');
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    const id = /for server main in s3:\/\/\S+\/(\d{8}T\d{6})/.exec(run.stdout)![1]!;
    const verify = await barman('verify-backup', 'main', id);
    assert.equal(verify.exitCode, 0, verify.stderr);
    assert.match(verify.stdout, /\nbackup successfully verified\n$/);

    Object.assign(process.env, s3.env);
    const storage = await storageFor(storageTestConfig(s3), {
      kind: 's3',
      bucket: BUCKET,
      prefix: 'main/base',
      url: `s3://${BUCKET}/main/base`,
    });
    try {
      // As barman-cloud-backup leaves it: no manifest. generate-manifest writes one from the archives.
      const original = await storage.readFile(`${id}/backup_manifest`);
      await storage.remove(`${id}/backup_manifest`);
      const generate = await barman('generate-manifest', 'main', id);
      assert.equal(generate.exitCode, 0, generate.stderr);
      assert.match(
        generate.stdout,
        new RegExp(`Backup manifest for backup '${id}' successfully generated for server main\n$`),
      );
      const written = (await storage.readFile(`${id}/backup_manifest`)).toString('utf8');
      assert.match(written, /"Checksum-Algorithm": "SHA256"/);
      assert.notEqual(written, original.toString('utf8'));
      assert.equal((await barman('verify-backup', 'main', id)).exitCode, 0);

      // An uncompressed tar part: change one byte of PG_VERSION's data, the archive stays a tar.
      const parts = (await storage.listTree(id)).filter((object) =>
        /\/data(_\d{4})?\.tar$/.test(object.path),
      );
      let changed = '';
      for (const part of parts) {
        const tar = await storage.readFile(part.path);
        const at = tar.indexOf(Buffer.from('PG_VERSION\0'));
        if (at < 0 || at % 512 !== 0) continue;
        tar[at + 512] = tar[at + 512]! ^ 0x01;
        await storage.writeFile(part.path, tar);
        changed = part.path;
        break;
      }
      assert.ok(changed, `no tar part holds PG_VERSION: ${parts.map((part) => part.path).join(' ')}`);
      const bad = await barman('verify-backup', 'main', id);
      assert.equal(bad.exitCode, 1, bad.stdout);
      assert.match(
        bad.stderr,
        new RegExp(
          `ERROR: checksum mismatch for file "PG_VERSION" \\(PG_VERSION in s3://${BUCKET}/main/base/${changed}\\)`,
        ),
      );
    } finally {
      storage.close();
    }
  });
});
