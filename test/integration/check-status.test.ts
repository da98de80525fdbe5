/**
 * check, status and replication-status against real PostgreSQL 15 and 17 clusters and a private
 * sshd: a correctly configured server passes every check once switch-wal --archive filled its WAL
 * archive; wal_level minimal, archive_mode off, a failing ssh_command, a missing pg_basebackup,
 * an old pg_basebackup for PostgreSQL 17, a foreign identity.json, a stopped server and a slow
 * check each fail the right check. Console, --nagios and JSON outputs and their exit codes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  registerExitCleanup,
  runBarman,
  runCompletely,
  startPostgres,
  startSshd,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('check, status and replication-status', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let minimal: PostgresServer;
  let pg17: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let home: string;
  let config: string;
  /** `15.18`: the Debian PostgreSQL 15 server (and pg_basebackup) version. */
  let pg15Version: string;

  const barman = (args: string[], env?: Record<string, string>) =>
    runBarman(['-c', config, ...args], env ? { env } : {});
  const lines = (text: string) => text.trimEnd().split('\n');
  /** Signals a detached child's whole process group (runuser and the program it runs). */
  const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };

  before(async () => {
    dir = await makeTempDir('check-status', { owner: 'postgres' });
    home = join(dir, 'home');
    config = join(dir, 'barman.conf');
    mkdirSync(home);
    await chownTo(home, 'postgres');
    [pg, minimal, pg17, sshd] = await Promise.all([
      startPostgres({
        version: 15,
        archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
      }),
      startPostgres({
        version: 15,
        settings: { wal_level: 'minimal', archive_mode: 'off', max_wal_senders: '0' },
      }),
      startPostgres({ version: 17 }),
      startSshd({ users: ['postgres'] }),
    ]);
    await pg.query('CREATE ROLE monitor LOGIN');
    const [row] = await pg.query<{ v: string }>("select current_setting('server_version') as v");
    pg15Version = /^\d+\.\d+/.exec(row!.v)![0];
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: { barman_user: 'postgres', barman_home: home, compression: 'gzip' },
      servers: {
        main: {
          description: '"PG15 pg_basebackup"',
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: true,
        },
        minimal: { conninfo: minimal.conninfo, backup_method: 'local-rsync', archiver: true },
        sshok: {
          conninfo: pg.conninfo,
          ssh_command: sshd.sshCommand('postgres', 'postgres'),
          archiver: true,
        },
        sshfail: {
          conninfo: pg.conninfo,
          ssh_command: 'ssh -o BatchMode=yes -p 1 postgres@127.0.0.1',
          archiver: true,
        },
        slow: { conninfo: pg.conninfo, ssh_command: 'exec sleep 10;', archiver: true, check_timeout: 2 },
        nobasebackup: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          path_prefix: `${dir}/empty-bin`,
          archiver: true,
        },
        pg17: { conninfo: pg17.conninfo, backup_method: 'postgres', archiver: true },
        streamer: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          streaming_archiver: true,
          slot_name: 'barman',
        },
        lowpriv: {
          conninfo: `host=127.0.0.1 port=${pg.port} user=monitor dbname=postgres`,
          backup_method: 'local-rsync',
          archiver: true,
        },
        off: {
          active: false,
          conninfo: 'host=127.0.0.1 port=1 user=postgres dbname=postgres',
          backup_method: 'local-rsync',
          archiver: true,
        },
        broken: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          archiver: true,
          parallel_jobs: 'many',
        },
      },
    });
  });

  after(async () => {
    await Promise.all([pg?.stop(), minimal?.stop(), pg17?.stop(), sshd?.stop()]);
  });

  it('a fresh server fails only "WAL archive"; switch-wal --archive fills it and check passes', async () => {
    const fresh = await barman(['check', 'main']);
    assert.equal(fresh.exitCode, 1, fresh.stderr);
    assert.equal(lines(fresh.stdout)[1], '\tWAL archive: FAILED (please make sure WAL shipping is setup)');
    assert.deepEqual(
      lines(fresh.stdout).filter((line) => line.includes('FAILED')),
      ['\tWAL archive: FAILED (please make sure WAL shipping is setup)'],
    );

    const archived = await barman(['switch-wal', '--force', '--archive', 'main']);
    assert.equal(archived.exitCode, 0, archived.stderr);
    assert.match(archived.stdout, /^The WAL file 0{7}1[0-9A-F]{16} has been closed on server 'main'\n/);

    const run = await barman(['check', 'main']);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    const walSize = /\twal size: OK \((.*)\)/.exec(run.stdout)?.[1];
    assert.deepEqual(lines(run.stdout), [
      'Server main:',
      '\tPostgreSQL: OK',
      '\tsuperuser or standard user with backup privileges: OK',
      '\tPostgreSQL streaming: OK',
      '\twal_level: OK',
      '\tdirectories: OK',
      '\tretention policy settings: OK',
      '\tbackup maximum age: OK (no last_backup_maximum_age provided)',
      '\tbackup minimum size: OK (0 B)',
      '\twal maximum age: OK (no last_wal_maximum_age provided)',
      `\twal size: OK (${walSize})`,
      '\tcompression settings: OK',
      '\tfailed backups: OK (there are 0 failed backups)',
      '\tminimum redundancy requirements: OK (have 0 backups, expected at least 0)',
      '\tpg_basebackup: OK',
      '\tpg_basebackup compatible: OK',
      '\tpg_basebackup supports tablespaces mapping: OK',
      '\tsystemid coherence: OK',
      '\tarchive_mode: OK',
      '\tarchive_command: OK',
      '\tcontinuous archiving: OK',
      '\tarchiver errors: OK',
    ]);
  });

  it('--nagios: OK with perfdata (exit 0), CRITICAL with one line per failure (exit 2)', async () => {
    const okRun = await barman(['check', '--nagios', 'main']);
    assert.equal(okRun.exitCode, 0, okRun.stderr);
    assert.match(
      okRun.stdout,
      /^BARMAN OK - Ready to serve the Espresso backup for main\|main=0B main_wals=\d+B\n$/,
    );

    const critical = await barman(['check', '--nagios', 'minimal']);
    assert.equal(critical.exitCode, 2);
    assert.deepEqual(lines(critical.stdout), [
      'BARMAN CRITICAL - server minimal has issues * minimal FAILED: WAL archive, wal_level, archive_mode, archive_command|minimal=0B minimal_wals=0B',
      'minimal.WAL archive: FAILED (please make sure WAL shipping is setup)',
      "minimal.wal_level: FAILED (please set it to a higher level than 'minimal')",
      "minimal.archive_mode: FAILED (please set it to 'on' or 'always')",
      'minimal.archive_command: FAILED (please set it accordingly to documentation)',
    ]);

    const both = await barman(['check', '--nagios', 'main', 'minimal']);
    assert.equal(both.exitCode, 2);
    assert.match(
      lines(both.stdout)[0]!,
      /^BARMAN CRITICAL - 1 server out of 2 have issues \* minimal FAILED: /,
    );

    const ignored = await barman(['check', '--nagios', 'main', 'off']);
    assert.equal(ignored.exitCode, 0);
    assert.match(
      ignored.stdout,
      /^BARMAN OK - Ready to serve the Espresso backup for main \* IGNORING: off\|main=0B main_wals=\d+B off=0B off_wals=0B\n$/,
    );

    const unknown = await barman(['check', '--nagios', 'nosuch']);
    assert.equal(unknown.exitCode, 2);
    assert.equal(unknown.stdout, 'BARMAN CRITICAL - Global configuration errors\n');
  });

  it('-f json: mangled check names with status and hint', async () => {
    const run = await barman(['-f', 'json', 'check', 'main', 'minimal']);
    assert.equal(run.exitCode, 1);
    const json = JSON.parse(run.stdout) as Record<string, Record<string, { status: string; hint: string }>>;
    assert.deepEqual(Object.keys(json), ['main', 'minimal']);
    assert.deepEqual(json.main!.superuser_or_standard_user_with_backup_privileges, {
      hint: '',
      status: 'OK',
    });
    assert.deepEqual(json.main!.pg_basebackup_supports_tablespaces_mapping, { hint: '', status: 'OK' });
    assert.ok(Object.values(json.main!).every((result) => result.status === 'OK'));
    assert.deepEqual(json.minimal!.wal_level, {
      hint: "please set it to a higher level than 'minimal'",
      status: 'FAILED',
    });
    assert.deepEqual(json.minimal!.local_pgdata, { hint: 'Access to local PGDATA', status: 'OK' });
  });

  it('ssh: OK through a real sshd, FAILED with the command and its exit code', async () => {
    const run = await barman(['check', 'sshok', 'sshfail']);
    assert.equal(run.exitCode, 1);
    const out = lines(run.stdout);
    const sshfail = out.indexOf('Server sshfail:');
    const sshok = out.indexOf('Server sshok:');
    assert.ok(sshfail >= 0 && sshok > sshfail, 'servers in name order');
    assert.ok(
      out
        .slice(sshfail, sshok)
        .includes(
          "\tssh: FAILED (Connection failed using 'ssh -o BatchMode=yes -p 1 postgres@127.0.0.1' return code 255)",
        ),
      run.stdout,
    );
    const okPart = out.slice(sshok);
    assert.ok(okPart.includes('\tssh: OK (PostgreSQL server)'), run.stdout);
    // The rsync method's checks come after minimum redundancy, before systemid coherence.
    assert.equal(
      okPart[okPart.indexOf('\tssh: OK (PostgreSQL server)') + 1],
      '\tsystemid coherence: OK (no system Id stored on disk)',
    );
  });

  it('a check slower than check_timeout ends with "check timeout: FAILED"', async () => {
    const started = Date.now();
    const run = await barman(['check', 'slow']);
    assert.ok(Date.now() - started < 8000, 'stops at the timeout');
    assert.equal(run.exitCode, 1);
    assert.equal(lines(run.stdout).at(-1), '\tcheck timeout: FAILED (barman check command timed out)');
    assert.ok(!run.stdout.includes('\tssh:'));
  });

  it('pg_basebackup: missing (path_prefix elsewhere, PATH without it) or too old for PostgreSQL 17: not needed, the native client takes those backups', async () => {
    mkdirSync(join(dir, 'empty-bin'), { recursive: true });
    const missing = await barman(['check', 'nobasebackup'], { PATH: '/usr/sbin:/sbin' });
    const out = lines(missing.stdout);
    const notUsed = (major: string) =>
      `not used: barman-ts takes PostgreSQL ${major}'s backups with its own BASE_BACKUP client`;
    assert.ok(out.includes(`\tpg_basebackup: OK (${notUsed('15')})`), missing.stdout);
    assert.ok(out.includes(`\tpg_basebackup compatible: OK (${notUsed('15')})`), missing.stdout);

    const run = await barman(['check', 'pg17']);
    const out17 = lines(run.stdout);
    assert.ok(out17.includes('\tPostgreSQL: OK'), run.stdout);
    assert.ok(out17.includes('\tPostgreSQL streaming: OK'), run.stdout);
    assert.ok(out17.includes('\tpg_basebackup: OK'), run.stdout);
    assert.ok(out17.includes(`\tpg_basebackup compatible: OK (${notUsed('17')})`), run.stdout);
  });

  it('wal_level minimal and archive_mode off fail; local PGDATA is readable', async () => {
    const run = await barman(['check', 'minimal']);
    assert.equal(run.exitCode, 1);
    const out = lines(run.stdout);
    assert.ok(out.includes("\twal_level: FAILED (please set it to a higher level than 'minimal')"));
    assert.ok(out.includes("\tarchive_mode: FAILED (please set it to 'on' or 'always')"));
    assert.ok(out.includes('\tlocal PGDATA: OK (Access to local PGDATA)'));
    assert.ok(!out.includes('\tcontinuous archiving: OK'));
  });

  it('a role without backup privileges fails "no access to backup functions"', async () => {
    const run = await barman(['check', 'lowpriv']);
    assert.equal(run.exitCode, 1);
    assert.ok(
      lines(run.stdout).includes(
        '\tno access to backup functions: FAILED (privileges for PostgreSQL backup functions are required (see documentation))',
      ),
      run.stdout,
    );
  });

  it('inactive and disabled servers are checked; only active failures set the exit code', async () => {
    const inactive = await barman(['check', 'off']);
    assert.equal(inactive.exitCode, 0, 'failures of an inactive server are only reported');
    assert.equal(lines(inactive.stdout)[0], 'Server off (inactive):');
    assert.match(inactive.stdout, /\tPostgreSQL: FAILED \(.*ECONNREFUSED.*\)\n/);

    const disabled = await barman(['check', 'broken']);
    assert.equal(disabled.exitCode, 1);
    const out = lines(disabled.stdout);
    assert.equal(out[0], 'Server broken (WARNING: disabled):');
    const at = out.indexOf('\tconfiguration: FAILED');
    assert.ok(at > 0, disabled.stdout);
    assert.match(
      out[at + 1]!,
      /^\t\t\[broken\] parallel_jobs: expected an integer, got 'many' \(.*, line \d+\)$/,
    );
    assert.ok(!out.includes('\tdirectories: OK'), 'directories are not created for a disabled server');
  });

  it('systemid coherence fails when identity.json names another cluster', async () => {
    const file = join(home, 'main/identity.json');
    const original = readFileSync(file, 'utf8');
    try {
      writeFileSync(file, `${JSON.stringify({ systemid: '7000000000000000001', version: '15' }, null, 4)}\n`);
      const run = await barman(['check', 'main']);
      assert.equal(run.exitCode, 1);
      assert.ok(
        lines(run.stdout).includes(
          `\tsystemid coherence: FAILED (the system Id of the connected PostgreSQL server changed, stored in "${file}")`,
        ),
        run.stdout,
      );
    } finally {
      writeFileSync(file, original);
    }
  });

  it('status: PostgreSQL, archiver, retention and backups; JSON keys', async () => {
    const run = await barman(['status', 'main']);
    assert.equal(run.exitCode, 0, run.stderr);
    const out = lines(run.stdout);
    assert.deepEqual(
      out.map((line) => line.replace(/: .*$/, '')),
      [
        'Server main:',
        '\tDescription',
        '\tActive',
        '\tDisabled',
        '\tActive configuration model',
        '\tPostgreSQL version',
        '\tCluster state',
        '\tCurrent data size',
        '\tPostgreSQL Data directory',
        '\tCurrent WAL segment',
        "\tPostgreSQL 'archive_command' setting",
        '\tLast archived WAL',
        '\tFailures of WAL archiver',
        '\tServer WAL archiving rate',
        '\tPassive node',
        '\tRetention policies',
        '\tNo. of available backups',
        '\tFirst available backup',
        '\tLast available backup',
        '\tMinimum redundancy requirements',
      ],
    );
    assert.ok(out.includes('\tDescription: PG15 pg_basebackup'));
    assert.ok(out.includes('\tActive: True'));
    assert.ok(out.includes(`\tPostgreSQL version: ${pg15Version}`));
    assert.ok(out.includes('\tCluster state: in production'));
    assert.ok(out.includes(`\tPostgreSQL Data directory: ${pg.dataDir}`));
    assert.ok(
      out.some((line) =>
        /^\tLast archived WAL: 0{7}1[0-9A-F]{16}, at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(line),
      ),
    );
    assert.ok(out.includes('\tFailures of WAL archiver: 0'));
    assert.ok(out.some((line) => /^\tServer WAL archiving rate: \d+\.\d\d\/hour$/.test(line)));
    assert.ok(out.includes('\tRetention policies: not enforced'));
    assert.ok(out.includes('\tFirst available backup: None'));
    assert.ok(out.includes('\tMinimum redundancy requirements: satisfied (0/0)'));

    const json = JSON.parse((await barman(['-f', 'json', 'status', 'main', 'pg17'])).stdout) as Record<
      string,
      Record<string, { description: string; message: string }>
    >;
    assert.deepEqual(json.main!.pg_version, { description: 'PostgreSQL version', message: pg15Version });
    assert.match(json.pg17!.pg_version!.message, /^17\.\d+$/);
    assert.equal(json.pg17!.last_archived_wal!.message, 'No WAL segment shipped yet');
    assert.equal(json.main!.backups_number!.message, '0');

    const skipped = await barman(['status', 'off']);
    assert.equal(skipped.exitCode, 0);
    assert.equal(skipped.stdout, "Skipping inactive server 'off'\n");
  });

  it('streaming archiver: replication slot missing, not initialised, active; receive-wal running', async () => {
    const streamingChecks = async () => {
      const run = await barman(['check', 'streamer']);
      return lines(run.stdout).filter((line) =>
        /^\t(replication slot|PostgreSQL streaming|pg_receivexlog|receive-wal running)/.test(line),
      );
    };
    assert.deepEqual(await streamingChecks(), [
      '\tPostgreSQL streaming: OK',
      "\treplication slot: FAILED (replication slot 'barman' doesn't exist. Please execute 'barman receive-wal --create-slot streamer')",
      '\tpg_receivexlog: OK',
      '\tpg_receivexlog compatible: OK',
      '\treceive-wal running: FAILED (See the Barman log file for more details)',
    ]);
    await pg.query("SELECT pg_create_physical_replication_slot('barman')");
    assert.equal(
      (await streamingChecks())[1],
      "\treplication slot: FAILED (slot 'barman' not initialised: is 'receive-wal' running?)",
    );

    // pg_receivewal on the slot, and a process holding receive-wal's lock file as receive-wal does.
    const target = join(dir, 'streaming-target');
    mkdirSync(target);
    await chownTo(target, 'postgres');
    const connection = ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres'];
    const receiver = spawn(
      'runuser',
      ['-u', 'postgres', '--', join(pg.binDir, 'pg_receivewal'), ...connection, '-D', target, '-S', 'barman'],
      { stdio: 'ignore', detached: true },
    );
    const lockHolder = spawn(
      'runuser',
      ['-u', 'postgres', '--', 'flock', join(home, '.streamer-receive-wal.lock'), 'sleep', '60'],
      { stdio: 'ignore', detached: true },
    );
    const unregister = registerExitCleanup(() => {
      killGroup(receiver, 'SIGKILL');
      killGroup(lockHolder, 'SIGKILL');
    });
    try {
      await waitFor('the slot in use', async () => {
        const rows = await pg.query<{ active: boolean }>(
          "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman' AND restart_lsn IS NOT NULL",
        );
        return rows[0]?.active === true;
      });
      const lockFile = join(home, '.streamer-receive-wal.lock');
      await waitFor('the receive-wal lock', async () => {
        if (!existsSync(lockFile)) return false;
        return (await runCompletely('postgres', 'flock', ['-n', lockFile, 'true'])).exitCode !== 0;
      });
      const checks = await streamingChecks();
      assert.equal(checks[1], '\treplication slot: OK');
      assert.equal(checks[4], '\treceive-wal running: OK');
    } finally {
      killGroup(receiver, 'SIGTERM');
      killGroup(lockHolder, 'SIGTERM');
      unregister();
    }
    await waitFor('the slot released', async () => {
      const rows = await pg.query<{ active: boolean }>(
        "SELECT active FROM pg_replication_slots WHERE slot_name = 'barman'",
      );
      return rows[0]?.active === false;
    });
    await pg.query("SELECT pg_drop_replication_slot('barman')");
  });

  it('replication-status: no clients, then pg_receivewal as a WAL streamer', async () => {
    const none = await barman(['replication-status', 'main']);
    assert.equal(none.exitCode, 0, none.stderr);
    assert.match(
      none.stdout,
      /^Status of streaming clients for server 'main':\n {2}Current LSN on master: [0-9A-F]+\/[0-9A-F]+\n {2}No streaming clients attached\n$/,
    );

    const target = join(dir, 'receivewal');
    mkdirSync(target);
    await chownTo(target, 'postgres');
    const receiver = spawn(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        join(pg.binDir, 'pg_receivewal'),
        '-h',
        '127.0.0.1',
        '-p',
        String(pg.port),
      ].concat(['-U', 'postgres', '-D', target, '--no-loop']),
      { stdio: 'ignore', detached: true },
    );
    const unregister = registerExitCleanup(() => killGroup(receiver, 'SIGKILL'));
    try {
      await waitFor('pg_receivewal in pg_stat_replication', async () => {
        const rows = await pg.query(
          "select 1 from pg_stat_replication where application_name = 'pg_receivewal'",
        );
        return rows.length > 0;
      });
      const full = await barman(['replication-status', 'main']);
      assert.equal(full.exitCode, 0, full.stderr);
      const out = lines(full.stdout);
      assert.ok(out.includes('  Number of streaming clients: 1'), full.stdout);
      assert.ok(out.includes('  1. Async WAL streamer'), full.stdout);
      assert.ok(out.includes('     Application name: pg_receivewal'), full.stdout);
      assert.ok(out.includes('     Communication   : TCP/IP'), full.stdout);
      assert.ok(out.includes('     Current state   : streaming (async)'), full.stdout);
      assert.ok(out.some((line) => /^ {5}Sent LSN {3}: [0-9A-F]+\/[0-9A-F]+ \(diff: -?\d/.test(line)));

      const minimalRun = await barman(['replication-status', '--minimal', 'main']);
      assert.match(
        lines(minimalRun.stdout)[1]!,
        /^ {2}1\. W\) postgres@127\.0\.0\.1 S:[0-9A-F/]+ W:[0-9A-F/]+ P:0 AN:pg_receivewal$/,
      );
      const standbys = await barman(['replication-status', '--target', 'hot-standby', 'main']);
      assert.ok(lines(standbys.stdout).includes('  No hot standby servers attached'), standbys.stdout);

      const json = JSON.parse((await barman(['-f', 'json', 'replication-status', 'main'])).stdout) as {
        main: { streaming_clients: Array<Record<string, unknown>> };
      };
      assert.equal(json.main.streaming_clients[0]!.name, 'Async WAL streamer');
      assert.equal(json.main.streaming_clients[0]!.application_name, 'pg_receivewal');
    } finally {
      killGroup(receiver, 'SIGTERM');
      unregister();
    }
  });

  it('a stopped PostgreSQL: PostgreSQL FAILED, status says so', async () => {
    await minimal.stop();
    const run = await barman(['check', 'minimal']);
    assert.equal(run.exitCode, 1);
    const out = lines(run.stdout);
    assert.match(out[2]!, /^\tPostgreSQL: FAILED \(cannot connect to PostgreSQL .*ECONNREFUSED.*\)$/);
    assert.ok(!out.some((line) => line.startsWith('\twal_level')));
    const status = await barman(['status', 'minimal']);
    assert.equal(status.exitCode, 0);
    assert.ok(lines(status.stdout).includes('\tPostgreSQL version: FAILED trying to get PostgreSQL version'));
    const nagios = await barman(['check', '--nagios', 'minimal']);
    assert.equal(nagios.exitCode, 2);
    assert.match(
      nagios.stdout,
      /^BARMAN CRITICAL - server minimal has issues \* minimal FAILED: WAL archive, PostgreSQL\|/,
    );
  });
});
