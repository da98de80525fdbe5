/**
 * Process control against a real PostgreSQL 15 (Barman 3.14's list-processes and
 * terminate-process, Barman 3.10's lock-directory-cleanup): a real `barman receive-wal` and a
 * real bandwidth-limited `barman backup` listed through the lock files they hold (text and
 * -f json), stopped by terminate-process (pg_receivewal gone with its parent, the backup FAILED
 * and the next one DONE), terminate-process on a task that has already ended, a lock file whose
 * pid is not its holder's (nothing signalled), and the clean-up keeping held locks while
 * removing stale ones, on demand and from cron.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, RunningBarman } from '../harness/index.js';
import {
  BARMAN_BIN,
  createDir,
  isProcessAlive,
  isRoot,
  lookupOsUser,
  makeTempDir,
  processesMentioning,
  readBackupInfoFields,
  registerExitCleanup,
  runBarman,
  startBarman,
  startPostgres,
  terminateProcess,
  terminateProcessSync,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** Total size of the regular files under `directory` (0 while it does not exist). */
function treeSize(directory: string): number {
  let size = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      try {
        if (entry.isDirectory()) walk(child);
        else if (entry.isFile()) size += statSync(child).size;
      } catch {
        // removed meanwhile
      }
    }
  };
  if (existsSync(directory)) walk(directory);
  return size;
}

