/**
 * A backup taken while PostgreSQL is busy is restorable, for each backup method: pgbench writes
 * (its tables in a tablespace) and a separate loop commits an increasing counter during the
 * backup; the backup plus its WAL is restored up to the backup's end LSN, and PostgreSQL shows
 * a consistent state there: every counter value committed before that LSN, none after it, no
 * gap, and pgbench's invariant sum(abalance) = sum(tbalance) = sum(bbalance) = sum(delta).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { IniSection, PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  makeTempDir,
  registerExitCleanup,
  restoreAndStart,
  runAs,
  runBarman,
  startPostgres,
  startSshd,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const SCALE = 4;
const SERVERS = { 'local-rsync': 'local', rsync: 'remote', postgres: 'streamed' } as const;

/** A committed counter value and WAL insert positions taken just before and after its commit. */
interface Tick {
  id: number;
  before: bigint;
  after: bigint;
}

function lsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** pgbench and the counter loop (from the next counter value), until stop(). */
async function startLoad(server: PostgresServer) {
  const pgbench: ChildProcess = spawn(
    PGBENCH,
    [
      ...['-h', server.host, '-p', String(server.port), '-U', 'postgres'],
      ...['-n', '-c', '2', '-j', '1', '-T', '600', 'postgres'],
    ],
    { env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const unregister = registerExitCleanup(() => pgbench.kill('SIGKILL'));
  let pgbenchErrors = '';
  pgbench.stderr!.on('data', (chunk: Buffer) => (pgbenchErrors += chunk.toString()));
  const pgbenchExited = new Promise<void>((resolve) => pgbench.once('exit', () => resolve()));

  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: 'postgres',
    database: 'postgres',
  });
  await client.connect();
  const [last] = (await client.query<{ id: string | null }>('SELECT max(id) AS id FROM ticks')).rows;
  const ticks: Tick[] = [];
  let running = true;
  const ticking = (async () => {
    for (let id = Number(last!.id ?? 0) + 1; running; id += 1) {
      const inserted = await client.query<{ lsn: string }>(
        'INSERT INTO ticks VALUES ($1) RETURNING pg_current_wal_insert_lsn()::text AS lsn',
        [id],
      );
      const committed = await client.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      ticks.push({ id, before: lsn(inserted.rows[0]!.lsn), after: lsn(committed.rows[0]!.lsn) });
    }
  })();
  const tickingOutcome = ticking.then(
    () => null,
    (error: unknown) =>
      error instanceof Error ? error : new Error('the counter loop failed', { cause: error }),
  );
  return {
    async stop(): Promise<Tick[]> {
      running = false;
      const failure = await tickingOutcome;
      await client.end();
      pgbench.kill('SIGINT');
      await pgbenchExited;
      unregister();
      if (failure) throw failure;
      assert.doesNotMatch(pgbenchErrors, /FATAL|could not|aborted in command/, pgbenchErrors);
      return ticks;
    },
  };
}

