/**
 * Recovery from object storage (s3rver on 127.0.0.1): PostgreSQL archives its WAL with
 * `barman cloud-wal-archive`, Debian's barman-cloud-backup uploads a gzip backup with a
 * tablespace, and `barman recover` restores it to a point in time between two commits and to
 * the end of the archive (WAL fetched by restore_command with --get-wal). PostgreSQL is started
 * on each result and the rows are counted.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, S3Server } from '../harness/index.js';
import {
  chownTo,
  makeTempDir,
  requireDebianPackages,
  runBarman,
  runCompletely,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const BUCKET = 'recover-cloud';

describe('barman recover from object storage', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let target: string;
  const started: PostgresServer[] = [];
  const credentials = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: credentials(), timeoutMs: 300_000 });

  async function startRecovered(data: string): Promise<PostgresServer> {
    const server = await startRecoveredCopy(data);
    started.push(server);
    return server;
  }

  const switchAndWait = () => switchWalAndWaitArchived(pg).then(() => undefined);

  before(async () => {
    requireDebianPackages('barman-cli-cloud', 'python3-boto3');
    s3 = await startS3Server({ buckets: [BUCKET] });
    dir = await makeTempDir('recover-cloud', { owner: 'postgres' });
    for (const sub of ['home', 'log', 'tbs', 'recovered']) {
      mkdirSync(join(dir, sub), { recursive: true });
      await chownTo(join(dir, sub), 'postgres');
    }
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
        parallel_jobs: 2,
      },
      servers: {
        main: {
          conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
          backup_method: 'local-to-cloud',
          basebackups_directory: `s3://${BUCKET}/barman/main/base`,
          wals_directory: `s3://${BUCKET}/barman/main/wals`,
        },
      },
    });
    pg = await startPostgres({
      version: 15,
      archiveCommand: cloudWalArchiveCommand(s3, config),
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY) TABLESPACE tbs1');
    await pg.query('INSERT INTO items SELECT generate_series(1, 1000)');
    await switchAndWait();
    const made = await runCompletely(
      'postgres',
      'barman-cloud-backup',
      [
        '-h',
        pg.host,
        '-p',
        String(pg.port),
        '-U',
        'postgres',
        '--immediate-checkpoint',
        '--gzip',
        '--endpoint-url',
        s3.endpoint,
        `s3://${BUCKET}/barman`,
        'main',
      ],
      { env: s3.env, timeoutMs: 300_000 },
    );
    assert.equal(made.exitCode, 0, made.stderr);
    await pg.query('INSERT INTO items SELECT generate_series(1001, 2000)');
    const [mark] = await pg.query<{ t: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t",
    );
    target = mark!.t;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await pg.query('INSERT INTO items SELECT generate_series(2001, 3000)');
    await switchAndWait();
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await s3?.stop();
  });

  it('recovers a barman-cloud-backup backup to a time between two commits, WAL copied from the bucket', async () => {
    const destination = join(dir, 'recovered', 'pitr');
    const run = await barman(
      'recover',
      'main',
      'latest',
      destination,
      '--target-time',
      target,
      '--target-action',
      'promote',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /Copying the base backup\.\n/);
    assert.match(run.stdout, /Copying required WAL segments\.\n/);
    const server = await startRecovered(destination);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '2000');
    await server.stop();
  });

  it('recovers to the end of the archive with --get-wal (restore_command reads the bucket)', async () => {
    const destination = join(dir, 'recovered', 'getwal');
    const run = await barman(
      'recover',
      'main',
      'latest',
      destination,
      '--get-wal',
      '--target-tli',
      'latest',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    const auto = join(destination, 'postgresql.auto.conf');
    const settings = readFileSync(auto, 'utf8');
    assert.match(
      settings,
      new RegExp(`^restore_command = '.* -c ${config} -q get-wal -P main %f > %p'$`, 'm'),
    );
    // The DBA gives get-wal its S3 credentials (here in the command; a profile or role in real life).
    writeFileSync(
      auto,
      settings.replace(
        "restore_command = '",
        `restore_command = 'env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} `,
      ),
    );
    const server = await startRecovered(destination);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '3000');
    await server.stop();
  });
});