/** The parent pid of a live process, or null. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

describe(
  'process control: list-processes, terminate-process, lock-directory-cleanup',
  {
    concurrency: 1,
    skip: !isRoot() && 'needs root (barman_user postgres)',
  },
  () => {
    let pg: PostgresServer;
    let dir: string;
    let home: string;
    let config: string;
    const strays: ChildProcess[] = [];
    let unregisterCleanup: (() => void) | undefined;
    const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 120_000 });
    const lockOf = (server: string, task: string) => join(home, `.${server}-${task}.lock`);
    const baseOf = (server: string) => join(home, server, 'base');
    const backupIds = (server: string) =>
      existsSync(baseOf(server)) ? readdirSync(baseOf(server)).sort() : [];

    const writeConfig = (file: string, extraGlobal: Record<string, string> = {}, bandwidth?: number) =>
      writeBarmanConfig({
        dir,
        file,
        mode: 0o644,
        global: { barman_user: 'postgres', barman_home: home, ...extraGlobal },
        servers: {
          stream: {
            conninfo: pg.conninfo,
            streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=postgres`,
            backup_method: 'postgres',
            streaming_archiver: 'on',
            slot_name: 'process_control',
            create_slot: 'auto',
          },
          main: {
            conninfo: pg.conninfo,
            backup_method: 'postgres',
            archiver: 'on',
            immediate_checkpoint: 'true',
            path_prefix: PG15_BIN,
            ...(bandwidth ? { bandwidth_limit: String(bandwidth) } : {}),
          },
        },
      });

    /** `barman receive-wal stream` in the background; resolves with the pid in its lock file. */
    async function startReceiver(): Promise<{ run: RunningBarman; pid: number }> {
      const run = startBarman(['-c', config, 'receive-wal', 'stream']);
      strays.push(run.child);
      let pid = 0;
      await waitFor(
        'receive-wal streaming',
        async () => {
          if (run.child.exitCode !== null)
            throw new Error(`receive-wal exited: ${(await run.exited).stderr}`);
          const [slot] = await pg.query<{ active: boolean }>(
            "select active from pg_replication_slots where slot_name = 'process_control'",
          );
          pid = Number.parseInt(
            existsSync(lockOf('stream', 'receive-wal'))
              ? readFileSync(lockOf('stream', 'receive-wal'), 'utf8')
              : '',
            10,
          );
          return slot?.active === true && pid > 0;
        },
        { timeoutMs: 30_000 },
      );
      return { run, pid };
    }

    /** `sleep 600` as an unrelated process whose pid a forged lock file can name. */
    function unrelatedProcess(): ChildProcess {
      const child = spawn('sleep', ['600'], { stdio: 'ignore' });
      strays.push(child);
      return child;
    }

    before(async () => {
      dir = await makeTempDir('process-control', { owner: 'postgres' });
      unregisterCleanup = registerExitCleanup(() => {
        for (const pid of processesMentioning(dir)) terminateProcessSync(pid, 'SIGKILL', 1_000);
      });
      home = await createDir(join(dir, 'home'), { owner: 'postgres' });
      config = join(dir, 'barman.conf');
      pg = await startPostgres({
        version: 15,
        archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
      });
      writeConfig('barman.conf');
      // About 60 MB of table: a copy limited to 4 MB/s takes long enough to be stopped mid-way.
      await pg.query(
        'create table filler as select g as id, md5(g::text) as pad from generate_series(1, 800000) g',
      );
    });

    after(async () => {
      try {
        for (const child of strays)
          if (child.exitCode === null && child.pid) await terminateProcess(child.pid, 'SIGKILL', 3_000);
        for (const pid of dir ? processesMentioning(dir) : []) await terminateProcess(pid, 'SIGKILL', 3_000);
      } finally {
        unregisterCleanup?.();
        await pg?.stop();
      }
    });

    it("no process: Barman's line, and an empty list in JSON", async () => {
      const text = await barman('list-processes', 'stream');
      assert.equal(text.exitCode, 0, text.stderr);
      assert.equal(text.stdout, 'No active subprocesses found for server stream.\n');
      const json = await barman('-f', 'json', 'list-processes', 'stream');
      assert.deepEqual(JSON.parse(json.stdout), { stream: [] });
    });

    it('receive-wal: listed with the pid of its lock file, stopped with pg_receivewal, then already ended', async () => {
      const { run, pid } = await startReceiver();
      // Barman's lock-file format: the holder's pid and a newline.
      assert.equal(readFileSync(lockOf('stream', 'receive-wal'), 'utf8'), `${pid}\n`);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /receive-wal\0stream/);
      const receivers = processesMentioning('pg_receivewal').filter((child) => parentOf(child) === pid);
      assert.equal(receivers.length, 1, 'pg_receivewal runs under receive-wal');

      const text = await barman('list-processes', 'stream');
      assert.equal(text.exitCode, 0, text.stderr);
      assert.equal(text.stdout, `Active subprocesses for server stream:\n${pid} receive-wal\n`);
      const json = await barman('-f', 'json', 'list-processes', 'stream');
      assert.deepEqual(JSON.parse(json.stdout), { stream: [{ pid, name: 'receive-wal' }] });
      const alias = await barman('list-process', 'stream');
      assert.equal(alias.stdout, text.stdout);
      // Another server's list does not show it.
      assert.equal(
        (await barman('list-processes', 'main')).stdout,
        'No active subprocesses found for server main.\n',
      );

      const stopped = await barman('terminate-process', 'stream', 'receive-wal');
      assert.equal(stopped.exitCode, 0, stopped.stderr);
      assert.equal(stopped.stdout, `Stopped process receive-wal(${pid})\n`);
      // Ended when the command returns: the process, its pg_receivewal, the slot's connection.
      assert.equal(isProcessAlive(pid), false);
      for (const child of receivers) assert.equal(isProcessAlive(child), false, 'pg_receivewal stopped too');
      const exited = await run.exited;
      assert.equal(exited.signal, null, 'receive-wal ended on its own after the signal');
      const [slot] = await pg.query<{ active: boolean }>(
        "select active from pg_replication_slots where slot_name = 'process_control'",
      );
      assert.equal(slot?.active, false);
      assert.equal(
        (await barman('list-processes', 'stream')).stdout,
        'No active subprocesses found for server stream.\n',
      );

      // The fault the issue names: the task has already ended (its lock file is still there).
      assert.ok(existsSync(lockOf('stream', 'receive-wal')));
      const again = await barman('terminate-process', 'stream', 'receive-wal');
      assert.equal(again.exitCode, 1);
      assert.equal(again.stdout, '');
      assert.equal(
        again.stderr,
        'ERROR: Termination of receive-wal failed: no such process for server stream\n',
      );
      const againJson = await barman('-f', 'json', 'terminate-process', 'stream', 'receive-wal');
      assert.equal(againJson.exitCode, 1);
      assert.deepEqual((JSON.parse(againJson.stdout) as { _ERROR?: string[] })._ERROR, [
        'Termination of receive-wal failed: no such process for server stream',
      ]);
    });

    it('a lock file naming a pid that does not hold it: nothing is signalled', async () => {
      // The pid left in a free lock file now belongs to an unrelated process (pid reuse).
      const bystander = unrelatedProcess();
      writeFileSync(lockOf('stream', 'receive-wal'), `${bystander.pid}\n`);
      assert.equal(
        (await barman('list-processes', 'stream')).stdout,
        'No active subprocesses found for server stream.\n',
      );
      const free = await barman('terminate-process', 'stream', 'receive-wal');
      assert.equal(free.exitCode, 1);
      assert.match(free.stderr, /no such process for server stream/);
      assert.ok(isProcessAlive(bystander.pid!), 'the unrelated process lives');

      // A held lock whose file names someone else than its holder (flock(1) writes no pid).
      const holder = spawn('flock', ['--no-fork', '-x', lockOf('stream', 'cron'), 'sleep', '600'], {
        stdio: 'ignore',
      });
      strays.push(holder);
      await waitFor('flock holding the cron lock', () =>
        readFileSync('/proc/locks', 'utf8').includes(` ${holder.pid} `),
      );
      writeFileSync(lockOf('stream', 'cron'), `${bystander.pid}\n`);
      const listed = await barman('-f', 'json', 'list-processes', 'stream');
      assert.deepEqual(JSON.parse(listed.stdout), { stream: [{ pid: bystander.pid, name: 'cron' }] });
      const refused = await barman('terminate-process', 'stream', 'cron');
      assert.equal(refused.exitCode, 1);
      assert.match(
        refused.stderr,
        new RegExp(
          `^ERROR: Cannot terminate process cron: its lock file .* names pid ${bystander.pid}, but pid ${holder.pid} holds it$`,
          'm',
        ),
      );
      assert.ok(isProcessAlive(bystander.pid!), 'the unrelated process was not signalled');
      assert.ok(isProcessAlive(holder.pid!), 'nor the holder');
      await terminateProcess(holder.pid!, 'SIGKILL', 3_000);
      await terminateProcess(bystander.pid!, 'SIGKILL', 3_000);
    });

    it('lock-directory-cleanup and cron remove the stale lock files and keep the held ones', async () => {
      const { run, pid } = await startReceiver();
      const stale = [
        '.stream-backup.lock',
        '.main-archive-wal.lock',
        '.main-20250101T000000.lock',
        '.gone-cron.lock',
      ];
      const postgresUser = await lookupOsUser('postgres');
      // Left by processes of barman_user that have ended (the pid is nobody's now).
      const plant = () => {
        for (const name of stale) {
          writeFileSync(join(home, name), '4242424\n', { mode: 0o600 });
          chownSync(join(home, name), postgresUser.uid, postgresUser.gid);
        }
      };
      const present = () => stale.filter((name) => existsSync(join(home, name)));

      plant();
      const cleaned = await barman('lock-directory-cleanup');
      assert.equal(cleaned.exitCode, 0, cleaned.stderr);
      assert.equal(cleaned.stdout, '');
      assert.deepEqual(present(), [], 'every stale lock file removed');
      assert.equal(readFileSync(lockOf('stream', 'receive-wal'), 'utf8'), `${pid}\n`, 'the held lock kept');
      assert.ok(isProcessAlive(pid));
      assert.equal(
        (await barman('list-processes', 'stream')).stdout,
        `Active subprocesses for server stream:\n${pid} receive-wal\n`,
      );

      // cron with lock_directory_cleanup off leaves them; on (the default) removes them.
      plant();
      const keeping = writeConfig('keep-locks.conf', { lock_directory_cleanup: 'off' });
      const kept = await runBarman(['-c', keeping, 'cron'], { timeoutMs: 120_000 });
      assert.equal(kept.exitCode, 0, kept.stderr);
      assert.deepEqual(present(), stale);
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.deepEqual(present(), []);
      assert.equal(readFileSync(lockOf('stream', 'receive-wal'), 'utf8'), `${pid}\n`);
      assert.ok(isProcessAlive(pid), 'cron left the running receive-wal alone');

      const stopped = await barman('terminate-process', 'stream', 'receive-wal');
      assert.equal(stopped.exitCode, 0, stopped.stderr);
      await run.exited;
    });

    it('a long backup: listed, terminated mid-copy with its pg_basebackup, and marked FAILED at once', async () => {
      const slow = writeConfig('slow.conf', {}, 4000);
      const known = new Set(backupIds('main'));
      const run = startBarman(['-c', slow, 'backup', 'main']);
      strays.push(run.child);
      let id = '';
      await waitFor(
        'the backup to be copying',
        () => {
          id = backupIds('main').find((other) => !known.has(other)) ?? '';
          const info = join(baseOf('main'), id, 'backup.info');
          if (!id || !existsSync(info) || readBackupInfoFields(info).status !== 'STARTED') return false;
          return treeSize(join(baseOf('main'), id, 'data')) > 5e6;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      const pid = Number.parseInt(readFileSync(lockOf('main', 'backup'), 'utf8'), 10);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /\0backup\0main/);
      const copiers = processesMentioning(join(baseOf('main'), id));
      assert.ok(copiers.length > 0, 'pg_basebackup copies into the backup');
      const listed = await barman('-f', 'json', 'list-processes', 'main');
      assert.deepEqual(JSON.parse(listed.stdout), { main: [{ pid, name: 'backup' }] });
      assert.equal(
        (await barman('list-processes', 'main')).stdout,
        `Active subprocesses for server main:\n${pid} backup\n`,
      );

      const stopped = await barman('terminate-process', 'main', 'backup');
      assert.equal(stopped.exitCode, 0, stopped.stderr);
      assert.equal(stopped.stdout, `Stopped process backup(${pid})\n`);
      // FAILED when terminate-process returns, not left STARTED until the next backup.
      assert.equal(readBackupInfoFields(join(baseOf('main'), id, 'backup.info')).status, 'FAILED');
      assert.match(stopped.stderr, new RegExp(`backup ${id} was interrupted .*marking it FAILED`));
      await run.exited;
      assert.equal(isProcessAlive(pid), false);
      for (const copier of copiers) assert.equal(isProcessAlive(copier), false, 'nothing copies any more');
      const sizeAfterStop = treeSize(join(baseOf('main'), id, 'data'));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(
        treeSize(join(baseOf('main'), id, 'data')),
        sizeAfterStop,
        'nothing written after the stop',
      );
      assert.equal(
        (await barman('list-processes', 'main')).stdout,
        'No active subprocesses found for server main.\n',
      );
      const already = await barman('terminate-process', 'main', 'backup');
      assert.equal(already.exitCode, 1);
      assert.equal(already.stderr, 'ERROR: Termination of backup failed: no such process for server main\n');

      // The next backup succeeds; the stopped one stays FAILED.
      const next = await barman('backup', '--wait', 'main');
      assert.equal(next.exitCode, 0, next.stderr);
      assert.equal(readBackupInfoFields(join(baseOf('main'), id, 'backup.info')).status, 'FAILED');
      const newest = backupIds('main').at(-1)!;
      assert.notEqual(newest, id);
      assert.equal(readBackupInfoFields(join(baseOf('main'), newest, 'backup.info')).status, 'DONE');
      const listing = await barman('list-backup', 'main');
      assert.match(listing.stdout, new RegExp(`^main ${id} - .*FAILED`, 'm'));
    });
  },
);
