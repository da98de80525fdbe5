// Proves the PostgreSQL part of the test rig: a Debian PG15 cluster that archives WAL through
// its archive_command, embedded PG17, PG14, PG16 and PG18 clusters, and that stop() really shuts them down.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  canConnect,
  isRoot,
  lookupOsUser,
  makeTempDir,
  startPostgres,
  waitFor,
  type PostgresServer,
} from '../harness/index.js';

const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

describe('rig: PostgreSQL 15 (Debian binaries)', () => {
  let server: PostgresServer;
  let incoming: string;

  before(
    async () => {
      incoming = await makeTempDir('incoming', { owner: 'postgres' });
      // Barman's recipe: atomic (dot-temp + rename), readable by barman, never overwrite.
      const tmp = `${incoming}/.%f.tmp`;
      server = await startPostgres({
        version: 15,
        archiveCommand: `test ! -f ${incoming}/%f && cp %p ${tmp} && chmod 0644 ${tmp} && mv ${tmp} ${incoming}/%f`,
      });
    },
    { timeout: 60_000 },
  );
  after(() => server?.stop());

  it('runs PostgreSQL 15', { timeout: 10_000 }, async () => {
    const [row] = await server.query<{ version: string }>('select version()');
    assert.match(row?.version ?? '', /^PostgreSQL 15\./);
  });

  it('round-trips rows through a table', { timeout: 10_000 }, async () => {
    await server.query('create table rig_check (id int primary key, label text)');
    await server.query('insert into rig_check values ($1, $2), ($3, $4)', [1, 'one', 2, 'two']);
    const rows = await server.query('select id, label from rig_check order by id');
    assert.deepEqual(rows, [
      { id: 1, label: 'one' },
      { id: 2, label: 'two' },
    ]);
  });

  it('answers psql', { timeout: 10_000 }, async () => {
    assert.equal((await server.psql(['-Atc', 'select current_user'])).trim(), 'postgres');
  });

  it('archives a switched WAL segment into the incoming dir', { timeout: 60_000 }, async () => {
    // WAL must have been written since the last switch, or pg_switch_wal() does nothing.
    await server.query('create table rig_wal_marker (id int)');
    const [row] = await server.query<{ walfile: string }>(
      'select pg_walfile_name(pg_switch_wal()) as walfile',
    );
    const segment = join(incoming, row?.walfile ?? '');
    await waitFor(`${segment} to be archived`, () => existsSync(segment), { timeoutMs: 30_000 });
    const archived = await stat(segment);
    assert.equal(archived.size, WAL_SEGMENT_SIZE);
    assert.equal(archived.mode & 0o777, 0o644);
  });

  it('stops and frees its port', { timeout: 60_000 }, async () => {
    await server.stop();
    assert.equal(await canConnect(server.port), false);
    assert.equal(existsSync(server.dataDir), false);
  });
});

describe('rig: PostgreSQL 17 (embedded binaries)', () => {
  let server: PostgresServer;

  before(
    async () => {
      server = await startPostgres({ version: 17 });
    },
    { timeout: 60_000 },
  );
  after(() => server?.stop());

  it('runs PostgreSQL 17 with the rig settings', { timeout: 10_000 }, async () => {
    const [row] = await server.query<{ server_version: string }>('show server_version');
    assert.match(row?.server_version ?? '', /^17\./);
    const [walLevel] = await server.query<{ wal_level: string }>('show wal_level');
    assert.equal(walLevel?.wal_level, 'replica');
  });

  it('runs as the postgres OS user (the suite runs as root)', { timeout: 10_000 }, async () => {
    assert.ok(isRoot(), 'the integration tests run as root');
    assert.equal(server.osUser, 'postgres');
    const postmasterPid = (await readFile(join(server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
    const postmaster = await stat(`/proc/${postmasterPid}`);
    assert.equal(postmaster.uid, (await lookupOsUser('postgres')).uid);
  });

  it('stops and frees its port', { timeout: 60_000 }, async () => {
    await server.stop();
    assert.equal(await canConnect(server.port), false);
    assert.equal(existsSync(server.dataDir), false);
  });
});

// 14 for servers before 15 (exclusive backups); 16 and 18 for the version matrix.
for (const version of [14, 16, 18] as const) {
  describe(`rig: PostgreSQL ${version} (embedded binaries)`, () => {
    let server: PostgresServer;

    before(
      async () => {
        server = await startPostgres({ version });
      },
      { timeout: 60_000 },
    );
    after(() => server?.stop());

    it(
      `runs PostgreSQL ${version} with the rig settings, as the postgres OS user`,
      { timeout: 10_000 },
      async () => {
        const [row] = await server.query<{ server_version: string }>('show server_version');
        assert.match(row?.server_version ?? '', new RegExp(`^${version}\\.`));
        const [walLevel] = await server.query<{ wal_level: string }>('show wal_level');
        assert.equal(walLevel?.wal_level, 'replica');
        assert.equal(server.osUser, 'postgres');
        await server.stop();
        assert.equal(await canConnect(server.port), false);
      },
    );
  });
}

describe('rig: PostgreSQL start failure', () => {
  it('puts the tail of the server log in the error', { timeout: 60_000 }, async () => {
    const start = startPostgres({ version: 15, settings: { shared_buffers: 'plenty' } });
    await assert.rejects(start, /did not start[^]*invalid value for parameter "shared_buffers"/);
  });
});
