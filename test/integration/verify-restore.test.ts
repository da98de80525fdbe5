/**
 * `barman verify-restore` (restore drills) against a real PostgreSQL 15 with data checksums and
 * a tablespace, backups by pg_basebackup (backup_manifest): a good backup passes every step and
 * its result shows in show-backup, status, `-f json` and the metrics; a stale probe fails; a
 * damaged data page in a stored backup fails with the relation and block named; a WAL segment
 * removed from a backup's range fails naming the segment. Nothing is left behind: no drill
 * directory, no PostgreSQL, nothing written inside a stored backup.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runAs,
  runBarman,
  startPostgres,
  writeBarmanConfig,
} from '../harness/index.js';

describe('barman verify-restore (PostgreSQL 15)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let goodId: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });

  function writeConfig(extra: Record<string, string | number> = {}): void {
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: { barman_user: 'postgres', compression: 'gzip' },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: true,
          path_prefix: '/usr/lib/postgresql/15/bin',
          restore_drill_directory: join(dir, 'drills'),
          ...extra,
        },
      },
    });
  }

  async function backup(): Promise<string> {
    const before = new Set(readdirSync(join(dir, 'home/main/base')).filter((name) => /^\d{8}T/.test(name)));
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    return readdirSync(join(dir, 'home/main/base')).find(
      (name) => /^\d{8}T/.test(name) && !before.has(name),
    )!;
  }

  /** Every drill leaves nothing: an empty drill directory and no PostgreSQL of its own. */
  function assertNothingLeft(): void {
    assert.deepEqual(readdirSync(join(dir, 'drills')), []);
    const processes = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    assert.doesNotMatch(processes, /barman-restore-drill/);
  }

  before(async () => {
    dir = await makeTempDir('verify-restore', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'tbs', 'drills']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeConfig();
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query(
      'CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), note text) TABLESPACE tbs1',
    );
    await pg.query(
      "INSERT INTO orders (id, note) SELECT g, repeat('x', 40) FROM generate_series(1, 20000) g",
    );
    await pg.query('CREATE TABLE audit (created_at timestamptz NOT NULL)');
    await pg.query("INSERT INTO audit VALUES ('2020-01-01 00:00:00+00')");
    // Frozen and checkpointed: nothing rewrites these pages later (no hint-bit full-page image
    // in a later backup's WAL would repair a page damaged in the stored copy).
    await pg.query('VACUUM FREEZE');
    await pg.query('CHECKPOINT');
    mkdirSync(join(dir, 'home/main/base'), { recursive: true });
    execFileSync('chown', ['-R', 'postgres:', join(dir, 'home')]);
    goodId = await backup();
    await pg.query("INSERT INTO orders (id, note) SELECT g, 'after' FROM generate_series(20001, 20100) g");
    const switched = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
  });

  after(async () => {
    await pg?.stop();
  });

  it('passes on a good backup, records the result beside the catalogue and shows it everywhere', async () => {
    writeConfig({
      restore_drill_probe: 'select max(created_at) from orders',
      restore_drill_probe_max_age: '10 minutes',
    });
    const backupFilesBefore = execFileSync(
      'find',
      [join(dir, 'home/main/base', goodId), '-printf', '%p %s %T@\\n'],
      {
        encoding: 'utf8',
      },
    );
    const run = await barman('verify-restore', 'main');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^Restore drill of backup ${goodId} of server main: OK$`, 'm'));
    for (const step of ['space', 'recover', 'verifybackup', 'start', 'amcheck', 'probe', 'cleanup'])
      assert.match(run.stdout, new RegExp(`^  ${step}: OK - `, 'm'), run.stdout);
    assert.match(run.stdout, /verifybackup: OK - backup successfully verified/);
    assertNothingLeft();
    // Recorded through the catalogue's storage, beside it: nothing written inside the backup.
    const recorded = JSON.parse(readFileSync(join(dir, 'home/main/restore-drills.json'), 'utf8')) as {
      results: Array<{ backup_id: string; status: string; steps: unknown[] }>;
    };
    assert.equal(recorded.results[0]!.backup_id, goodId);
    assert.equal(recorded.results[0]!.status, 'ok');
    assert.equal(statSync(join(dir, 'home/main/restore-drills.json')).mode & 0o077, 0);
    const backupFilesAfter = execFileSync(
      'find',
      [join(dir, 'home/main/base', goodId), '-printf', '%p %s %T@\\n'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(backupFilesAfter, backupFilesBefore);

    const json = await barman('-f', 'json', 'verify-restore', 'main', goodId, '--target-immediate');
    assert.equal(json.exitCode, 0, json.stderr);
    const document = JSON.parse(json.stdout) as {
      status: string;
      target: string;
      steps: Array<{ name: string }>;
    };
    assert.equal(document.status, 'ok');
    assert.equal(document.target, "Recovery target: 'immediate'");
    // A target given: the probe is measured against the backup end (no target time).
    assert.deepEqual(
      document.steps.map((step) => step.name),
      ['space', 'recover', 'verifybackup', 'start', 'amcheck', 'probe', 'cleanup'],
    );

    const show = await barman('show-backup', 'main', goodId);
    assert.match(
      show.stdout,
      /^ {2}Restore drill:\n\s+Last drill\s+: passed at \S+ \(backup \S+, target Recovery target: 'immediate', [\d.]+ s\)$/m,
    );
    const showJson = JSON.parse((await barman('-f', 'json', 'show-backup', 'main', goodId)).stdout) as Record<
      string,
      { restore_drill: { status: string } }
    >;
    assert.equal(showJson.main!.restore_drill.status, 'ok');
    const status = await barman('status', 'main');
    assert.match(status.stdout, /^\tLast restore drill: passed at /m);
    // With a drill schedule, check finds the programs the scheduled drill will need.
    writeConfig({ restore_drill_schedule: '0 5 * * 0' });
    const check = await barman('check', 'main');
    assert.match(
      check.stdout,
      /^\trestore drill: OK \(PostgreSQL 15 \(\/usr\/lib\/postgresql\/15\/bin\/postgres\)/m,
    );
    const metrics = await barman('metrics', 'main');
    assert.equal(metrics.exitCode, 0, metrics.stderr);
    assert.match(metrics.stdout, /^barman_restore_drill_last_success\{server="main"\} 1$/m);
    assert.match(metrics.stdout, /^barman_restore_drill_last_duration_seconds\{server="main"\} [\d.]+$/m);
    assert.match(
      metrics.stdout,
      /^barman_restore_drill_last_success_timestamp_seconds\{server="main"\} \d+/m,
    );
  });

  it('fails when the probe finds stale data', async () => {
    writeConfig({
      restore_drill_probe: 'select max(created_at) from audit',
      restore_drill_probe_max_age: '1 hour',
    });
    const run = await barman('verify-restore', 'main', goodId);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stdout,
      /^ {2}probe: FAILED - stale data: the probe returned 2020-01-01T00:00:00.000Z, older than /m,
    );
    assert.match(run.stderr, /ERROR: restore drill of backup \S+ of server main FAILED: probe: stale data/);
    assert.match(run.stdout, /^ {2}amcheck: OK/m);
    assertNothingLeft();
    const metrics = await barman('metrics', 'main');
    assert.match(metrics.stdout, /^barman_restore_drill_last_success\{server="main"\} 0$/m);
    const status = await barman('status', 'main');
    assert.match(status.stdout, /^\tLast restore drill: FAILED \(probe: stale data/m);
  });

  it('fails on a damaged data page of a stored backup, naming the relation and the block', async () => {
    writeConfig();
    const damagedId = await backup();
    const [row] = await pg.query<{ path: string }>("SELECT pg_relation_filepath('orders') AS path");
    // pg_tblspc/<oid>/PG_15_…/<db>/<relfilenode>: pg_basebackup -Fp keeps the tablespace in base/<id>/<oid>.
    const [, oid, rest] = /^pg_tblspc\/(\d+)\/(.*)$/.exec(row!.path)!;
    const file = join(dir, 'home/main/base', damagedId, oid!, rest!);
    assert.ok(existsSync(file), file);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from('this page was damaged on disk'), 0, 29, 8192 * 3 + 3000);
    closeSync(fd);
    const run = await barman('-f', 'json', 'verify-restore', 'main', damagedId);
    assert.equal(run.exitCode, 1, run.stdout);
    const document = JSON.parse(run.stdout) as {
      status: string;
      steps: Array<{ name: string; status: string; detail: string }>;
    };
    assert.equal(document.status, 'failed');
    const step = (name: string) => document.steps.find((entry) => entry.name === name)!;
    assert.equal(step('verifybackup').status, 'failed');
    assert.match(step('verifybackup').detail, new RegExp(`checksum mismatch for file "pg_tblspc/${oid}/`));
    assert.equal(step('amcheck').status, 'failed');
    assert.match(
      step('amcheck').detail,
      /heap table "postgres\.public\.orders".*invalid page in block 3 of relation/,
    );
    assertNothingLeft();
  });

  it('fails when a WAL segment of the backup is missing from the archive, naming it', async () => {
    writeConfig();
    const info = readFileSync(join(dir, 'home/main/base', goodId, 'backup.info'), 'utf8');
    const beginWal = /^begin_wal=(\w+)$/m.exec(info)![1]!;
    const hashDir = join(dir, 'home/main/wals', beginWal.slice(0, 16));
    const stored = readdirSync(hashDir).find((name) => name.startsWith(beginWal))!;
    rmSync(join(hashDir, stored));
    const run = await barman('verify-restore', 'main', goodId);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stdout,
      new RegExp(
        `^  recover: FAILED - WAL file ${beginWal} needed by the recovery is in xlog.db but not in `,
        'm',
      ),
    );
    assertNothingLeft();
    // Once xlog.db forgets it too, the hole is found from the catalogue itself.
    assert.equal((await barman('rebuild-xlogdb', 'main')).exitCode, 0);
    const again = await barman('verify-restore', 'main', goodId);
    assert.equal(again.exitCode, 1, again.stdout);
    assert.match(again.stdout, new RegExp(`recover: FAILED - .*${beginWal}`));
    assertNothingLeft();
  });
  it('fails when a WAL segment after the backup end, needed to reach the target time, is missing, naming it', async () => {
    writeConfig();
    const id = await backup();
    const info = readFileSync(join(dir, 'home/main/base', id, 'backup.info'), 'utf8');
    const endWal = /^end_wal=(\w+)$/m.exec(info)![1]!;
    await pg.query(
      "INSERT INTO orders (id, note) SELECT g, 'past the end' FROM generate_series(30001, 30100) g",
    );
    assert.equal((await barman('switch-wal', '--force', '--archive', 'main')).exitCode, 0);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const [mark] = await pg.query<{ t: string }>(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t",
    );
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await pg.query(
      "INSERT INTO orders (id, note) SELECT g, 'after the target' FROM generate_series(30101, 30200) g",
    );
    assert.equal((await barman('switch-wal', '--force', '--archive', 'main')).exitCode, 0);
    // The first archived segment past the backup's end WAL: the backup itself stays complete.
    const hashDir = join(dir, 'home/main/wals', endWal.slice(0, 16));
    const after = readdirSync(hashDir)
      .filter((name) => /^[0-9A-F]{24}/.test(name) && name.slice(0, 24) > endWal)
      .sort();
    assert.ok(after.length >= 2, `segments archived after ${endWal}: ${after.join(', ')}`);
    const missing = after[0]!.slice(0, 24);
    rmSync(join(hashDir, after[0]!));
    const run = await barman('verify-restore', 'main', id, '--target-time', mark!.t);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stdout,
      new RegExp(
        `^  recover: FAILED - WAL file ${missing} needed by the recovery is in xlog.db but not in `,
        'm',
      ),
    );
    assert.match(run.stderr, new RegExp(`FAILED: recover: WAL file ${missing} `));
    assertNothingLeft();
    // Once xlog.db forgets it too, the hole is found from the catalogue itself, still by name.
    assert.equal((await barman('rebuild-xlogdb', 'main')).exitCode, 0);
    const again = await barman('-f', 'json', 'verify-restore', 'main', id, '--target-time', mark!.t);
    assert.equal(again.exitCode, 1, again.stdout);
    const document = JSON.parse(again.stdout) as { error: string };
    assert.match(
      document.error,
      new RegExp(
        `^recover: WAL file ${missing} is missing from the archive: recovery cannot replay past ${endWal}`,
      ),
    );
    assertNothingLeft();
  });

  it('check fails the restore drill check for a restore_drill_directory inside the catalogue, naming it', async () => {
    writeConfig({ restore_drill_directory: join(dir, 'home/main/base/drills') });
    const check = await barman('check', 'main');
    assert.match(
      check.stdout,
      new RegExp(
        `^\\trestore drill: FAILED \\(restore drill directory ${join(dir, 'home/main/base/drills')} \\(restore_drill_directory\\) is inside basebackups_directory of server 'main' `,
        'm',
      ),
    );
    // verify-restore refuses it with the same words, before anything is written.
    const run = await barman('verify-restore', 'main');
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /restore drill directory \S+ \(restore_drill_directory\) is inside basebackups_directory of server 'main'/,
    );
    assert.equal(existsSync(join(dir, 'home/main/base/drills')), false);
  });

  it('gives up a recovery that never ends after restore_drill_timeout, and stops and removes everything', async () => {
    writeConfig({ restore_drill_timeout: '15 seconds' });
    const id = await backup();
    // Production raises max_connections after the backup: the WAL says so, and PostgreSQL
    // pauses the copy's replay there (its own setting, from the backup, is lower) until it is
    // told otherwise: a recovery that, left alone, never ends.
    await pg.query('ALTER SYSTEM SET max_connections = 150');
    await runAs('postgres', join(pg.binDir, 'pg_ctl'), [
      '-D',
      pg.dataDir,
      '-l',
      pg.logFile,
      '-m',
      'fast',
      '-w',
      '-t',
      '60',
      'restart',
    ]);
    const [setting] = await pg.query<{ max_connections: string }>('SHOW max_connections');
    assert.equal(setting!.max_connections, '150');
    await pg.query(
      "INSERT INTO orders (id, note) SELECT g, 'after the restart' FROM generate_series(40001, 40100) g",
    );
    const [position] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    assert.equal((await barman('switch-wal', '--force', '--archive', 'main')).exitCode, 0);
    const started = Date.now();
    // A target: archive recovery (to the end of the archive, the WAL would be replayed as a crash
    // recovery, which checks no settings).
    const run = await barman('-f', 'json', 'verify-restore', 'main', id, '--target-lsn', position!.lsn);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.ok(Date.now() - started < 120_000, 'ended soon after the timeout');
    const document = JSON.parse(run.stdout) as {
      steps: Array<{ name: string; status: string; detail: string }>;
    };
    const step = (name: string) => document.steps.find((entry) => entry.name === name)!;
    assert.equal(step('start').status, 'failed');
    assert.match(
      step('start').detail,
      /^PostgreSQL did not end its recovery within restore_drill_timeout \(15 s\): still in recovery, WAL replayed up to [0-9A-F]+\/[0-9A-F]+, replay paused; its log: /,
    );
    assert.match(step('start').detail, /insufficient parameter settings|recovery has paused/);
    assert.equal(step('cleanup').status, 'ok', step('cleanup').detail);
    assert.equal(
      document.steps.some((entry) => entry.name === 'amcheck'),
      false,
    );
    assertNothingLeft();
  });
});
