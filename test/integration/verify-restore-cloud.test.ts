/**
 * `barman verify-restore` on a cloud catalogue: a `backup_method = postgres` server whose
 * basebackups_directory and wals_directory are s3:// URLs (s3rver), PostgreSQL 15. The drill
 * recovers from the bucket, passes every step, and its result is stored beside the catalogue
 * through Storage (restore-drills.json at the root of the s3:// basebackups_directory, read
 * back with the AWS SDK), shown by show-backup, status and `-f json`. Nothing is left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startS3Server,
  switchWalAndWaitArchived,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'verify-restore-cloud';

describe('barman verify-restore of a backup in object storage (s3://)', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: { ...s3.env }, timeoutMs: 300_000 });

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('verify-restore-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'drills']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal --file %p main`,
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
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: true,
          immediate_checkpoint: true,
          basebackups_directory: `s3://${BUCKET}/barman/main/base`,
          wals_directory: `s3://${BUCKET}/barman/main/wals`,
          cloud_staging_directory: join(dir, 'home', 'staging'),
          path_prefix: '/usr/lib/postgresql/15/bin',
          restore_drill_directory: join(dir, 'drills'),
          restore_drill_probe: 'select max(created_at) from orders',
          restore_drill_probe_max_age: '10 minutes',
        },
      },
    });
    await pg.query('CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())');
    await pg.query('INSERT INTO orders (id) SELECT g FROM generate_series(1, 5000) g');
    await switchWalAndWaitArchived(pg);
  });

  after(async () => {
    await pg?.stop();
    await s3?.stop();
  });

  it('passes, and records its result in the bucket beside the catalogue', async () => {
    const backup = await barman('backup', '--wait', 'main');
    assert.equal(backup.exitCode, 0, backup.stdout + backup.stderr);
    await pg.query('INSERT INTO orders (id) SELECT g FROM generate_series(5001, 5100) g');
    await switchWalAndWaitArchived(pg);
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stdout + cron.stderr);
    const incoming = join(dir, 'home', 'main', 'incoming');
    await waitFor(
      'incoming/ uploaded',
      () => readdirSync(incoming).filter((name) => /^[0-9A-F]{24}$/.test(name)).length === 0,
      { timeoutMs: 120_000 },
    );
    const list = await barman('list-backup', 'main');
    const backupId = /^main (\d{8}T\d{6})/m.exec(list.stdout)![1]!;

    const run = await barman('verify-restore', 'main');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Restore drill of backup ${backupId} of server main: OK$`, 'm'));
    for (const step of ['space', 'recover', 'verifybackup', 'start', 'amcheck', 'probe', 'cleanup'])
      assert.match(run.stdout, new RegExp(`^  ${step}: OK - `, 'm'), run.stdout);
    assert.match(
      run.stdout,
      new RegExp(`^ {2}Recorded in: s3://${BUCKET}/barman/main/base/restore-drills\\.json$`, 'm'),
    );
    assert.deepEqual(readdirSync(join(dir, 'drills')), []);
    assert.doesNotMatch(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }), /barman-restore-drill/);

    // Stored through Storage in the bucket, at the root of the catalogue, not in a backup.
    const client = new S3Client(s3.clientConfig);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'barman/main/' }));
      const keys = (listed.Contents ?? []).map((object) => object.Key!);
      assert.deepEqual(
        keys.filter((key) => key.includes('restore-drills')),
        ['barman/main/base/restore-drills.json'],
      );
      const object = await client.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'barman/main/base/restore-drills.json' }),
      );
      const recorded = JSON.parse(await object.Body!.transformToString()) as {
        results: Array<{ backup_id: string; status: string }>;
      };
      assert.equal(recorded.results[0]!.backup_id, backupId);
      assert.equal(recorded.results[0]!.status, 'ok');
    } finally {
      client.destroy();
    }
    // The drill results file is no backup: listings and the catalogue ignore it.
    const again = await barman('list-backup', 'main');
    assert.equal(again.stdout, list.stdout);

    const show = await barman('show-backup', 'main', backupId);
    assert.match(
      show.stdout,
      /^\s+Last drill\s+: passed at \S+ \(backup \S+, target end of the WAL archive, /m,
    );
    const showJson = JSON.parse(
      (await barman('-f', 'json', 'show-backup', 'main', backupId)).stdout,
    ) as Record<string, { restore_drill: { status: string; backup_id: string } }>;
    assert.equal(showJson.main!.restore_drill.status, 'ok');
    assert.equal(showJson.main!.restore_drill.backup_id, backupId);
    const status = await barman('status', 'main');
    assert.match(status.stdout, /^\tLast restore drill: passed at /m);
  });
});
