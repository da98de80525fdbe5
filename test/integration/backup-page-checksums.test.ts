/**
 * Data page checksums verified during every backup (issue 14 §3), against a real PostgreSQL 15
 * with data checksums: a clean cluster's backups say so; once a page of a table is damaged on
 * the stopped cluster, a backup by each method (rsync over the harness sshd, local-rsync,
 * postgres with pg_basebackup, local-to-cloud into s3rver: its archives checked as they are
 * written) is kept DONE but the command fails, and the page is named by relation and block in
 * the output, the log, show-backup (console and JSON) and check.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { PostgresServer, S3Server, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startS3Server,
  startSshd,
  writeBarmanConfig,
} from '../harness/index.js';

const SERVERS = {
  rsync: 'over-ssh',
  'local-rsync': 'local',
  postgres: 'streamed',
  'local-to-cloud': 'cloud',
} as const;
const BUCKET = 'pages';
type Method = keyof typeof SERVERS;
const CORRUPT =
  /data page checksum failure in postgres\.public\.orders block 3 \(base\/5\/\d+: checksum \d+, calculated \d+\)/;

describe('data page checksums verified during backups (PostgreSQL 15)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let s3: S3Server;
  let dir: string;
  let config: string;
  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { env: s3.env, timeoutMs: 300_000 });

  async function backup(method: Method): Promise<{ id: string; exitCode: number; output: string }> {
    const run = await barman('backup', '--wait', SERVERS[method]);
    const id = /method for server \S+ in \S+\/(\d{8}T\d{6})$/m.exec(run.stdout)?.[1];
    assert.ok(id, `${run.stdout}\n${run.stderr}`);
    return { id, exitCode: run.exitCode ?? -1, output: `${run.stdout}\n${run.stderr}` };
  }

  async function pgCtl(...args: string[]): Promise<void> {
    await execa('runuser', [
      '-u',
      pg.osUser,
      '--',
      join(pg.binDir, 'pg_ctl'),
      '-D',
      pg.dataDir,
      '-w',
      ...args,
    ]);
  }

  before(async () => {
    dir = await makeTempDir('page-checksums', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    pg = await startPostgres({
      version: 15,
      // local-to-cloud backups do not wait for WAL (cloud-wal-archive's job, not tested here).
      archiveCommand: Object.values(SERVERS)
        .filter((server) => server !== SERVERS['local-to-cloud'])
        .map(putWal)
        .join(' && '),
    });
    sshd = await startSshd({ users: ['postgres'] });
    s3 = await startS3Server({ buckets: [BUCKET] });
    const common = { conninfo: pg.conninfo, immediate_checkpoint: true, archiver: true };
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: {
        barman_user: 'postgres',
        log_file: join(dir, 'home', 'barman.log'),
        aws_endpoint_url: s3.endpoint,
        aws_region: s3.region,
      },
      servers: {
        [SERVERS.rsync]: {
          ...common,
          backup_method: 'rsync',
          ssh_command: sshd.sshCommand('postgres', 'postgres'),
        },
        [SERVERS['local-rsync']]: { ...common, backup_method: 'local-rsync' },
        [SERVERS.postgres]: {
          ...common,
          backup_method: 'postgres',
          streaming_conninfo: pg.conninfo,
          path_prefix: '/usr/lib/postgresql/15/bin',
        },
        [SERVERS['local-to-cloud']]: {
          ...common,
          archiver: false,
          backup_method: 'local-to-cloud',
          basebackups_directory: `s3://${BUCKET}/barman/cloud/base`,
          wals_directory: `s3://${BUCKET}/barman/cloud/wals`,
        },
      },
    });
    await pg.query(
      "CREATE TABLE orders AS SELECT g AS id, repeat('x', 40) AS note FROM generate_series(1, 20000) g",
    );
    // Frozen and checkpointed: the page damaged below is not rewritten (no newer LSN) later.
    await pg.query('VACUUM FREEZE');
    await pg.query('CHECKPOINT');
  });

  after(async () => {
    await s3?.stop();
    await sshd?.stop();
    await pg?.stop();
  });

  it('a clean cluster: every page verified, said in the output, show-backup and check', async () => {
    const taken = await backup('local-rsync');
    assert.equal(taken.exitCode, 0, taken.output);
    assert.match(taken.output, /Data page checksums verified: \d+ pages, no corruption/);
    const shown = await barman('show-backup', SERVERS['local-rsync'], taken.id);
    assert.match(shown.stdout, /Data page checksums:\n\s+Result\s+: verified, \d+ pages, no corruption/);
    const check = await barman('check', SERVERS['local-rsync']);
    assert.match(check.stdout, /data page checksums: OK/);
    const metrics = await barman('metrics', SERVERS['local-rsync']);
    assert.match(metrics.stdout, /^barman_last_backup_corrupt_data_pages\{server="local"\} 0$/m);
  });

  it('a damaged page: each method keeps the backup DONE, fails, and names relation and block', async () => {
    const [row] = await pg.query<{ path: string }>("SELECT pg_relation_filepath('orders') AS path");
    await pgCtl('-m', 'fast', 'stop');
    const fd = openSync(join(pg.dataDir, row!.path), 'r+');
    writeSync(fd, Buffer.from('this page was damaged on disk'), 0, 29, 8192 * 3 + 3000);
    closeSync(fd);
    await pgCtl('-l', pg.logFile, 'start');

    for (const method of Object.keys(SERVERS) as Method[]) {
      const server = SERVERS[method];
      const taken = await backup(method);
      assert.equal(taken.exitCode, 1, `${method}: ${taken.output}`);
      assert.match(taken.output, CORRUPT, method);
      assert.match(taken.output, /is complete, but 1 data page failed checksum verification/, method);

      const listed = await barman('-f', 'json', 'list-backup', server);
      const entry = (
        JSON.parse(listed.stdout) as Record<string, Array<{ backup_id: string; status: string }>>
      )[server]!.find((backup) => backup.backup_id === taken.id);
      assert.equal(entry?.status, 'DONE', `${method}: ${listed.stdout}`);

      const shown = await barman('show-backup', server, taken.id);
      assert.match(shown.stdout, /Result\s+: FAILED: 1 corrupt page of \d+ checked/, method);
      assert.match(shown.stdout, /Corrupt page\s+: postgres\.public\.orders block 3 \(base\/5\/\d+/, method);
      const json = JSON.parse((await barman('-f', 'json', 'show-backup', server, taken.id)).stdout) as Record<
        string,
        { page_checksums: { corrupt_total: number; corrupt_pages: Array<Record<string, unknown>> } }
      >;
      const pages = json[server]!.page_checksums;
      assert.equal(pages.corrupt_total, 1, method);
      assert.equal(pages.corrupt_pages[0]!.relation, 'postgres.public.orders');
      assert.equal(pages.corrupt_pages[0]!.block, 3);
      assert.equal(pages.corrupt_pages[0]!.at_source, 'corrupt');

      const check = await barman('check', server);
      assert.equal(check.exitCode, 1, method);
      // (The cloud server's WAL checks may fail too: its WAL is not archived in this test.)
      assert.match(
        check.stdout,
        /data page checksums: FAILED \(backup \d{8}T\d{6} has 1 corrupt data page: postgres\.public\.orders block 3/,
        method,
      );
    }
    assert.match(readFileSync(join(dir, 'home', 'barman.log'), 'utf8'), CORRUPT);
    const metrics = await barman('metrics');
    for (const server of Object.values(SERVERS))
      assert.match(
        metrics.stdout,
        new RegExp(`^barman_last_backup_corrupt_data_pages\\{server="${server}"\\} 1$`, 'm'),
      );
  });
});
