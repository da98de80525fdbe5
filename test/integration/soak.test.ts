/**
 * The kill -9 / concurrency soak. PostgreSQL 15 archives every segment into two servers'
 * archives with `put-wal --file` (the shell around it logs what PostgreSQL saw acknowledged)
 * while pgbench and a counter loop write. For SOAK_SECONDS (default 300) barman-ts commands run
 * concurrently at seeded random moments — cron, archive-wal, backup (local-rsync on one server,
 * postgres method with WAL streaming on the other), delete, switch-wal, rebuild-xlogdb, list-backup
 * — and random ones are killed with SIGKILL mid-work, as are archive_command's put-wal processes
 * and cron's receive-wal. SOAK_SEED replays a run; every step goes to the event log, whose tail
 * comes with a failure (SOAK_LOG=path keeps all of it).
 *
 * Then the load stops, archiving catches up, each server takes one more backup, and the soak
 * checks that nothing acknowledged was lost, that xlog.db is exactly what rebuild-xlogdb makes
 * from the archive, that no temp file, orphan process, crash or unexpected error is left, that a
 * backup killed before its copy finished is FAILED and never DONE, and that every DONE backup
 * recovers — PostgreSQL started on it — to the final state of the database.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  EventLog,
  findProcesses,
  makeTempDir,
  runAs,
  runBarman,
  SeededRandom,
  startPostgres,
  startRecoveredCopy,
  switchWalAndWaitArchived,
  writeBarmanConfig,
} from '../harness/index.js';
import { readDatabaseState, startDatabaseLoad } from './soak/load.js';
import { Chaos } from './soak/chaos.js';
import { archiveProblems, backupStatuses, homeProblems, xlogDbLines } from './soak/archive.js';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PG_BIN = '/usr/lib/postgresql/15/bin';
/** One server per backup method; the postgres one streams its WAL too. */
const SERVERS = ['soak_local', 'soak_pg'] as const;

