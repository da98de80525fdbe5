/**
 * archive-wal into an s3:// wals_directory (barman-cloud's layout) for a `backup_method =
 * postgres` server, with s3rver and PostgreSQL 15: WAL from archive_command (put-wal into
 * incoming/) and from receive-wal (pg_receivewal into streaming/) stored compressed and
 * verified, a re-run after a kill (stored copy, source still waiting) and a different file under
 * an archived name, then get-wal, rebuild-xlogdb and check on that server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/index.js';
import { storageFor } from '../../src/storage/index.js';
import { WalArchive } from '../../src/wal/archive.js';
import type { PostgresServer, RunningBarman, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startBarman,
  startPostgres,
  startS3Server,
  storageTestConfig,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const BUCKET = 'cloudwal';
const SERVER = 'cloudpg';
const isSegment = (name: string) => /^[0-9A-F]{24}$/.test(name);

describe('archive-wal into an s3:// wals_directory (backup_method = postgres)', { concurrency: 1 }, () => {
  let s3: S3Server;
  let pg: PostgresServer;
  let dir: string;
  let home: string;
  let config: string;
  let archive: WalArchive;
  let receiver: RunningBarman | undefined;
  /** Content of every WAL file seen waiting in incoming/ or streaming/, by name. */
  const seen = new Map<string, Buffer>();

  const barman = (...args: string[]) =>
    runBarman(['-c', config, ...args], { user: 'postgres', env: { ...s3.env } });
  const incoming = () => join(home, SERVER, 'incoming');
  const streaming = () => join(home, SERVER, 'streaming');
  const errors = () => join(home, SERVER, 'errors');
  const listed = (directory: string) => (existsSync(directory) ? readdirSync(directory).sort() : []);

  async function switchWal(): Promise<void> {
    await pg.query('insert into t select generate_series(1, 1000)');
    await pg.query('select pg_switch_wal()');
  }

  /** The decompressed content of the one stored copy of `name`. */
  async function stored(name: string): Promise<{ path: string; content: Buffer }> {
    const found = await archive.find(name);
    assert.equal(found.length, 1, `one stored copy of ${name}: ${JSON.stringify(found)}`);
    const chunks: Buffer[] = [];
    for await (const chunk of await archive.open(found[0]!)) chunks.push(chunk as Buffer);
    return { path: found[0]!.path, content: Buffer.concat(chunks) };
  }

  function remember(directory: string): string[] {
    const names = listed(directory).filter(isSegment);
    for (const name of names) seen.set(name, readFileSync(join(directory, name)));
    return names;
  }

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    Object.assign(process.env, s3.env);
    dir = await makeTempDir('wal-archive-cloud', { owner: 'postgres' });
    home = join(dir, 'home');
    mkdirSync(home, { recursive: true });
    await chownTo(home, 'postgres');
    config = join(dir, 'barman.conf');
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal --file %p ${SERVER}`,
    });
    await pg.query('create table t (id int)');
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: {
        barman_user: 'postgres',
        barman_home: home,
        aws_endpoint_url: s3.endpoint,
        aws_region: 'us-east-1',
      },
      servers: {
        [SERVER]: {
          conninfo: pg.conninfo,
          streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=postgres`,
          backup_method: 'postgres',
          archiver: true,
          streaming_archiver: true,
          slot_name: 'barman',
          compression: 'gzip',
          wals_directory: `s3://${BUCKET}/pg/${SERVER}/wals`,
        },
      },
    });
    const location: Location = {
      kind: 's3',
      bucket: BUCKET,
      prefix: `pg/${SERVER}/wals`,
      url: `s3://${BUCKET}/pg/${SERVER}/wals`,
    };
    archive = new WalArchive(await storageFor(storageTestConfig(s3), location), 'barman-cloud', null);
  });

  after(async () => {
    if (receiver && receiver.child.exitCode === null) {
      await barman('receive-wal', '--stop', SERVER).catch(() => undefined);
      receiver.child.kill('SIGINT');
      await receiver.exited;
    }
    archive?.close();
    await pg?.stop();
    await s3?.stop();
  });

  it('archives the files put-wal delivered into incoming/: gzip objects, verified, sources removed', async () => {
    for (let round = 0; round < 3; round += 1) await switchWal();
    await waitFor(
      'three segments delivered by put-wal',
      () => listed(incoming()).filter(isSegment).length >= 3,
      {
        timeoutMs: 60_000,
      },
    );
    const names = remember(incoming());
    const run = await barman('archive-wal', SERVER);
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    for (const name of names) {
      assert.ok(!listed(incoming()).includes(name), `${name} left incoming/`);
      const copy = await stored(name);
      assert.equal(copy.path, `${name.slice(0, 16)}/${name}.gz`);
      assert.ok(copy.content.equals(seen.get(name)!), `${name}: stored content is the source's`);
    }
    assert.deepEqual(listed(errors()), []);
  });

  it('archives what receive-wal streamed into streaming/, keeping the newest file for pg_receivewal', async () => {
    // From now on only the streaming archiver delivers, so the two sources hold different segments.
    await pg.query(`alter system set archive_command = '/bin/true'`);
    await pg.query('select pg_reload_conf()');
    const create = await barman('receive-wal', '--create-slot', SERVER);
    assert.equal(create.exitCode, 0, create.stderr);
    receiver = startBarman(['-c', config, 'receive-wal', SERVER]);
    await waitFor(
      'pg_receivewal streaming',
      () => listed(streaming()).some((name) => name.endsWith('.partial')),
      {
        timeoutMs: 30_000,
      },
    );
    for (let round = 0; round < 2; round += 1) await switchWal();
    // Complete segments and the .partial pg_receivewal writes after them: a stable state to archive.
    await waitFor(
      'two complete segments streamed, then a .partial',
      () => {
        const files = listed(streaming());
        const segments = files.filter(isSegment);
        const partial = files.find((name) => name.endsWith('.partial'));
        return segments.length >= 2 && partial !== undefined && partial > segments.at(-1)!;
      },
      { timeoutMs: 60_000 },
    );
    const names = remember(streaming());
    const run = await barman('archive-wal', SERVER);
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    for (const name of names) {
      assert.ok(
        !listed(streaming()).includes(name),
        `${name} left streaming/: ${listed(streaming()).join(' ')} ${run.stdout}${run.stderr}`,
      );
      assert.ok(
        (await stored(name)).content.equals(seen.get(name)!),
        `${name}: stored content is the source's`,
      );
    }
    assert.ok(
      listed(streaming()).some((name) => name.endsWith('.partial')),
      'the .partial stays',
    );
  });

  it('after a kill, recognises a stored copy whose source still waits and only removes the source', async () => {
    const [name] = [...seen.keys()];
    const before = await stored(name!);
    writeFileSync(join(incoming(), name!), seen.get(name!)!, { mode: 0o600 });
    await chownTo(join(incoming(), name!), 'postgres');
    const run = await barman('archive-wal', SERVER);
    assert.equal(run.exitCode, 0, run.stderr + run.stdout);
    assert.ok(!listed(incoming()).includes(name!));
    assert.deepEqual(listed(errors()), []);
    const after = await stored(name!);
    assert.equal(after.path, before.path);
    assert.ok(after.content.equals(seen.get(name!)!));
  });

  it('moves a different file under an archived name to errors/ and keeps the stored copy', async () => {
    const [name] = [...seen.keys()];
    const different = Buffer.from(seen.get(name!)!);
    different[different.length - 1] = different[different.length - 1]! ^ 0xff;
    writeFileSync(join(incoming(), name!), different, { mode: 0o600 });
    await chownTo(join(incoming(), name!), 'postgres');
    const run = await barman('archive-wal', SERVER);
    assert.match(run.stdout + run.stderr, new RegExp(`${name} is already present in server ${SERVER}`));
    assert.ok(!listed(incoming()).includes(name!));
    const kept = listed(errors()).filter(
      (file) => file.startsWith(`${name}.`) && file.endsWith('.duplicate'),
    );
    assert.equal(kept.length, 1, listed(errors()).join(' '));
    assert.ok(readFileSync(join(errors(), kept[0]!)).equals(different));
    assert.ok((await stored(name!)).content.equals(seen.get(name!)!));
    // The operator looked at it: check's "archiver errors" counts what errors/ still holds.
    rmSync(join(errors(), kept[0]!));
  });

  it('get-wal returns an archived segment decompressed', async () => {
    const [name] = [...seen.keys()];
    const output = join(dir, 'restored');
    mkdirSync(output, { recursive: true });
    await chownTo(output, 'postgres');
    const run = await barman('get-wal', '--output-directory', output, SERVER, name!);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(readFileSync(join(output, name!)).equals(seen.get(name!)!));
  });

  it('rebuild-xlogdb counts the archive from its listing and writes nothing locally', async () => {
    const run = await barman('rebuild-xlogdb', SERVER);
    assert.equal(run.exitCode, 0, run.stderr);
    const count =
      /Done rebuilding xlogdb for server cloudpg \(history: \d+, backup_labels: \d+, wal_file: (\d+)\)/.exec(
        run.stdout + run.stderr,
      );
    assert.ok(count, run.stdout + run.stderr);
    assert.ok(Number(count[1]) >= seen.size, `${count[1]} WAL files listed, ${seen.size} archived`);
    assert.ok(!existsSync(join(home, SERVER, 'wals')), 'no local wals/ directory');
  });

  it('check reports the WAL archive lines OK', async () => {
    const run = await barman('check', SERVER);
    const lines = run.stdout.split('\n').filter((line) => /^\s+\S.*: (OK|FAILED)/.test(line));
    const archiveLines = lines.filter((line) =>
      /WAL archive|archiver errors|receive-wal|pg_receivewal|replication slot|archive_mode|archive_command|wal_level|continuous archiving|cloud/i.test(
        line,
      ),
    );
    assert.ok(archiveLines.length >= 3, run.stdout);
    for (const line of archiveLines) assert.match(line, /: OK/, run.stdout);
  });

  it('switch-wal --archive waits until the closed segment is in the bucket', async () => {
    await pg.query('insert into t select generate_series(1, 1000)');
    const run = await barman('switch-wal', '--archive', '--archive-timeout', '60', SERVER);
    const output = run.stdout + run.stderr;
    assert.equal(run.exitCode, 0, output);
    const closed = /The WAL file ([0-9A-F]{24}) has been closed/.exec(output)?.[1];
    assert.ok(closed, output);
    assert.match(output, new RegExp(`Waiting for the WAL file ${closed}`));
    assert.equal((await archive.find(closed)).length, 1, `${closed} is in the bucket`);
  });

  it('a backup to the local basebackups_directory completes with its WAL in the bucket', async () => {
    const run = await barman('backup', '--wait', '--wait-timeout', '120', SERVER);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const list = await barman('-f', 'json', 'list-backup', SERVER);
    assert.equal(list.exitCode, 0, list.stderr);
    const backups = (JSON.parse(list.stdout) as Record<string, Array<{ backup_id: string; status: string }>>)[
      SERVER
    ]!;
    assert.equal(backups.length, 1, list.stdout);
    assert.equal(backups[0]!.status, 'DONE', list.stdout);
    const info = readFileSync(join(home, SERVER, 'base', backups[0]!.backup_id, 'backup.info'), 'utf8');
    const endWal = /^end_wal=([0-9A-F]{24})$/m.exec(info)?.[1];
    assert.ok(endWal, info);
    assert.equal((await archive.find(endWal)).length, 1, `its last WAL file ${endWal} is in the bucket`);
    assert.ok(existsSync(join(home, SERVER, 'base')), 'the backup is local');
    assert.ok(!existsSync(join(home, SERVER, 'wals')), 'no local wals/ directory');
  });
});
