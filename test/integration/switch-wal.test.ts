/**
 * switch-wal against real PostgreSQL 15 (primary and streaming standby) and 17 servers: the closed
 * WAL file, "no switch required" on an idle server, --force (CHECKPOINT first), --archive waiting
 * until archive-wal (in-process) has the file, the timeout when it never arrives, standbys,
 * missing privileges and an unreachable server.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  freePort,
  makeTempDir,
  registerExitCleanup,
  runAs,
  runBarman,
  startPostgres,
  terminateProcessSync,
  writeBarmanConfig,
} from '../harness/index.js';

describe('switch-wal', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let pg17: PostgresServer;
  let dir: string;
  let home: string;
  let config: string;
  let standbyData: string;
  let stopStandby: (() => Promise<void>) | undefined;

  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const walName = /0{7}1[0-9A-F]{16}/;

  before(async () => {
    dir = await makeTempDir('switch-wal', { owner: 'postgres' });
    home = join(dir, 'home');
    config = join(dir, 'barman.conf');
    mkdirSync(home);
    await chownTo(home, 'postgres');
    [pg, pg17] = await Promise.all([
      startPostgres({
        version: 15,
        archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
      }),
      startPostgres({ version: 17 }),
    ]);
    await pg.query('CREATE ROLE monitor LOGIN');
    await pg.query('CREATE TABLE t (id int)');
    const standbyPort = await startStandby();
    const standbyConninfo = `host=127.0.0.1 port=${standbyPort} user=postgres dbname=postgres`;
    const server = (conninfo: string, more: IniSection = {}) => ({
      conninfo,
      ...more,
      backup_method: 'postgres',
      archiver: 'on',
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        main: server(pg.conninfo),
        pg17: server(pg17.conninfo),
        standby: server(standbyConninfo),
        'standby-primary': server(standbyConninfo, { primary_conninfo: pg.conninfo }),
        'standby-stranger': server(standbyConninfo, { primary_conninfo: pg17.conninfo }),
        lowpriv: server(`host=127.0.0.1 port=${pg.port} user=monitor dbname=postgres`),
        down: server('host=127.0.0.1 port=1 user=postgres dbname=postgres'),
        off: { active: false, ...server(pg.conninfo) },
      },
    });
  });

  after(async () => {
    await stopStandby?.();
    await Promise.all([pg?.stop(), pg17?.stop()]);
  });

  /** A streaming standby of `pg` (pg_basebackup -R), started on its own port. */
  async function startStandby(): Promise<number> {
    const base = await makeTempDir('standby', { owner: 'postgres' });
    standbyData = join(base, 'data');
    const port = await freePort();
    const connection = ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres'];
    await runAs('postgres', join(pg.binDir, 'pg_basebackup'), [
      ...connection,
      '-D',
      standbyData,
      '-R',
      '-X',
      'stream',
    ]);
    appendFileSync(join(standbyData, 'postgresql.conf'), `\nport = ${port}\narchive_command = '/bin/true'\n`);
    const postmasterPid = () => {
      try {
        return Number(readFileSync(join(standbyData, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
      } catch {
        return null;
      }
    };
    const unregister = registerExitCleanup(() => {
      const pid = postmasterPid();
      if (pid) terminateProcessSync(pid, 'SIGQUIT');
    });
    stopStandby = async () => {
      await runAs('postgres', join(pg.binDir, 'pg_ctl'), [
        '-D',
        standbyData,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]).catch(() => undefined);
      unregister();
    };
    await runAs('postgres', join(pg.binDir, 'pg_ctl'), [
      '-D',
      standbyData,
      '-l',
      join(base, 'standby.log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    return port;
  }

  it('closes the current WAL file, then finds nothing to switch on an idle server', async () => {
    await pg.query('INSERT INTO t SELECT generate_series(1, 100)');
    const [row] = await pg.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS f');
    const run = await barman('switch-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, `The WAL file ${row!.f} has been closed on server 'main'\n`);
    const idle = await barman('switch-wal', 'main');
    assert.equal(idle.exitCode, 0, idle.stderr);
    assert.equal(idle.stdout, "No switch required for server 'main'\n");
  });

  it('--force --archive: CHECKPOINT, switch, and wait until archive-wal has the file', async () => {
    const run = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const closed = walName.exec(run.stdout)?.[0];
    assert.ok(closed, run.stdout);
    const out = run.stdout.trimEnd().split('\n');
    assert.equal(out[0], `The WAL file ${closed} has been closed on server 'main'`);
    assert.equal(out[1], `Waiting for the WAL file ${closed} from server 'main' (max: 30 seconds)`);
    assert.ok(out.includes('Processing xlog segments from file archival for main'), run.stdout);
    assert.ok(out.includes(`\t${closed}`), run.stdout);
    assert.ok(existsSync(join(home, 'main/wals', closed.slice(0, 16), closed)));
    assert.match(readFileSync(join(home, 'main/wals/xlog.db'), 'utf8'), new RegExp(`^${closed}\\t`, 'm'));
  });

  it('--archive gives up after --archive-timeout when the file never arrives (PostgreSQL 17)', async () => {
    // pg17's archive_command is /bin/true: nothing ever reaches incoming/.
    await pg17.query('CREATE TABLE IF NOT EXISTS t (id int); INSERT INTO t VALUES (1)');
    const started = Date.now();
    const run = await barman('switch-wal', '--archive', '--archive-timeout', '2', 'pg17');
    const elapsed = Date.now() - started;
    assert.equal(run.exitCode, 1);
    const closed = walName.exec(run.stdout)?.[0];
    assert.ok(closed, run.stdout);
    assert.equal(
      run.stdout,
      `The WAL file ${closed} has been closed on server 'pg17'\n` +
        `Waiting for the WAL file ${closed} from server 'pg17' (max: 2 seconds)\n`,
    );
    assert.equal(run.stderr, `ERROR: The WAL file ${closed} has not been received in 2 seconds\n`);
    assert.ok(elapsed >= 2000 && elapsed < 10_000, `took ${elapsed} ms`);
  });

  it('a standby is not switched; --archive then waits for any new WAL file', async () => {
    const run = await barman('switch-wal', 'standby');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, "No switch performed because server 'standby' is a standby.\n");
    const wait = await barman('switch-wal', '--archive', '--archive-timeout', '1', 'standby');
    assert.equal(wait.exitCode, 0, wait.stderr);
    assert.equal(
      wait.stdout,
      "No switch performed because server 'standby' is a standby.\n" +
        "Waiting for a WAL file from server 'standby' to be archived (max: 1 seconds)\n" +
        'A WAL file has not been received in 1 seconds\n',
    );
  });

  it('a standby with primary_conninfo: the switch happens on the primary', async () => {
    await pg.query('INSERT INTO t VALUES (3)');
    const run = await barman('switch-wal', 'standby-primary');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stdout,
      /^The WAL file 0{7}1[0-9A-F]{16} has been closed on server 'standby-primary'\n$/,
    );
  });

  it('check on a standby with primary_conninfo: standby, primary and system identifier', async () => {
    const run = await barman('check', 'standby-primary', 'standby-stranger');
    const out = run.stdout.trimEnd().split('\n');
    const second = out.indexOf('Server standby-stranger:');
    const first = out.slice(0, second);
    assert.ok(first.includes('\tPostgreSQL server is standby: OK'), run.stdout);
    assert.ok(first.includes('\tPrimary server is not a standby: OK'), run.stdout);
    assert.ok(first.includes('\tPrimary and standby have same system ID: OK'), run.stdout);
    assert.ok(
      out
        .slice(second)
        .includes(
          '\tPrimary and standby have same system ID: FAILED (primary_conninfo and conninfo should point to primary and standby servers which share the same system identifier)',
        ),
      run.stdout,
    );
  });

  it('missing privileges and an unreachable server are errors', async () => {
    const force = await barman('switch-wal', '--force', 'lowpriv');
    assert.equal(force.exitCode, 1);
    assert.equal(force.stderr, 'ERROR: Barman switch-wal requires superuser rights\n');
    const plain = await barman('switch-wal', 'lowpriv');
    assert.equal(plain.exitCode, 1);
    assert.match(plain.stderr, /^ERROR: Postgres user 'monitor' is missing required privileges/);
    const down = await barman('switch-wal', '--archive', 'down');
    assert.equal(down.exitCode, 1);
    assert.match(down.stderr, /^ERROR: Unable to perform pg_switch_wal for server 'down': .*ECONNREFUSED/);
    assert.equal(down.stdout, '', 'no waiting after a failed switch');
  });

  it('the switch-xlog alias, several servers, inactive ones skipped, JSON', async () => {
    await pg.query('INSERT INTO t VALUES (1)');
    const run = await barman('switch-xlog', 'main', 'off', 'standby');
    assert.equal(run.exitCode, 0, run.stderr);
    const out = run.stdout.trimEnd().split('\n');
    assert.equal(out[0], "Skipping inactive server 'off'");
    assert.match(out[1]!, /^The WAL file 0{7}1[0-9A-F]{16} has been closed on server 'main'$/);
    assert.equal(out[2], "No switch performed because server 'standby' is a standby.");

    await pg.query('INSERT INTO t VALUES (2)');
    const json = await runBarman(['-c', config, '-f', 'json', 'switch-wal', 'main']);
    assert.equal(json.exitCode, 0, json.stderr);
    // Barman 3.4's document: the messages only, under _INFO.
    const data = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data), ['_INFO']);
    assert.match(
      (data._INFO as string[])[0]!,
      /^The WAL file 0{7}1[0-9A-F]{16} has been closed on server 'main'$/,
    );
    assert.equal(json.stderr, '');
  });
});
