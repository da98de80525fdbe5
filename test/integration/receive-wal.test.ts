/**
 * receive-wal against a real PostgreSQL 15: replication slots created and dropped over the
 * replication protocol, pg_receivewal streaming into streaming/ under the receive-wal lock,
 * archive-wal archiving what it streamed, --stop, --reset, and cron starting (once) and stopping
 * the streaming archiver. Every pg_receivewal and receive-wal started here is stopped in the
 * after hook, and killed by pid if that fails.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  freePort,
  isProcessAlive,
  lockPid,
  makeTempDir,
  processesMentioning,
  registerExitCleanup,
  runBarman,
  startPostgres,
  terminateProcess,
  terminateProcessSync,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('receive-wal with a real PostgreSQL 15', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let home: string;
  let config: string;
  let cronConfig: string;
  let background: ChildProcess | undefined;
  let backgroundExit: Promise<number | null> | undefined;
  let unregisterCleanup: (() => void) | undefined;

  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const cron = () => runBarman(['-c', cronConfig, 'cron']);
  const streaming = (server = 'pg') => join(home, server, 'streaming');
  const lockFile = (server: string) => join(home, `.${server}-receive-wal.lock`);
  const streamingFiles = (server = 'pg') =>
    existsSync(streaming(server)) ? readdirSync(streaming(server)).sort() : [];

  async function slot(name: string): Promise<{ active: boolean; restart_lsn: string | null } | null> {
    const rows = await pg.query<{ active: boolean; restart_lsn: string | null }>(
      'select active, restart_lsn::text from pg_replication_slots where slot_name = $1',
      [name],
    );
    return rows[0] ?? null;
  }

  /** Writes a little and closes the current WAL segment. */
  async function switchWal(): Promise<string> {
    await pg.query('insert into t select generate_series(1, 1000)');
    const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    return row!.name;
  }

  /** `barman receive-wal pg` in the background, as an operator (or cron) would leave it running. */
  async function startBackground(): Promise<number> {
    const child = spawn(process.execPath, [BARMAN_BIN, '-c', config, 'receive-wal', 'pg'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv({ BARMAN_CONFIG_FILE: undefined }),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    background = child;
    backgroundExit = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor(
      `receive-wal pg streaming (output so far: ${output})`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`receive-wal exited early (${child.exitCode}): ${output}`);
        return (await slot('barman'))?.active === true;
      },
      { timeoutMs: 20_000 },
    );
    return child.pid!;
  }

  /** Stops every receive-wal of the test: politely first, then by pid. */
  async function stopEverything(): Promise<void> {
    for (const [file, server] of [
      [config, 'pg'],
      [cronConfig, 'auto'],
    ] as const) {
      if (file && existsSync(file) && lockPid(lockFile(server)) !== null) {
        await runBarman(['-c', file, 'receive-wal', '--stop', server]).catch(() => undefined);
      }
    }
    for (const pid of dir ? processesMentioning(dir) : []) await terminateProcess(pid, 'SIGINT', 3_000);
  }

  before(async () => {
    dir = await makeTempDir('receive-wal', { owner: 'postgres' });
    unregisterCleanup = registerExitCleanup(() => {
      for (const pid of processesMentioning(dir)) terminateProcessSync(pid, 'SIGKILL', 1_000);
    });
    home = join(dir, 'home');
    mkdirSync(home, { recursive: true });
    await chownTo(home, 'postgres');
    pg = await startPostgres({ version: 15 });
    await pg.query('create table t (id int)');
    const deadPort = await freePort();
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres' },
      servers: {
        pg: {
          description: '"streaming"',
          conninfo: pg.conninfo,
          streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=postgres`,
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman',
        },
        inactive: {
          active: false,
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman_inactive',
        },
        down: {
          conninfo: `host=127.0.0.1 port=${deadPort} user=postgres dbname=postgres connect_timeout=5`,
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman_down',
        },
        oldtool: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: 'on',
          streaming_archiver: 'on',
          path_prefix: `${dir}/oldbin`,
        },
      },
    });
    // A pg_receivewal older than the server.
    mkdirSync(join(dir, 'oldbin'));
    writeFileSync(join(dir, 'oldbin/pg_receivewal'), '#!/bin/sh\necho "pg_receivewal (PostgreSQL) 14.1"\n', {
      mode: 0o755,
    });
    const writeCronConfig = (streamingOn: boolean) =>
      writeBarmanConfig({
        dir,
        file: 'cron.conf',
        mode: 0o644,
        global: { barman_user: 'postgres' },
        servers: {
          auto: {
            conninfo: pg.conninfo,
            backup_method: 'postgres',
            archiver: 'on',
            streaming_archiver: streamingOn ? 'on' : 'off',
            slot_name: 'auto',
            create_slot: 'auto',
          },
        },
      });
    cronConfig = writeCronConfig(true);
    setCronStreaming = (on) => void writeCronConfig(on);
  });
  let setCronStreaming: (on: boolean) => void = () => undefined;

  after(async () => {
    try {
      await stopEverything();
      if (background && backgroundExit && isProcessAlive(background.pid!)) {
        background.kill('SIGKILL');
        await backgroundExit;
      }
      assert.deepEqual(processesMentioning(dir), [], 'nothing started by the test is left running');
    } finally {
      unregisterCleanup?.();
      await pg?.stop();
    }
  });

  it('--create-slot creates the slot once, then refuses with exit 1', async () => {
    const first = await barman('receive-wal', '--create-slot', 'pg');
    assert.equal(first.exitCode, 0, first.stderr);
    assert.equal(
      first.stdout,
      "Creating physical replication slot 'barman' on server 'pg'\nReplication slot 'barman' created\n",
    );
    assert.deepEqual(await slot('barman'), { active: false, restart_lsn: null });

    const again = await barman('receive-wal', '--create-slot', 'pg');
    assert.equal(again.exitCode, 1);
    assert.equal(again.stdout, "Creating physical replication slot 'barman' on server 'pg'\n");
    assert.equal(again.stderr, "ERROR: Replication slot 'barman' already exists\n");

    const tolerant = await barman('receive-wal', '--create-slot', '--if-not-exists', 'pg');
    assert.equal(tolerant.exitCode, 0, tolerant.stderr);
    assert.match(tolerant.stdout, /Replication slot 'barman' already exists\n$/);
  });

  it('refuses to stream for an inactive server, but manages its slot', async () => {
    const run = await barman('receive-wal', 'inactive');
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /^ERROR: Inactive server: inactive\n/);

    const create = await barman('receive-wal', '--create-slot', 'inactive');
    assert.equal(create.exitCode, 0, create.stderr);
    assert.ok(await slot('barman_inactive'));
    const drop = await barman('receive-wal', '--drop-slot', 'inactive');
    assert.equal(drop.exitCode, 0, drop.stderr);
    assert.equal(
      drop.stdout,
      "Dropping physical replication slot 'barman_inactive' on server 'inactive'\nReplication slot 'barman_inactive' dropped\n",
    );
    assert.equal(await slot('barman_inactive'), null);

    const stop = await barman('receive-wal', '--stop', 'inactive');
    assert.equal(stop.exitCode, 1);
    assert.equal(
      stop.stderr,
      'ERROR: Termination of receive-wal failed: no such process for server inactive\n',
    );
  });

  it('fails with a clear error when PostgreSQL is unreachable', async () => {
    const started = Date.now();
    const run = await barman('receive-wal', 'down');
    assert.equal(run.exitCode, 1);
    assert.equal(run.stdout, 'Starting receive-wal for server down\n');
    assert.match(
      run.stderr,
      /^ERROR: failed opening the PostgreSQL streaming connection for server down: cannot open a replication connection \(host=127\.0\.0\.1 port=\d+ user=postgres dbname=postgres\): .*ECONNREFUSED/,
    );
    assert.match(run.stderr, /\nHINT: /);
    assert.ok(Date.now() - started < 15_000);

    const create = await barman('receive-wal', '--create-slot', 'down');
    assert.equal(create.exitCode, 1);
    assert.match(
      create.stderr,
      /^ERROR: Cannot connect to server 'down': cannot open a replication connection/,
    );
  });

  it('refuses a pg_receivewal older than the server', async () => {
    const run = await barman('receive-wal', 'oldtool');
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `^ERROR: pg_receivewal version not compatible with PostgreSQL server version: ${dir}/oldbin/pg_receivewal is 14\\.1, the server is 15\n`,
      ),
    );
  });

  it('streams into streaming/ under the lock; archive-wal archives the complete segments', async () => {
    const pid = await startBackground();
    assert.equal(lockPid(lockFile('pg')), pid, 'the lock file holds the receive-wal pid');
    const again = await barman('receive-wal', 'pg');
    assert.equal(again.exitCode, 1);
    assert.equal(again.stderr, 'ERROR: Another receive-wal process is already running for server pg.\n');
    const reset = await barman('receive-wal', '--reset', 'pg');
    assert.equal(reset.exitCode, 1);
    assert.match(
      reset.stderr,
      /Unable to reset the status of receive-wal for server pg\. Process is still running/,
    );

    const first = await switchWal();
    const second = await switchWal();
    await waitFor(
      `${first} and ${second} streamed (streaming/: ${streamingFiles().join(' ')})`,
      () => streamingFiles().includes(first) && streamingFiles().includes(second),
      { timeoutMs: 20_000 },
    );
    // The next segment gets its .partial file with its first WAL record.
    await pg.query('insert into t values (1)');
    await waitFor(
      `pg_receivewal to write a .partial file (streaming/: ${streamingFiles().join(' ')})`,
      () => streamingFiles().some((name) => name.endsWith('.partial')),
      { timeoutMs: 10_000 },
    );
    const log = readFileSync(join(dir, 'log/barman.log'), 'utf8');
    assert.match(log, /pg: pg_receivewal: starting log streaming at/, 'pg_receivewal output goes to the log');
    // The password-free connection string with the archiver's application_name.
    const [sender] = await pg.query<{ application_name: string }>(
      'select application_name from pg_stat_replication',
    );
    assert.equal(sender?.application_name, 'barman_receive_wal');

    const archive = await barman('archive-wal', 'pg');
    assert.equal(archive.exitCode, 0, archive.stderr);
    assert.match(archive.stdout, /^Processing xlog segments from streaming for pg\n/);
    for (const name of [first, second]) {
      assert.match(archive.stdout, new RegExp(`\\t${name}\\n`));
      assert.ok(existsSync(join(home, 'pg/wals', name.slice(0, 16), name)), `${name} archived`);
    }
    const left = streamingFiles();
    assert.equal(left.length, 1, `only the .partial stays in streaming/: ${left.join(' ')}`);
    assert.match(left[0]!, /^[0-9A-F]{24}\.partial$/);
    const xlogDb = readFileSync(join(home, 'pg/wals/xlog.db'), 'utf8');
    assert.match(xlogDb, new RegExp(`^${first}\\t`, 'm'));
    assert.match(xlogDb, new RegExp(`^${second}\\t`, 'm'));
  });

  it('--stop ends receive-wal and pg_receivewal; a second --stop fails', async () => {
    const pid = lockPid(lockFile('pg'))!;
    const receivers = processesMentioning(`--directory=${streaming()}`);
    assert.equal(receivers.length, 1, 'one pg_receivewal runs');
    const stop = await barman('receive-wal', '--stop', 'pg');
    assert.equal(stop.exitCode, 0, stop.stderr);
    assert.equal(stop.stdout, `Stopped process receive-wal(${pid})\n`);
    assert.equal(await backgroundExit, 0, 'receive-wal exits cleanly after SIGINT');
    assert.ok(!isProcessAlive(pid));
    await waitFor('pg_receivewal to end', () => !isProcessAlive(receivers[0]!), { timeoutMs: 5_000 });
    assert.equal((await slot('barman'))?.active, false);
    assert.match(
      readFileSync(join(dir, 'log/barman.log'), 'utf8'),
      /SIGINT received\. Terminate gracefully\./,
    );

    const again = await barman('receive-wal', '--stop', 'pg');
    assert.equal(again.exitCode, 1);
    assert.equal(again.stdout, '');
    assert.equal(again.stderr, 'ERROR: Termination of receive-wal failed: no such process for server pg\n');
  });

  it('--reset moves streaming to the slot position when streaming/ is behind it', async () => {
    const aligned = await barman('receive-wal', '--reset', 'pg');
    assert.equal(aligned.exitCode, 0, aligned.stderr);
    assert.equal(aligned.stdout, 'Nothing to do. Position of receive-wal is aligned.\n');

    // A slot recreated after the server moved on: streaming/ is behind what the server keeps.
    const [old] = streamingFiles();
    assert.equal((await barman('receive-wal', '--drop-slot', 'pg')).exitCode, 0);
    await switchWal();
    await switchWal();
    assert.equal((await barman('receive-wal', '--create-slot', 'pg')).exitCode, 0);
    // `+ 1`: at a segment boundary pg_walfile_name names the previous segment.
    const [current] = await pg.query<{ name: string }>(
      'select pg_walfile_name(pg_current_wal_lsn() + 1) as name',
    );

    const reset = await barman('receive-wal', '--reset', 'pg');
    assert.equal(reset.exitCode, 0, reset.stderr);
    const oldPath = join(streaming(), old!);
    const created = join(streaming(), `${current!.name}.partial`);
    assert.equal(
      reset.stdout,
      'Resetting receive-wal directory status\n' +
        `Keeping ${oldPath}: archive-wal will archive it as a partial WAL file\n` +
        `Creating status file ${created}\n`,
    );
    assert.match(reset.stderr, /^WARNING: WAL from [0-9A-F]{24} to [0-9A-F]{24} is skipped/);
    assert.equal(statSync(created).size, 0);

    // pg_receivewal resumes from the new position, and the old .partial gets archived.
    await startBackground();
    await pg.query('insert into t values (2)');
    await waitFor('the new .partial to be padded', () => statSync(created).size === 16 * 1024 * 1024, {
      timeoutMs: 10_000,
    });
    const archive = await barman('archive-wal', 'pg');
    assert.equal(archive.exitCode, 0, archive.stderr);
    assert.ok(existsSync(join(home, 'pg/wals', old!.slice(0, 16), old!)), `${old} archived as a .partial`);
    assert.deepEqual(streamingFiles(), [`${current!.name}.partial`]);
    // SIGTERM (a service manager's stop) ends it cleanly too.
    background!.kill('SIGTERM');
    assert.equal(await backgroundExit, 0);
    assert.match(
      readFileSync(join(dir, 'log/barman.log'), 'utf8'),
      /SIGTERM received\. Terminate gracefully\./,
    );
    assert.deepEqual(processesMentioning(`--directory=${streaming()}`), []);
  });

  it('--drop-slot drops the slot, then reports that it does not exist', async () => {
    const drop = await barman('receive-wal', '--drop-slot', 'pg');
    assert.equal(drop.exitCode, 0, drop.stderr);
    assert.equal(
      drop.stdout,
      "Dropping physical replication slot 'barman' on server 'pg'\nReplication slot 'barman' dropped\n",
    );
    assert.equal(await slot('barman'), null);
    const again = await barman('receive-wal', '--drop-slot', 'pg');
    assert.equal(again.exitCode, 1);
    assert.equal(again.stderr, "ERROR: Replication slot 'barman' does not exist\n");
  });

  it('cron starts one detached receive-wal (creating the slot), and stops it when streaming is turned off', async () => {
    const started = Date.now();
    const first = await cron();
    assert.equal(first.exitCode, 0, first.stderr);
    assert.ok(Date.now() - started < 15_000, 'cron does not wait for receive-wal');
    assert.match(first.stdout, /^Starting streaming archiver for server auto$/m);
    await waitFor(
      'the receive-wal started by cron to stream',
      async () => (await slot('auto'))?.active === true,
      {
        timeoutMs: 20_000,
      },
    );
    const pid = lockPid(lockFile('auto'))!;
    assert.ok(isProcessAlive(pid));
    assert.match(readFileSync(join(dir, 'log/barman.log'), 'utf8'), /Creating replication slot 'auto'/);

    const second = await cron();
    assert.equal(second.exitCode, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /Starting streaming archiver/);
    assert.equal(lockPid(lockFile('auto')), pid, 'the same receive-wal still runs');
    assert.equal(processesMentioning(`--directory=${streaming('auto')}`).length, 1, 'one pg_receivewal');

    setCronStreaming(false);
    const off = await cron();
    assert.equal(off.exitCode, 0, off.stderr);
    assert.match(off.stdout, new RegExp(`^Stopped process receive-wal\\(${pid}\\)$`, 'm'));
    await waitFor('receive-wal to end', () => !isProcessAlive(pid), { timeoutMs: 5_000 });
    assert.deepEqual(processesMentioning(`--directory=${streaming('auto')}`), []);
    await waitFor('the slot to be released', async () => (await slot('auto'))?.active === false);
    await pg.query('select pg_drop_replication_slot($1)', ['auto']);
  });
});
