/**
 * The WAL archive is shared with Debian's Barman 3.4 in both directions: WAL files archived
 * and compressed by barman-ts (gzip, bzip2) and the xlog.db it writes are read by Barman
 * (`get-wal`, `rebuild-xlogdb`), and files archived by Barman are served by barman-ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  makeTempDir,
  requireDebianPackages,
  runBarman,
  runCompletely,
  startPostgres,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface XlogLine {
  name: string;
  size: number;
  mtime: number;
  compression: string;
}

const parseXlog = (text: string): XlogLine[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [name, size, mtime, compression] = line.split('\t');
      return { name: name!, size: Number(size), mtime: Number(mtime), compression: compression! };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));

describe('WAL archive interoperability with Barman 3.4', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const segments: string[] = [];

  const barmanTs = (...args: string[]) => runBarman(['-c', config, ...args]);
  const barman34 = (...args: string[]) => runCompletely(null, '/usr/bin/barman', ['-c', config, ...args]);
  const incoming = (server: string) => join(dir, 'home', server, 'incoming');

  before(async () => {
    requireDebianPackages('barman');
    dir = await makeTempDir('interop');
    const source = join(dir, 'source');
    mkdirSync(source, { recursive: true });
    chmodSync(source, 0o777); // archive_command runs as postgres
    config = join(dir, 'barman.conf');
    const servers = [
      ['ts_gzip', 'gzip'],
      ['ts_bzip2', 'bzip2'],
      ['b34_gzip', 'gzip'],
      ['b34_bzip2', 'bzip2'],
    ];
    writeBarmanConfig({
      dir,
      global: { barman_user: 'root', log_file: `${dir}/barman.log` },
      servers: Object.fromEntries(
        servers.map(([name, compression]) => [
          name!,
          {
            conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
            ssh_command: 'ssh postgres@127.0.0.1',
            archiver: 'on',
            compression: compression!,
          },
        ]),
      ),
    });
    pg = await startPostgres({ version: 15, archiveCommand: `cp %p ${source}/%f` });
    await pg.query('create table t (id int)');
    for (let i = 0; i < 3; i += 1) {
      await pg.query('insert into t select generate_series(1, 5000)');
      const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
      segments.push(row!.name);
      await waitFor(`${row!.name} archived`, () => {
        try {
          return readFileSync(join(source, row!.name)).length === 16 * 1024 * 1024;
        } catch {
          return false;
        }
      });
    }
    for (const [server] of servers) {
      mkdirSync(incoming(server!), { recursive: true });
      for (const name of segments) copyFileSync(join(source, name), join(incoming(server!), name));
    }
  });

  after(async () => {
    await pg?.stop();
  });

  it('archives the same segments with barman-ts and with Barman 3.4', async () => {
    for (const server of ['ts_gzip', 'ts_bzip2']) {
      const run = await barmanTs('archive-wal', server);
      assert.equal(run.exitCode, 0, run.stderr);
    }
    for (const server of ['b34_gzip', 'b34_bzip2']) {
      const run = await barman34('archive-wal', server);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(run.stdout, new RegExp(segments[0]!));
    }
  });

  it('Barman 3.4 get-wal serves the WAL files barman-ts compressed', async () => {
    for (const server of ['ts_gzip', 'ts_bzip2']) {
      for (const name of segments) {
        const out = join(dir, `b34-${server}`);
        mkdirSync(out, { recursive: true });
        const run = await barman34('get-wal', server, name, '-o', out);
        assert.equal(run.exitCode, 0, run.stderr);
        assert.equal(
          sha(readFileSync(join(out, name))),
          sha(readFileSync(join(dir, 'source', name))),
          `${server} ${name}`,
        );
      }
    }
  });

  it('barman-ts get-wal serves the WAL files Barman 3.4 compressed', async () => {
    for (const server of ['b34_gzip', 'b34_bzip2']) {
      for (const name of segments) {
        const out = join(dir, `ts-${server}`);
        mkdirSync(out, { recursive: true });
        const run = await barmanTs('get-wal', server, name, '-o', out);
        assert.equal(run.exitCode, 0, run.stderr);
        assert.equal(
          sha(readFileSync(join(out, name))),
          sha(readFileSync(join(dir, 'source', name))),
          `${server} ${name}`,
        );
      }
    }
  });

  it("xlog.db lines match Barman's, and Barman's rebuild-xlogdb of a barman-ts archive gives the same lines", async () => {
    for (const [ours, theirs] of [
      ['ts_gzip', 'b34_gzip'],
      ['ts_bzip2', 'b34_bzip2'],
    ] as const) {
      const ourLines = parseXlog(readFileSync(join(dir, 'home', ours, 'wals/xlog.db'), 'utf8'));
      const theirLines = parseXlog(readFileSync(join(dir, 'home', theirs, 'wals/xlog.db'), 'utf8'));
      assert.deepEqual(
        ourLines.map(({ name, compression }) => ({ name, compression })),
        theirLines.map(({ name, compression }) => ({ name, compression })),
      );
      const rebuild = await barman34('rebuild-xlogdb', ours);
      assert.equal(rebuild.exitCode, 0, rebuild.stderr);
      const rebuilt = parseXlog(readFileSync(join(dir, 'home', ours, 'wals/xlog.db'), 'utf8'));
      assert.equal(rebuilt.length, ourLines.length);
      rebuilt.forEach((line, index) => {
        const mine = ourLines[index]!;
        assert.equal(line.name, mine.name);
        assert.equal(line.size, mine.size);
        assert.equal(line.compression, mine.compression);
        assert.ok(
          Math.abs(line.mtime - mine.mtime) < 1e-5,
          `${line.name}: mtime ${line.mtime} vs ${mine.mtime}`,
        );
      });
      const ourRebuild = await barmanTs('rebuild-xlogdb', theirs);
      assert.equal(ourRebuild.exitCode, 0, ourRebuild.stderr);
      assert.deepEqual(
        parseXlog(readFileSync(join(dir, 'home', theirs, 'wals/xlog.db'), 'utf8')).map(
          ({ name, size, compression }) => ({ name, size, compression }),
        ),
        theirLines.map(({ name, size, compression }) => ({ name, size, compression })),
      );
    }
  });
});