describe('backups while pgbench writes restore to a consistent state', { concurrency: 1 }, () => {
  let source: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  const restored: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 120_000 });

  before(async () => {
    dir = await makeTempDir('backup-load', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    mkdirSync(join(dir, 'home'));
    mkdirSync(join(dir, 'tbs'));
    await chownTo(join(dir, 'home'), 'postgres');
    await chownTo(join(dir, 'tbs'), 'postgres');
    sshd = await startSshd({ users: ['postgres'] });
    // Every segment goes to the three servers' archives (one catalogue each).
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    source = await startPostgres({
      version: 15,
      archiveCommand: Object.values(SERVERS).map(putWal).join(' && '),
      settings: { max_wal_size: '256MB' },
    });
    const common: IniSection = {
      conninfo: source.conninfo,
      parallel_jobs: 2,
      immediate_checkpoint: true,
      archiver: true,
    };
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: { barman_user: 'postgres' },
      servers: {
        [SERVERS['local-rsync']]: { ...common, backup_method: 'local-rsync' },
        [SERVERS.rsync]: {
          ...common,
          backup_method: 'rsync',
          ssh_command: sshd.sshCommand('postgres', 'postgres'),
        },
        [SERVERS.postgres]: {
          ...common,
          backup_method: 'postgres',
          path_prefix: '/usr/lib/postgresql/15/bin',
        },
      },
    });
    await source.query(`CREATE TABLESPACE load LOCATION '${dir}/tbs'`);
    await source.query('CREATE TABLE ticks (id bigint PRIMARY KEY)');
    await runAs(
      null,
      PGBENCH,
      [
        ...['-h', source.host, '-p', String(source.port), '-U', 'postgres'],
        ...['-i', '-q', '-s', String(SCALE)],
        // Tables in the tablespace, indexes in PGDATA: both copies are written to during the backup.
        '--tablespace=load',
        'postgres',
      ],
      { timeoutMs: 60_000 },
    );
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await source?.stop();
    await sshd?.stop();
  });

  for (const [method, server] of Object.entries(SERVERS)) {
    it(`${method}: the backup and its WAL, restored to its end LSN, are consistent`, async () => {
      const load = await startLoad(source);
      let ticks: Tick[];
      let run;
      try {
        await sleep(500); // the load is under way before the backup starts
        run = await barman('-q', 'backup', '--wait', server);
        await sleep(300);
      } finally {
        ticks = await load.stop();
      }
      assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
      const id = readdirSync(join(dir, 'home', server, 'base')).at(-1)!;
      const backupDirectory = join(dir, 'home', server, 'base', id);
      const info = readFileSync(join(backupDirectory, 'backup.info'), 'utf8');
      assert.match(info, /^status=DONE$/m);
      const begin = lsn(/^begin_xlog=(.*)$/m.exec(info)![1]!);
      const end = lsn(/^end_xlog=(.*)$/m.exec(info)![1]!);
      const endText = /^end_xlog=(.*)$/m.exec(info)![1]!;
      const during = ticks.filter((tick) => tick.before > begin && tick.after < end).length;
      assert.ok(during >= 5, `the counter kept committing during the backup (${during} commits)`);
      // Recovery needs the WAL just past the end: close the current segment and archive it.
      const switched = await barman('switch-wal', '--force', '--archive', '--archive-timeout', '60', server);
      assert.equal(switched.exitCode, 0, switched.stderr);

      const copy = await restoreAndStart({
        backupDirectory,
        config,
        server,
        settings: { recovery_target_lsn: endText, recovery_target_action: 'pause' },
      });
      restored.push(copy);
      await waitFor(
        `the restored ${method} backup to reach its end LSN ${endText}`,
        async () =>
          (await copy.query<{ state: string }>('SELECT pg_get_wal_replay_pause_state() AS state'))[0]!
            .state === 'paused',
        { timeoutMs: 60_000, intervalMs: 200 },
      );

      const [counter] = await copy.query<{ n: string; low: string | null; high: string | null }>(
        'SELECT count(*) AS n, min(id) AS low, max(id) AS high FROM ticks',
      );
      const high = Number(counter!.high);
      assert.equal(Number(counter!.low), 1, 'the counter starts at 1');
      assert.equal(Number(counter!.n), high, 'no counter value is missing below the highest one');
      const mustHave = ticks.filter((tick) => tick.after <= end).at(-1)!.id;
      const mustNotHave = ticks.find((tick) => tick.before > end)?.id ?? Infinity;
      assert.ok(high >= mustHave, `every value committed before the end is there (${high} >= ${mustHave})`);
      assert.ok(high < mustNotHave, `nothing committed after the end is there (${high} < ${mustNotHave})`);

      const [sums] = await copy.query<Record<'accounts' | 'tellers' | 'branches' | 'history', string>>(
        `SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts,
                (SELECT sum(tbalance) FROM pgbench_tellers)::text AS tellers,
                (SELECT sum(bbalance) FROM pgbench_branches)::text AS branches,
                (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history`,
      );
      assert.deepEqual(
        { ...sums },
        { accounts: sums!.history, tellers: sums!.history, branches: sums!.history, history: sums!.history },
        'pgbench balances add up to its history',
      );
      const [history] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM pgbench_history');
      assert.ok(Number(history!.n) > 0, 'pgbench committed transactions before the end');
      const [accounts] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM pgbench_accounts');
      assert.equal(Number(accounts!.n), SCALE * 100_000);
      await copy.stop();
    });
  }
});
