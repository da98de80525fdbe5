/**
 * Secrets out of argv, and libpq's ways to give a password, against a PostgreSQL 15 that asks
 * for one (scram-sha-256 over TCP, replication included). For a password given by `password=`
 * in conninfo, by `passfile=` in conninfo and by PGPASSFILE: receive-wal streams, a postgres-
 * method backup completes and check connects, while every process's command line is read over
 * and over (/proc/PID/cmdline) and never holds the password; nor do barman's output, its log
 * or a warning. Then the refusals: no password, and a password file others can read.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CompletedRun, IniSection, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  ensureOsUser,
  isProcessAlive,
  makeTempDir,
  runBarman,
  startPostgres,
  terminateProcess,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

/**
 * Reads every process's command line every few milliseconds until stopped; returns the
 * command lines (secret masked) that contained `secret`.
 */
function watchCommandLines(secret: string): { stop(): Promise<string[]> } {
  const found = new Set<string>();
  let running = true;
  const scan = () => {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const line = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (line.includes(secret)) found.add(`${entry}: ${line.replaceAll(secret, '<PASSWORD>')}`);
      } catch {
        // gone meanwhile
      }
    }
  };
  const loop = (async () => {
    let scans = 0;
    while (running) {
      scan();
      scans += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(scans > 10, 'the command lines were read while the work ran');
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...found];
    },
  };
}

describe('passwords: never in argv, and given the ways libpq takes them', { concurrency: 1 }, () => {
  const password = `pw-${randomBytes(9).toString('hex')}`;
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let passfile: string;
  let envPassfile: string;
  let receiver: ChildProcess | undefined;

  const env = (server: string): Record<string, string | undefined> =>
    server === 'envfile' ? { PGPASSFILE: envPassfile } : { PGPASSFILE: undefined };
  const barman = (server: string, ...args: string[]) =>
    runBarman(['-c', config, ...args], { timeoutMs: 180_000, env: env(server) });

  /**
   * Nothing of the password, and no warning from Node (a deprecation), in what a run printed (a backup's
   * own WARNING about WAITING_FOR_WALS, which a loaded machine may give, is not one of those).
   */
  function assertClean(run: CompletedRun): void {
    const output = run.stdout + run.stderr;
    assert.ok(!output.includes(password), `the password is printed by ${run.display}`);
    assert.doesNotMatch(
      output,
      /\(node:\d+\)|DeprecationWarning|DEP0|deprecat|pgpass/i,
      `${run.display} printed a warning:\n${output}`,
    );
  }

  async function slotActive(slot: string): Promise<boolean> {
    const rows = await pg.query<{ active: boolean }>(
      'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    return rows[0]?.active === true;
  }

  before(async () => {
    const barmanUser = await ensureOsUser('barman');
    assert.ok(!existsSync(join(barmanUser.home, '.pgpass')), "barman's ~/.pgpass would blur the test");
    dir = await makeTempDir('passwords', { owner: 'barman' });
    config = join(dir, 'barman.conf');
    pg = await startPostgres({ version: 15, password });
    passfile = join(dir, 'password-file');
    envPassfile = join(dir, 'password-file-env');
    for (const file of [passfile, envPassfile]) {
      writeFileSync(
        file,
        `# host:port:database:user:password\n127.0.0.1:${pg.port}:*:postgres:${password}\n`,
      );
      chmodSync(file, 0o600);
      await chownTo(file, 'barman');
    }
    const base = `host=127.0.0.1 port=${pg.port} user=postgres dbname=postgres`;
    const server = (name: string, conninfo: string): IniSection => ({
      conninfo,
      streaming_conninfo: conninfo,
      backup_method: 'postgres',
      streaming_archiver: 'on',
      slot_name: name,
      create_slot: 'auto',
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'barman', path_prefix: PG15_BIN, immediate_checkpoint: 'on' },
      servers: {
        inline: server('inline', `${base} password=${password}`),
        passfile: server('passfile', `${base} passfile=${passfile}`),
        envfile: server('envfile', base),
      },
    });
    await pg.query('CREATE TABLE t (id int)');
  });

  after(async () => {
    if (receiver?.pid !== undefined && isProcessAlive(receiver.pid))
      await terminateProcess(receiver.pid, 'SIGINT', 5_000);
    await pg?.stop();
  });

  for (const server of ['inline', 'passfile', 'envfile']) {
    it(`${server}: receive-wal and a postgres-method backup authenticate, no password in any argv`, async () => {
      const watch = watchCommandLines(password);
      let output = '';
      try {
        receiver = spawn(process.execPath, [BARMAN_BIN, '-c', config, 'receive-wal', server], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: childEnv({ BARMAN_CONFIG_FILE: undefined, ...env(server) }),
        });
        receiver.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        receiver.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => receiver!.on('close', resolve));
        await waitFor(
          `receive-wal ${server} streaming (output: ${output})`,
          async () => {
            if (receiver!.exitCode !== null) throw new Error(`receive-wal exited: ${output}`);
            return slotActive(server);
          },
          { timeoutMs: 30_000 },
        );
        const backup = await barman(server, 'backup', server);
        assert.equal(backup.exitCode, 0, backup.stdout + backup.stderr);
        assertClean(backup);
        await pg.query('INSERT INTO t SELECT generate_series(1, 1000)');
        await pg.query('SELECT pg_switch_wal()');
        await waitFor(
          `a segment streamed for ${server}`,
          () =>
            readdirSync(join(dir, 'home', server, 'streaming')).some((name) => /^[0-9A-F]{24}$/.test(name)),
          { timeoutMs: 30_000 },
        );
        const stop = await barman(server, 'receive-wal', '--stop', server);
        assert.equal(stop.exitCode, 0, stop.stderr);
        assert.equal(await exited, 0, output);
        assert.ok(!output.includes(password), 'receive-wal printed the password');
        assert.doesNotMatch(output, /Warning|deprecat/i, output);
      } finally {
        const hits = await watch.stop();
        assert.deepEqual(hits, [], `the password is in a command line:\n${hits.join('\n')}`);
      }
      const [id] = readdirSync(join(dir, 'home', server, 'base'));
      assert.match(readFileSync(join(dir, 'home', server, 'base', id!, 'backup.info'), 'utf8'), /^status=/m);
    });

    it(`${server}: check connects (PostgreSQL and streaming)`, async () => {
      const run = await barman(server, 'check', server);
      assert.match(run.stdout, /^\tPostgreSQL: OK$/m, run.stdout);
      assert.match(run.stdout, /^\tPostgreSQL streaming: OK$/m, run.stdout);
      assertClean(run);
    });
  }

  it('the log never holds the password', () => {
    const log = readFileSync(join(dir, 'log/barman.log'), 'utf8');
    assert.ok(log.length > 0);
    assert.ok(!log.includes(password), 'the password is in the log');
  });

  it('without a password, or with a password file others can read, the refusal says why', async () => {
    const none = await barman('none', 'check', 'envfile');
    assert.match(none.stdout, /^\tPostgreSQL: FAILED \(.*no password supplied/m, none.stdout);
    chmodSync(envPassfile, 0o644);
    try {
      const open = await barman('envfile', 'check', 'envfile');
      assert.match(
        open.stdout,
        new RegExp(
          `^\\tPostgreSQL: FAILED \\(.*password file "${envPassfile}" has group or world access`,
          'm',
        ),
        open.stdout,
      );
      assertClean(open);
    } finally {
      chmodSync(envPassfile, 0o600);
    }
  });
});
