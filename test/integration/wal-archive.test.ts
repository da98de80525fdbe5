/**
 * WAL archiving against a real PostgreSQL 15 cluster: archive_command runs `barman put-wal
 * --file %p`, `barman archive-wal` moves the files into the archive (gzip), and `get-wal`
 * serves them back byte for byte. Strangers, garbage and duplicates are rejected to errors/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('WAL archiving with a real PostgreSQL 15', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let stranger: PostgresServer;
  let dir: string;
  let home: string;
  let reference: string;
  let config: string;

  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const incoming = () => join(home, 'main/incoming');
  const errors = () => (existsSync(join(home, 'main/errors')) ? readdirSync(join(home, 'main/errors')) : []);

  /** Writes a little, switches WAL, and waits until archive_command has delivered the segment. */
  async function makeSegment(): Promise<string> {
    await pg.query('insert into t select generate_series(1, 1000)');
    const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    const delivered = () =>
      existsSync(join(incoming(), row!.name)) ||
      existsSync(join(home, 'main/wals', row!.name.slice(0, 16), row!.name));
    await waitFor(`${row!.name} delivered by archive_command`, delivered, { timeoutMs: 30_000 });
    return row!.name;
  }

  before(async () => {
    dir = await makeTempDir('wal-archive', { owner: 'postgres' });
    home = join(dir, 'home');
    reference = join(dir, 'reference');
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', compression: 'gzip' },
      servers: {
        main: {
          description: '"archive test"',
          conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
          backup_method: 'local-rsync',
          archiver: 'on',
        },
      },
    });
    for (const sub of ['home', 'reference']) await chownTo(join(dir, sub), 'postgres').catch(() => undefined);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(reference, { recursive: true });
    mkdirSync(home, { recursive: true });
    await chownTo(reference, 'postgres');
    await chownTo(home, 'postgres');
    // A reference copy of every segment, then the durable copy into barman-ts's incoming/.
    pg = await startPostgres({
      version: 15,
      archiveCommand: `cp %p ${reference}/%f && ${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    stranger = await startPostgres({ version: 15 });
    await pg.query('create table t (id int)');
  });

  after(async () => {
    await pg?.stop();
    await stranger?.stop();
  });

  it('archives delivered segments with gzip, records them in xlog.db and learns the cluster identity', async () => {
    const first = await makeSegment();
    const second = await makeSegment();
    assert.ok(
      existsSync(join(incoming(), second)),
      `put-wal delivered ${second} into incoming/: ${readdirSync(incoming()).join(' ')} (first ${first}) ${readFileSync(pg.logFile, 'utf8').slice(-3000)}`,
    );
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^Processing xlog segments from file archival for main\n/);
    assert.match(run.stdout, new RegExp(`\\t${first}\\n`));
    const stored = join(home, 'main/wals', first.slice(0, 16), first);
    assert.deepEqual([...readFileSync(stored).subarray(0, 3)], [0x1f, 0x8b, 0x08], 'stored gzip-compressed');
    assert.ok(!existsSync(join(incoming(), first)), 'the source is gone once archived');

    const lines = readFileSync(join(home, 'main/wals/xlog.db'), 'utf8').trim().split('\n');
    const line = lines.find((entry) => entry.startsWith(`${first}\t`))!.split('\t');
    assert.equal(line.length, 4);
    assert.equal(Number(line[1]), readFileSync(stored).length);
    assert.match(line[2]!, /^\d+\.\d+$/);
    assert.equal(line[3], 'gzip');

    const [system] = await pg.query<{ id: string }>(
      'select system_identifier::text as id from pg_control_system()',
    );
    const identity = JSON.parse(readFileSync(join(home, 'main/identity.json'), 'utf8')) as {
      systemid: string;
      version: string;
    };
    assert.deepEqual(identity, { systemid: system!.id, version: '15' });
  });

  it('get-wal sends back exactly the archived segment, decompressed, or to a directory', async () => {
    const name = await makeSegment();
    assert.equal((await barman('-q', 'archive-wal', 'main')).exitCode, 0);
    const run = await runBarman(['-c', config, 'get-wal', 'main', name], { encoding: 'buffer' } as never);
    assert.equal(run.exitCode, 0, run.stderr);
    const original = readFileSync(join(reference, name));
    const out = join(dir, 'restore');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(out, { recursive: true });
    await chownTo(out, 'postgres');
    const toDir = await barman('get-wal', 'main', name, '-o', out);
    assert.equal(toDir.exitCode, 0, toDir.stderr);
    assert.equal(sha(readFileSync(join(out, name))), sha(original));
    const peek = await barman('get-wal', 'main', name, '--peek', '3');
    assert.equal(peek.stdout.split('\n')[0], name);
  });

  it('get-wal: exit 3 for a bad name, 1 and a clear message when missing, --test', async () => {
    const bad = await barman('get-wal', 'main', 'notawal');
    assert.equal(bad.exitCode, 3);
    assert.equal(bad.stderr, "ERROR: 'notawal' is not a valid wal file name\n");
    const missing = await barman('get-wal', 'main', '0000000100000000000000FF');
    assert.equal(missing.exitCode, 1);
    assert.equal(missing.stderr, "ERROR: WAL file '0000000100000000000000FF' not found in server 'main'\n");
    const test = await barman('get-wal', '--test', 'main', 'x');
    assert.equal(test.stdout, 'Ready to retrieve WAL files from the server main\n');
  });

  it("rejects another cluster's WAL, garbage and a different duplicate into errors/, keeping everything", async () => {
    const ours = await makeSegment();
    assert.equal((await barman('-q', 'archive-wal', 'main')).exitCode, 0);
    // A segment of another cluster, under a name this archive does not have yet.
    await stranger.query('create table s as select generate_series(1, 1000) as id');
    const [foreign] = await stranger.query<{ name: string }>(
      'select pg_walfile_name(pg_current_wal_lsn()) as name',
    );
    const foreignBytes = readFileSync(join(stranger.dataDir, 'pg_wal', foreign!.name));
    writeFileSync(join(incoming(), '0000000100000000000000F0'), retarget(foreignBytes, 0xf0));
    // Not a WAL at all, a WAL-like name that is too short, a temp file being written.
    writeFileSync(join(incoming(), 'notes.txt'), 'hello');
    writeFileSync(join(incoming(), '0000000100000000000000F1'), 'garbage');
    writeFileSync(join(incoming(), '.0000000100000000000000F2.tmp'), 'in progress');
    // Same name as an archived segment, valid header, one byte different.
    const tampered = Buffer.from(readFileSync(join(reference, ours)));
    tampered[100_000] = (tampered[100_000]! + 1) % 256;
    writeFileSync(join(incoming(), ours), tampered);
    for (const name of readdirSync(incoming())) await chownTo(join(incoming(), name), 'postgres');

    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 1, `rejections are errors: ${run.stdout}`);
    assert.match(run.stderr, /0000000100000000000000F0 rejected: belongs to another cluster/);
    assert.match(run.stderr, /0000000100000000000000F1 rejected: not a WAL segment/);
    assert.match(run.stderr, /WARNING: Some unknown objects .*\n.*notes\.txt/);
    assert.match(
      run.stderr,
      new RegExp(`Error: ${ours} is already present in server main\\. File moved to errors directory\\.`),
    );
    const rejected = errors();
    assert.ok(rejected.some((name) => /^0000000100000000000000F0\.\d{8}T\d{6}Z\.error$/.test(name)));
    assert.ok(rejected.some((name) => /^notes\.txt\.\d{8}T\d{6}Z\.unknown$/.test(name)));
    assert.ok(rejected.some((name) => new RegExp(`^${ours}\\.\\d{8}T\\d{6}Z\\.duplicate$`).test(name)));
    assert.ok(existsSync(join(incoming(), '.0000000100000000000000F2.tmp')), 'temp files are left alone');
    // The archived copy of `ours` is untouched.
    const got = await barman('get-wal', 'main', ours, '-o', join(dir, 'restore'));
    assert.equal(got.exitCode, 0);
    assert.equal(sha(readFileSync(join(dir, 'restore', ours))), sha(readFileSync(join(reference, ours))));
  });

  it('drops an identical duplicate silently and completes a missing xlog.db line', async () => {
    const name = await makeSegment();
    assert.equal((await barman('-q', 'archive-wal', 'main')).exitCode, 0);
    // As if archive-wal was killed after the rename but before its xlog.db line and source removal.
    const xlogDb = join(home, 'main/wals/xlog.db');
    const without = readFileSync(xlogDb, 'utf8')
      .split('\n')
      .filter((line) => !line.startsWith(`${name}\t`))
      .join('\n');
    writeFileSync(xlogDb, without);
    writeFileSync(join(incoming(), name), readFileSync(join(reference, name)));
    await chownTo(join(incoming(), name), 'postgres');
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(!existsSync(join(incoming(), name)));
    assert.equal(
      readFileSync(xlogDb, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith(`${name}\t`)).length,
      1,
    );
  });

  it('rebuild-xlogdb regenerates the same catalogue from the archive', async () => {
    const xlogDb = join(home, 'main/wals/xlog.db');
    const before = readFileSync(xlogDb, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('\t').slice(0, 2).join('\t') + '\t' + line.split('\t')[3])
      .sort();
    const run = await barman('rebuild-xlogdb', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stdout,
      /^Rebuilding xlogdb for server main\nDone rebuilding xlogdb for server main \(history: 0, backup_labels: 0, wal_file: \d+\)\n$/,
    );
    const rebuilt = readFileSync(xlogDb, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('\t').slice(0, 2).join('\t') + '\t' + line.split('\t')[3])
      .sort();
    assert.deepEqual(rebuilt, before);
  });
});

/** Renames a WAL segment's content to segment `segment` of log 0, timeline 1 (page address). */
function retarget(segment: Buffer, segmentNumber: number): Buffer {
  const copy = Buffer.from(segment);
  copy.writeBigUInt64LE(BigInt(segmentNumber) * 16n * 1024n * 1024n, 8);
  return copy;
}
