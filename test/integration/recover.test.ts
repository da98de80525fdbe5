/**
 * `barman recover` against a real PostgreSQL 15 with a tablespace: every test records what was
 * committed and when, recovers, starts PostgreSQL on the result and checks that the visible data
 * is exactly that of the target (latest, time, xid, exclusive xid, LSN, restore point,
 * immediate, get-wal, timeline switch, relocation), plus the bad-input cases.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import { tryAcquireLock } from '../../src/locks/index.js';
import {
  BARMAN_BIN,
  chownTo,
  isFileLocked,
  makeTempDir,
  runAs,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

describe('barman recover (local, PostgreSQL 15)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let backupId: string;
  const started: PostgresServer[] = [];
  const marks: {
    afterB?: { time: string; xid: string; lsn: string };
    backupEndTime?: string;
  } = {};
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  let destinationCounter = 0;
  const newDestination = () => join(dir, 'recovered', `dest${++destinationCounter}`);

  /** Starts PostgreSQL on a recovered directory and waits until recovery has finished. */
  async function startRecovered(
    data: string,
    settings: Record<string, string> = {},
  ): Promise<PostgresServer> {
    const server = await startRecoveredCopy(data, { settings });
    started.push(server);
    return server;
  }

  async function ids(server: PostgresServer): Promise<{ count: number; max: number }> {
    const [row] = await server.query<{ n: string; m: string | null }>(
      'SELECT count(*) AS n, max(id) AS m FROM items',
    );
    return { count: Number(row!.n), max: Number(row!.m ?? 0) };
  }

  /** pg_dumpall without tablespace locations (the copy's are relocated). */
  async function dumpAll(server: PostgresServer): Promise<string> {
    const { stdout } = await runAs(null, '/usr/lib/postgresql/15/bin/pg_dumpall', [
      '-h',
      server.host,
      '-p',
      String(server.port),
      '-U',
      'postgres',
      '--no-tablespaces',
    ]);
    // pg_dumpall 15.14+ brackets the dump with random \\restrict keys: not part of the data.
    return stdout.replace(/^\\(un)?restrict .*$/gm, '');
  }

  before(async () => {
    dir = await makeTempDir('recover', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'tbs', 'recovered']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: 'postgres', compression: 'gzip' },
      servers: {
        main: {
          description: '"recovery tests"',
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          parallel_jobs: 2,
          immediate_checkpoint: 'on',
          archiver: 'on',
          path_prefix: '/usr/lib/postgresql/15/bin',
        },
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, batch text) TABLESPACE tbs1');
    await pg.query("INSERT INTO items SELECT g, 'A' FROM generate_series(1, 1000) g");
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    backupId = readdirSync(join(dir, 'home/main/base'))[0]!;
    const info = readFileSync(join(dir, 'home/main/base', backupId, 'backup.info'), 'utf8');
    marks.backupEndTime = /^end_time=(.*)$/m.exec(info)![1];

    // Batch B in one transaction: its xid, the time and LSN right after its commit.
    const [b] = await pg.query<{ xid: string }>(
      "WITH ins AS (INSERT INTO items SELECT g, 'B' FROM generate_series(1001, 2000) g RETURNING 1) SELECT txid_current()::text AS xid FROM ins LIMIT 1",
    );
    const [after] = await pg.query<{ t: string; lsn: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t, pg_current_wal_lsn()::text AS lsn",
    );
    marks.afterB = { time: after!.t, xid: b!.xid, lsn: after!.lsn };
    await pg.query("SELECT pg_create_restore_point('after_b')");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await pg.query("INSERT INTO items SELECT g, 'C' FROM generate_series(2001, 3000) g");
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('recovers to the end of the archive: every committed row, tablespace in place, archiving disabled', async () => {
    const destination = newDestination();
    // The original tablespace directory is in use by the running server: recovery must refuse it.
    const refused = await barman('recover', 'main', backupId, destination);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, new RegExp(`the tablespace 'tbs1' location ${dir}/tbs is not empty`));
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`^Starting local restore for server main using backup ${backupId}\n`),
    );
    assert.match(
      run.stdout,
      /Copying the base backup\.\n(?:.*: +\d+% .*\n)*Copying required WAL segments\.\n/,
    );
    assert.match(
      run.stdout,
      /IMPORTANT\nThese settings have been modified to prevent data losses\n\npostgresql\.conf line \d+: archive_command = false/,
    );
    assert.match(run.stdout, /Your PostgreSQL server has been successfully prepared for recovery!\n$/);
    assert.ok(existsSync(join(destination, '.barman-recover.info')));
    assert.ok(!existsSync(join(destination, 'recovery.signal')), 'no PITR: plain crash recovery from pg_wal');
    const walNames = readdirSync(join(destination, 'pg_wal')).filter((name) => /^[0-9A-F]{24}$/.test(name));
    assert.ok(walNames.length >= 2);
    for (const name of walNames)
      assert.ok(existsSync(join(destination, 'pg_wal/archive_status', `${name}.done`)));
    const server = await startRecovered(destination);
    assert.deepEqual(await ids(server), { count: 3000, max: 3000 });
    const [location] = await server.query<{ l: string }>(
      "SELECT pg_tablespace_location(oid) AS l FROM pg_tablespace WHERE spcname = 'tbs1'",
    );
    assert.equal(location!.l, `${destination}-tbs`);
    assert.equal(await dumpAll(server), await dumpAll(pg), 'pg_dumpall of the copy equals the original');
    await server.stop();
  });

  it('recovers to a time between two commits', async () => {
    const destination = newDestination();
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--target-time',
      marks.afterB!.time,
      '--target-action',
      'promote',
      '--tablespace',
      `tbs1:${dir}/recovered/tbs-time`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /Doing PITR\. Recovery target time: '/);
    assert.match(run.stdout, new RegExp(`\\t\\d+, tbs1, ${dir}/recovered/tbs-time\\n`));
    const auto = readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, /^restore_command = 'cp barman_wal\/%f %p'$/m);
    assert.match(auto, /^recovery_end_command = 'rm -fr barman_wal'$/m);
    assert.match(auto, /^recovery_target_time = '.*\+00:00'$/m);
    assert.ok(existsSync(join(destination, 'recovery.signal')));
    const server = await startRecovered(destination);
    assert.deepEqual(await ids(server), { count: 2000, max: 2000 });
    const [location] = await server.query<{ l: string }>(
      "SELECT pg_tablespace_location(oid) AS l FROM pg_tablespace WHERE spcname = 'tbs1'",
    );
    assert.equal(location!.l, `${dir}/recovered/tbs-time`);
    await server.stop();
  });

  it('recovers to a transaction id, inclusive and --exclusive', async () => {
    for (const [extra, expected] of [
      [[], 2000],
      [['--exclusive'], 1000],
    ] as const) {
      const destination = newDestination();
      const run = await barman(
        'recover',
        'main',
        backupId,
        destination,
        '--target-xid',
        marks.afterB!.xid,
        '--target-action',
        'promote',
        '--tablespace',
        `tbs1:${destination}-tbs`,
        ...extra,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      if (extra.length > 0) {
        assert.match(
          readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8'),
          /^recovery_target_inclusive = 'False'$/m,
        );
      }
      const server = await startRecovered(destination);
      assert.equal((await ids(server)).count, expected);
      await server.stop();
    }
  });

  it('recovers to an LSN, a named restore point, and the end of the backup (--target-immediate)', async () => {
    for (const [target, expected] of [
      [['--target-lsn', marks.afterB!.lsn], 2000],
      [['--target-name', 'after_b'], 2000],
      [['--target-immediate'], 1000],
    ] as const) {
      const destination = newDestination();
      const run = await barman(
        'recover',
        'main',
        backupId,
        destination,
        ...target,
        '--target-action',
        'promote',
        '--tablespace',
        `tbs1:${destination}-tbs`,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const server = await startRecovered(destination);
      assert.equal((await ids(server)).count, expected, target.join(' '));
      await server.stop();
    }
  });

  it('--get-wal writes a restore_command that fetches from barman-ts instead of copying WALs', async () => {
    const destination = newDestination();
    const run = await barman(
      'recover',
      'main',
      'latest',
      destination,
      '--get-wal',
      '--target-tli',
      'latest',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /WARNING: 'get-wal' is in the specified 'recovery_options'\./);
    assert.ok(!existsSync(join(destination, 'barman_wal')));
    const auto = readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8');
    assert.match(auto, new RegExp(`^restore_command = '.* -c ${config} -q get-wal -P main %f > %p'$`, 'm'));
    const server = await startRecovered(destination);
    assert.equal((await ids(server)).count, 3000);
    await server.stop();
  });

  it('--standby-mode prepares a standby that replays the archive and stays in recovery', async () => {
    const destination = newDestination();
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--standby-mode',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(existsSync(join(destination, 'standby.signal')));
    assert.ok(!existsSync(join(destination, 'recovery.signal')));
    const server = await startPostgres({ version: 15, existingDataDir: destination });
    started.push(server);
    await waitFor(
      'the standby to replay the copied WAL',
      async () => {
        try {
          return (await ids(server)).count === 3000;
        } catch {
          return false; // not yet consistent: connections are refused
        }
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const [state] = await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    assert.equal(state!.r, true);
    await server.stop();
  });

  it('follows a timeline switch: promote a recovered copy, archive its new WAL, recover with --target-tli latest', async () => {
    // A copy recovered to after B, promoted to timeline 2, archiving into the same catalogue.
    const first = newDestination();
    let run = await barman(
      'recover',
      'main',
      backupId,
      first,
      '--target-xid',
      marks.afterB!.xid,
      '--target-action',
      'promote',
      '--tablespace',
      `tbs1:${first}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    await pg.stop(); // one writer per catalogue: the old primary stops, the copy takes over
    const copy = await startRecovered(first, {
      archive_command: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    const [timeline] = await copy.query<{ t: number }>(
      'SELECT timeline_id AS t FROM pg_control_checkpoint()',
    );
    assert.equal(timeline!.t, 2);
    await copy.query("INSERT INTO items SELECT g, 'D' FROM generate_series(5001, 5100) g");
    await copy.query('SELECT pg_switch_wal()');
    await waitFor(
      'the new timeline to be archived',
      async () => {
        const [stats] = await copy.query<{ failed: string; archived: string | null }>(
          'SELECT failed_count::text AS failed, last_archived_wal AS archived FROM pg_stat_archiver',
        );
        return stats!.archived !== null && stats!.archived.startsWith('00000002');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await copy.stop();
    const archived = await barman('archive-wal', 'main');
    assert.equal(archived.exitCode, 0, archived.stderr);

    const destination = newDestination();
    run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--target-tli',
      'latest',
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      readFileSync(join(destination, 'postgresql.auto.conf'), 'utf8'),
      /^recovery_target_timeline = 'latest'$/m,
    );
    assert.ok(existsSync(join(destination, 'barman_wal', '00000002.history')));
    const server = await startRecovered(destination);
    assert.deepEqual(await ids(server), { count: 2100, max: 5100 });
    await server.stop();

    // --target-tli 1 (the old timeline) still reaches batch C.
    const old = newDestination();
    run = await barman(
      'recover',
      'main',
      backupId,
      old,
      '--target-tli',
      '1',
      '--tablespace',
      `tbs1:${old}-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    const oldServer = await startRecovered(old);
    assert.deepEqual(await ids(oldServer), { count: 3000, max: 3000 });
    await oldServer.stop();
  });

  it('refuses bad input with clear errors, before touching the destination', async () => {
    const destination = newDestination();
    let run = await barman('recover', 'main', '20990101T000000', destination);
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /Unknown backup '20990101T000000' for server 'main'/);
    assert.ok(!existsSync(destination));

    run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--target-time',
      '2001-01-01 00:00:00+00:00',
    );
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /The requested target time 2001-01-01 00:00:00\+00:00 is before the backup end time/,
    );

    run = await barman('recover', 'main', backupId, destination, '--target-xid', '5', '--target-name', 'x');
    assert.equal(run.exitCode, 2);
    assert.match(run.stderr, /You cannot specify multiple targets for the recovery operation/);

    run = await barman('recover', 'main', backupId, destination, '--target-tli', '9');
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /target timeline 9 does not exist in the archive \(no 00000009\.history file\)/);

    run = await barman('recover', 'main', backupId, destination, '--tablespace', 'nope:/tmp/x');
    assert.equal(run.exitCode, 2);
    assert.match(run.stderr, /Invalid tablespace name 'nope'/);

    run = await barman('recover', 'main', backupId, 'host:/srv/data');
    assert.equal(run.exitCode, 2);
    assert.match(run.stderr, /cannot contain the ':' character/);

    mkdirSync(destination, { recursive: true });
    writeFileSync(join(destination, 'precious.txt'), 'keep me');
    await chownTo(destination, 'postgres');
    run = await barman('recover', 'main', backupId, destination, '--tablespace', `tbs1:${destination}-tbs`);
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /the destination directory .* is not empty \(precious\.txt\)/);
    assert.equal(readFileSync(join(destination, 'precious.txt'), 'utf8'), 'keep me');
    assert.ok(!existsSync(`${destination}-tbs`));

    run = await barman('recover', 'main', 'unknown-server-backup', destination, '--dry-run');
    assert.equal(run.exitCode, 1);
  });

  it('refuses a FAILED backup and names the first missing WAL segment before copying', async () => {
    const base = join(dir, 'home/main/base');
    const info = readFileSync(join(base, backupId, 'backup.info'), 'utf8');
    mkdirSync(join(base, '20000101T000000'));
    writeFileSync(
      join(base, '20000101T000000', 'backup.info'),
      info.replace(/^status=DONE$/m, 'status=FAILED'),
    );
    mkdirSync(join(base, '20000101T000001'));
    writeFileSync(
      join(base, '20000101T000001', 'backup.info'),
      info
        .replace(/^begin_wal=.*$/m, 'begin_wal=000000010000000000000090')
        .replace(/^end_wal=.*$/m, 'end_wal=000000010000000000000091')
        .replace(/^end_xlog=.*$/m, 'end_xlog=0/91000100'),
    );
    await chownTo(base, 'postgres');
    try {
      const destination = newDestination();
      let run = await barman('recover', 'main', '20000101T000000', destination);
      assert.equal(run.exitCode, 1);
      assert.match(
        run.stderr,
        /Cannot recover from backup '20000101T000000' of server 'main': backup status is not DONE \(FAILED\)/,
      );
      run = await barman('recover', 'main', '20000101T000001', destination);
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /WAL file 000000010000000000000090 is missing from the archive/);
      assert.ok(!existsSync(destination));
    } finally {
      rmSync(join(base, '20000101T000000'), { recursive: true });
      rmSync(join(base, '20000101T000001'), { recursive: true });
    }
  });

  it("'auto' picks the newest backup that ended before the target", async () => {
    const destination = newDestination();
    const run = await barman(
      'recover',
      'main',
      'auto',
      destination,
      '--target-time',
      marks.afterB!.time,
      '--dry-run',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`using backup ${backupId}`));
    const refused = await barman('recover', 'main', 'auto', destination, '--target-xid', '1234');
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /backup id 'auto' cannot choose a backup for a --target-xid/);
  });

  it('fixes the mode of a pre-created destination; --delta-restore refuses a directory that is not a data directory', async () => {
    const destination = newDestination();
    mkdirSync(destination, { recursive: true, mode: 0o755 });
    chmodSync(destination, 0o755);
    await chownTo(destination, 'postgres');
    let run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
      '--target-immediate',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(
      statSync(destination).mode & 0o777,
      0o700,
      'PostgreSQL refuses a data directory open to others',
    );

    const other = newDestination();
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'notes.txt'), 'not a cluster');
    await chownTo(other, 'postgres');
    run = await barman(
      'recover',
      'main',
      backupId,
      other,
      '--delta-restore',
      '--tablespace',
      `tbs1:${other}-tbs`,
    );
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /does not look like a PostgreSQL data directory \(no PG_VERSION\); refusing to delete its content/,
    );
    assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'not a cluster');

    run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--delta-restore',
      '--tablespace',
      `tbs1:${dir}/tbs`,
    );
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /is not the one the destination's pg_tblspc links to; refusing to delete its content/,
    );
  });

  it('--dry-run prints the plan and writes nothing', async () => {
    const destination = newDestination();
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--target-name',
      'after_b',
      '--dry-run',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, /^Recovery plan for server main using backup /);
    assert.match(run.stdout, /recovery_target_name = 'after_b'/);
    assert.ok(!existsSync(destination));
  });

  it('a backup being recovered cannot be deleted, and one being deleted cannot be recovered', async () => {
    const lockFile = join(dir, 'home', `.main-${backupId}.lock`);
    const info = readFileSync(join(dir, 'home/main/base', backupId, 'backup.info'), 'utf8');
    const size = Number(/^size=(\d+)$/m.exec(info)![1]);
    // Paced to last about 5 s: long enough to try a delete in the middle.
    const limitKbps = Math.max(1, Math.floor(size / 1024 / 5));
    const destination = newDestination();
    const recovery = barman(
      'recover',
      '--bwlimit',
      String(limitKbps),
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${destination}-tbs`,
    );
    const lockSeen = waitFor('the recovery to hold the backup lock', () => isFileLocked(lockFile), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    // A recovery that ends (or fails) before the lock is seen fails the test with its output.
    await Promise.race([
      lockSeen,
      recovery.then((run) => {
        throw new Error(`the recovery ended first (exit ${run.exitCode}): ${run.stderr}${run.stdout}`);
      }),
    ]);
    const refused = await barman('delete', 'main', backupId);
    assert.notEqual(refused.exitCode, 0, refused.stdout + refused.stderr);
    assert.match(refused.stderr, new RegExp(`Another process is holding the lock for backup ${backupId}`));
    const recovered = await recovery;
    assert.equal(recovered.exitCode, 0, recovered.stderr);
    assert.ok(existsSync(join(dir, 'home/main/base', backupId, 'backup.info')), 'the backup is still there');

    // The reverse: a delete (here: this process) holds the lock exclusively.
    const held = tryAcquireLock(lockFile);
    assert.ok(held);
    try {
      const other = newDestination();
      const blocked = await barman('recover', 'main', backupId, other, '--tablespace', `tbs1:${other}-tbs`);
      assert.notEqual(blocked.exitCode, 0);
      assert.match(
        blocked.stderr,
        new RegExp(`backup ${backupId} of server main is locked by another process`),
      );
    } finally {
      held.release();
    }
  });
});