describe(`kill -9 / concurrency soak (${SOAK_SECONDS} s, seed ${SEED})`, { concurrency: 1 }, () => {
  let dir: string;
  let home: string;
  let config: string;
  let source: PostgresServer;
  let events: EventLog;
  const recovered: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });

  before(async () => {
    dir = await makeTempDir('soak', { owner: 'postgres' });
    home = join(dir, 'home');
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'log', 'recovered']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    events = new EventLog(process.env.SOAK_LOG ?? join(dir, 'events.log'));
    events.add(`seed ${SEED}, ${SOAK_SECONDS} s (replay with SOAK_SEED=${SEED})`);
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    source = await startPostgres({
      version: 15,
      // 1 MiB segments: many more archive_command runs to kill, and recoveries that fit the time.
      initdbArgs: ['--wal-segsize=1'],
      archiveCommand: `${SERVERS.map(putWal).join(' && ')} && echo %f >> ${dir}/acked.log`,
      settings: { max_wal_size: '64MB', min_wal_size: '16MB' },
    });
    const common: IniSection = {
      conninfo: source.conninfo,
      immediate_checkpoint: true,
      archiver: true,
      minimum_redundancy: 1,
      path_prefix: PG_BIN,
    };
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: { barman_user: 'postgres', barman_home: home, log_level: 'INFO' },
      servers: {
        soak_local: {
          description: '"local-rsync under the soak"',
          ...common,
          backup_method: 'local-rsync',
          reuse_backup: 'link',
          parallel_jobs: 2,
          compression: 'gzip',
          retention_policy: 'REDUNDANCY 2',
        },
        soak_pg: {
          description: '"postgres method and WAL streaming under the soak"',
          ...common,
          backup_method: 'postgres',
          streaming_conninfo: source.conninfo,
          streaming_archiver: true,
          slot_name: 'barman_soak',
          create_slot: 'auto',
          retention_policy: 'REDUNDANCY 3',
        },
      },
    });
    await source.query('CREATE TABLE soak_ticks (id bigint PRIMARY KEY)');
    await source.query('CREATE TABLE soak_marker (note text)');
    // The slot first, as an operator would: backups check it.
    const slot = await barman('receive-wal', '--create-slot', 'soak_pg');
    assert.equal(slot.exitCode, 0, slot.stderr);
    await runAs('postgres', join(PG_BIN, 'pgbench'), [
      ...['-h', source.host, '-p', String(source.port), '-U', 'postgres', '-i', '-q', '-s', '1', 'postgres'],
    ]);
  });

  after(async () => {
    for (const server of recovered) await server.stop();
    if (config) await barman('receive-wal', '--stop', 'soak_pg').catch(() => undefined);
    await source?.stop();
  });

  it('loses nothing, keeps xlog.db exact, and every DONE backup recovers', async (t) => {
    try {
      await soak(t);
    } catch (error) {
      // Something outside barman-ts (another test's clean-up signalling a reused pid, say) once
      // stopped this cluster mid-run: say so, rather than let it pass for a barman-ts failure.
      const requests = readFileSync(source.logFile, 'utf8').match(
        /^.*(received \w+ shutdown request|server process .* was terminated by signal).*$/gm,
      );
      if (!requests) throw error;
      throw new Error(
        `${(error as Error).message}\n--- PostgreSQL was told to stop during the soak, not by barman-ts: ---\n${requests.join('\n')}`,
        { cause: error },
      );
    }
  });

  async function soak(t: TestContext): Promise<void> {
    const random = new SeededRandom(SEED);
    const load = await startDatabaseLoad(source, PG_BIN);
    const chaos = new Chaos({ random, events, config, home, servers: SERVERS });
    try {
      await chaos.run(SOAK_SECONDS * 1000);
    } finally {
      await chaos.settle();
      await load.stop();
    }
    await source.query("INSERT INTO soak_marker VALUES ('end')");
    const state = await readDatabaseState(source);
    events.add(`load stopped: ${JSON.stringify(state)}`);
    t.diagnostic(chaos.summary());

    const failWith = (message: string) =>
      assert.fail(`${message}\n--- soak events (tail; seed ${SEED}) ---\n${events.tail()}`);
    const expectOk = async (...args: string[]) => {
      const run = await barman(...args);
      const known = chaos.anomalies.length;
      chaos.checkOutput(run, `final ${args.join(' ')}`);
      if (chaos.anomalies.length > known) failWith(chaos.anomalies.slice(known).join('\n'));
      return run;
    };

    // --- catch up: the last segment archived, every queue drained, one more backup each.
    events.add(`final switch: ${await switchWalAndWaitArchived(source, 300_000)} archived by PostgreSQL`);
    await expectOk('cron');
    for (const server of SERVERS) await expectOk('backup', '--wait', server);
    events.add(`final backups done; last switch ${await switchWalAndWaitArchived(source, 300_000)}`);
    await expectOk('cron');
    await expectOk('receive-wal', '--stop', 'soak_pg');
    for (const server of SERVERS) await expectOk('archive-wal', server);

    // --- no crash in any output, no unexpected failure, no process left behind.
    const problems = [...chaos.anomalies];
    const serverLog = readFileSync(source.logFile, 'utf8');
    for (const line of serverLog.split('\n')) {
      // PostgreSQL's own lines start with a timestamp; the rest is put-wal's stderr, or the
      // shell's word for a put-wal the soak killed.
      if (line !== '' && line !== 'Killed' && !/^\d{4}-\d\d-\d\d /.test(line))
        problems.push(`archive_command said: ${line}`);
    }
    const barmanLog = readFileSync(join(dir, 'log', 'barman.log'), 'utf8');
    for (const line of barmanLog.split('\n')) {
      if (/internal error|"stack"/.test(line)) problems.push(`barman.log: ${line.slice(0, 400)}`);
    }
    for (const program of ['pg_basebackup', 'pg_receivewal', BARMAN_BIN]) {
      for (const process of findProcesses(program).filter((found) => found.argv.join(' ').includes(dir)))
        problems.push(`still running: pid ${process.pid} ${process.argv.join(' ')}`);
    }

    const acked = readFileSync(join(dir, 'acked.log'), 'utf8').split('\n').filter(Boolean);
    for (const server of SERVERS) {
      const serverDir = join(home, server);
      // --- backups: a backup killed before its copy finished is never DONE; nothing is left STARTED.
      const statuses = backupStatuses(serverDir);
      for (const [id, status] of statuses) {
        if (status !== 'DONE' && status !== 'FAILED') problems.push(`${server} ${id} is ${status}`);
      }
      for (const id of chaos.killedMidCopy(server)) {
        if (statuses.get(id) === 'DONE') problems.push(`${server} ${id} was killed mid-copy but is DONE`);
      }
      // --- WAL: every acknowledged file is archived, unless a deletion removed it legitimately.
      const done = [...statuses].filter(([, status]) => status === 'DONE').map(([id]) => id);
      const beginWals = done.map((id) => backupInfoField(serverDir, id, 'begin_wal')).sort();
      const cutoff = beginWals[0]!;
      const before = xlogDbLines(serverDir);
      const catalogued = new Set(before.map((line) => line.split('\t')[0]!));
      for (const name of acked) {
        const removable = !name.endsWith('.history') && name.slice(0, 24) < cutoff.slice(0, 24);
        if (!catalogued.has(name) && !removable)
          problems.push(`${server}: ${name} was acknowledged to PostgreSQL but is not in xlog.db`);
      }
      problems.push(...archiveProblems(serverDir).map((problem) => `${server}: ${problem}`));
      // --- xlog.db is what a rebuild from the archive gives (Barman appends in archival order).
      await expectOk('rebuild-xlogdb', server);
      const rebuilt = xlogDbLines(serverDir);
      const missing = rebuilt.filter((line) => !before.includes(line));
      const extra = before.filter((line) => !rebuilt.includes(line));
      if (missing.length + extra.length > 0 || before.length !== rebuilt.length) {
        problems.push(
          `${server}: xlog.db differs from rebuild-xlogdb: not in xlog.db ${JSON.stringify(missing.slice(0, 10))}, ` +
            `only in xlog.db ${JSON.stringify(extra.slice(0, 10))} (${before.length} vs ${rebuilt.length} lines)`,
        );
      }
      events.add(
        `${server}: ${done.length} DONE of ${statuses.size} backups, ${before.length} xlog.db lines`,
      );
    }
    problems.push(...homeProblems(home));
    if (problems.length > 0) failWith(`${problems.length} problem(s):\n${problems.join('\n')}`);

    // --- every DONE backup recovers to the end of the archive: the final state of the database.
    const toRecover = SERVERS.flatMap((server) =>
      [...backupStatuses(join(home, server))].filter(([, s]) => s === 'DONE').map(([id]) => ({ server, id })),
    );
    const recoverOne = async ({ server, id }: { server: string; id: string }) => {
      const destination = join(dir, 'recovered', `${server}-${id}`);
      await expectOk('recover', server, id, destination);
      const copy = await startRecoveredCopy(destination, { timeoutMs: 300_000 });
      recovered.push(copy);
      const copyState = await readDatabaseState(copy);
      events.add(`${server} ${id} recovered: ${JSON.stringify(copyState)}`);
      assert.deepEqual(copyState, state, `${server} ${id} recovers to the final state of the database`);
      await copy.stop();
      rmSync(destination, { recursive: true, force: true });
    };
    // Two at a time: each is mostly I/O and waiting for PostgreSQL.
    const lanes = [toRecover.filter((_, i) => i % 2 === 0), toRecover.filter((_, i) => i % 2 === 1)];
    const outcomes = await Promise.allSettled(
      lanes.map(async (lane) => {
        for (const backup of lane) await recoverOne(backup);
      }),
    );
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
  }

  /** One key of a backup.info (the file was read by backupStatuses just before). */
  function backupInfoField(serverDir: string, id: string, key: string): string {
    const text = readFileSync(join(serverDir, 'base', id, 'backup.info'), 'utf8');
    const value = new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`${id}: no ${key} in backup.info`);
    return value;
  }
});
