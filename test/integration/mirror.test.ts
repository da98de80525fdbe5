/**
 * Mirrors (`mirror_of`): a server's catalogue copied by `barman cron` into a second location of
 * another kind, with its own retention policy. A PostgreSQL 15 cluster (with a tablespace) is
 * backed up twice into a local catalogue (`main`, REDUNDANCY 2); `main-s3` mirrors it into
 * s3rver (REDUNDANCY 1: only the newest backup is copied), and `main-copy` mirrors `main-s3`
 * back into a local directory (barman-cloud's tar archives extracted into Barman's plain layout).
 * Then the primary catalogue directory is deleted entirely, and each mirror is recovered to the
 * end of its WAL and PostgreSQL started on the result reads every row. Bad input: mirror_of
 * naming an unknown server, itself, combined with primary_ssh_command, or sharing the source's
 * location.
 */
import assert from 'node:assert/strict';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, S3Server } from '../harness/index.js';
import { backupLockPath, tryAcquireLock } from '../../src/locks/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'mirror';

describe('mirrors: a catalogue copied to another kind of location', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const backups: string[] = [];
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], {
      user: 'postgres',
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
      timeoutMs: 300_000,
    });
  const ok = async (...args: string[]) => {
    const run = await barman(...args);
    assert.equal(run.exitCode, 0, `barman ${args.join(' ')}: ${run.stdout}\n${run.stderr}`);
    return run;
  };
  type Listed = Record<string, Array<{ backup_id: string; status: string }>>;
  const listed = async (server: string) =>
    (JSON.parse((await ok('-f', 'json', 'list-backup', server)).stdout) as Listed)[server] ?? [];

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('mirror', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'tbs', 'recovered', 'copy']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
      },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          immediate_checkpoint: 'on',
          archiver: 'on',
          retention_policy: 'REDUNDANCY 2',
          path_prefix: '/usr/lib/postgresql/15/bin',
        },
        'main-s3': {
          mirror_of: 'main',
          basebackups_directory: `s3://${BUCKET}/barman/main/base`,
          wals_directory: `s3://${BUCKET}/barman/main/wals`,
          backup_compression: 'gzip',
          retention_policy: 'REDUNDANCY 1',
        },
        'main-copy': {
          mirror_of: 'main-s3',
          basebackups_directory: join(dir, 'copy', 'base'),
          wals_directory: join(dir, 'copy', 'wals'),
          compression: 'gzip',
        },
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, batch text) TABLESPACE tbs1');
    for (const [batch, first] of [
      ['A', 1],
      ['B', 1001],
    ] as const) {
      await pg.query(
        `INSERT INTO items SELECT g, '${batch}' FROM generate_series(${first}, ${first + 999}) g`,
      );
      await ok('backup', '--wait', 'main');
    }
    backups.push(...readdirSync(join(dir, 'home/main/base')).sort());
    await pg.query("INSERT INTO items SELECT g, 'C' FROM generate_series(2001, 3000) g");
    await ok('switch-wal', '--force', '--archive', 'main');
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await s3?.stop();
  });

  it('refuses a mirror of an unknown server, of itself, with primary_ssh_command, or sharing its location', async () => {
    const bad = writeBarmanConfig({
      dir,
      file: 'bad.conf',
      mode: 0o644,
      global: { barman_user: 'postgres', barman_home: join(dir, 'bad-home') },
      servers: {
        source: { conninfo: pg.conninfo, backup_method: 'local-rsync', archiver: 'on' },
        'm-unknown': { mirror_of: 'nosuch' },
        'm-self': { mirror_of: 'm-self' },
        'm-ssh': { mirror_of: 'source', primary_ssh_command: '"ssh barman@backup1"' },
        'm-same': { mirror_of: 'source', wals_directory: join(dir, 'bad-home', 'source', 'wals') },
      },
    });
    const expected: Record<string, RegExp> = {
      'm-unknown':
        /\[m-unknown\] mirror_of: unknown server 'nosuch': a mirror copies another server section of this configuration \(.*source.*\) \(.*bad\.conf, line \d+\)/,
      'm-self': /\[m-self\] mirror_of: server 'm-self' cannot be a mirror of itself/,
      'm-ssh':
        /\[m-ssh\] mirror_of: a mirror copies another server of this barman\.conf; 'primary_ssh_command' makes it a passive node/,
      'm-same':
        /\[m-same\] mirror_of: 'wals_directory' \(.*\/bad-home\/source\/wals\) is also the wals_directory of 'source': a mirror needs a location of its own/,
    };
    for (const [server, message] of Object.entries(expected)) {
      const run = await runBarman(['-c', bad, 'list-backup', server], { user: 'postgres' });
      assert.equal(run.exitCode, 1, `${server}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, message, server);
      assert.match(run.stderr, new RegExp(`Server '${server}' is disabled by configuration errors`));
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('refuses to take a backup of a mirror', async () => {
    const run = await ok('backup', 'main-s3');
    assert.match(run.stdout + run.stderr, /Skipping mirror server 'main-s3' \(a copy of 'main'\)/);
  });

  it("cron copies the newest DONE backup and the WAL into s3rver, under the mirror's own retention", async () => {
    await ok('cron');
    await ok('cron'); // main-copy reads main-s3 once main-s3 holds a backup.
    assert.equal(backups.length, 2);
    assert.deepEqual(
      (await listed('main')).map((backup) => backup.backup_id),
      [...backups].reverse(),
    );
    const mirrored = await listed('main-s3');
    assert.deepEqual(
      mirrored.map((backup) => [backup.backup_id, backup.status]),
      [[backups[1], 'DONE']],
    );
    const client = new S3Client(s3.clientConfig);
    const listing = await client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `barman/main/base/${backups[1]}/` }),
    );
    client.destroy();
    const objects = (listing.Contents ?? []).map((object) => object.Key ?? '');
    assert.ok(
      objects.some((key) => key.endsWith('/data.tar.gz')),
      objects.join(', '),
    );
    assert.ok(
      objects.some((key) => key.endsWith('/backup_manifest')),
      objects.join(', '),
    );
    assert.ok(
      objects.some((key) => /\/\d+\.tar\.gz$/.test(key)),
      objects.join(', '),
    );
    const copied = await listed('main-copy');
    assert.deepEqual(
      copied.map((backup) => [backup.backup_id, backup.status]),
      [[backups[1], 'DONE']],
    );
    assert.ok(existsSync(join(dir, 'copy', 'base', backups[1]!, 'data', 'PG_VERSION')));
    const check = await barman('check', 'main-s3');
    assert.doesNotMatch(check.stdout, /PostgreSQL: /, check.stdout);
    assert.doesNotMatch(check.stdout, /FAILED/, check.stdout);
  });

  it('skips a source backup being deleted, then copies it; each catalogue keeps its own retention', async () => {
    await ok('backup', '--wait', 'main');
    const newest = readdirSync(join(dir, 'home/main/base')).sort().at(-1)!;
    assert.ok(!backups.includes(newest));
    // A deletion of the source's backup holds its lock exclusively (here: this process).
    const lockFile = backupLockPath(join(dir, 'home'), 'main', newest);
    if (!existsSync(lockFile)) writeFileSync(lockFile, '', { mode: 0o600 });
    await chownTo(lockFile, 'postgres');
    const held = tryAcquireLock(lockFile);
    assert.ok(held);
    try {
      const run = await ok('cron');
      assert.match(
        run.stdout,
        new RegExp(`Backup ${newest} of server main is being deleted or changed: not copied to main-s3`),
      );
      assert.deepEqual(
        (await listed('main-s3')).map((backup) => backup.backup_id),
        [backups[1]],
      );
    } finally {
      held.release();
    }
    await ok('cron');
    await ok('cron');
    // main: REDUNDANCY 2; main-s3 and main-copy: REDUNDANCY 1 and none (main-copy keeps what it got).
    assert.deepEqual(
      (await listed('main')).map((backup) => backup.backup_id),
      [newest, backups[1]],
    );
    assert.deepEqual(
      (await listed('main-s3')).map((backup) => backup.backup_id),
      [newest],
    );
    assert.deepEqual(
      (await listed('main-copy')).map((backup) => backup.backup_id),
      [newest, backups[1]],
    );
  });

  it('copies again a backup an interrupted copy left SYNCING, never listing it DONE before', async () => {
    const newest = readdirSync(join(dir, 'home/main/base')).sort().at(-1)!;
    const copy = join(dir, 'copy', 'base', newest);
    // What a copy killed halfway leaves: backup.info SYNCING, files missing.
    const info = join(copy, 'backup.info');
    writeFileSync(info, readFileSync(info, 'utf8').replace(/^status=DONE$/m, 'status=SYNCING'));
    rmSync(join(copy, 'data', 'global', 'pg_control'));
    const before = await listed('main-copy');
    assert.deepEqual(
      before.map((backup) => [backup.backup_id, backup.status]),
      [
        [newest, 'SYNCING'],
        [backups[1], 'DONE'],
      ],
    );
    await ok('cron');
    assert.equal((await listed('main-copy'))[0]?.status, 'DONE');
    assert.ok(existsSync(join(copy, 'data', 'global', 'pg_control')));
    const shown = await ok('show-backup', 'main-copy', newest);
    assert.match(shown.stdout, /Status\s+: DONE/);
  });

  it('recovers from the s3 mirror after the primary catalogue is deleted entirely', async () => {
    await pg.query("INSERT INTO items SELECT g, 'D' FROM generate_series(3001, 4000) g");
    await ok('switch-wal', '--force', '--archive', 'main');
    await ok('cron');
    await ok('cron');
    await pg.stop();
    rmSync(join(dir, 'home', 'main'), { recursive: true, force: true });
    for (const server of ['main-s3', 'main-copy']) {
      const destination = join(dir, 'recovered', server);
      await ok('recover', server, 'latest', destination, '--tablespace', `tbs1:${destination}-tbs`);
      const recovered = await startRecoveredCopy(destination);
      started.push(recovered);
      const [row] = await recovered.query<{ n: string; d: string }>(
        "SELECT count(*) AS n, count(*) FILTER (WHERE batch = 'D') AS d FROM items",
      );
      assert.deepEqual([Number(row!.n), Number(row!.d)], [4000, 1000], server);
      await recovered.stop();
    }
  });
});
