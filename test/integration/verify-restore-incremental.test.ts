/**
 * `barman verify-restore` of a block-level incremental chain on PostgreSQL 17: a full backup and
 * an incremental on it (barman-ts's BASE_BACKUP client), drilled through the chain: combined,
 * recovered to the end of the WAL archive, checked by PostgreSQL 17's pg_verifybackup against the
 * incremental's manifest and by pg_amcheck, started on the embedded PostgreSQL 17 (which ships
 * no client programs: pg_amcheck and pg_verifybackup 17 come from the Debian 13 root, through
 * restore_drill_bin_path, see debian13ProgramDirectory), the probe finding the newest rows.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import { chownTo, debian13ProgramDirectory, runBarman, startIncrementalBackupRig } from '../harness/index.js';

describe('barman verify-restore of an incremental chain (PostgreSQL 17)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let base: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });

  before(async () => {
    ({ pg, dir, config, base } = await startIncrementalBackupRig('verify-restore-pg17', 17, (made) => ({
      // The embedded PostgreSQL 17's `postgres`; its client programs from the Debian 13 root.
      path_prefix: made.pg.binDir,
      restore_drill_bin_path: join(made.dir, 'pg17-programs'),
      restore_drill_directory: join(made.dir, 'drills'),
      restore_drill_probe: 'select max(created_at) from orders',
      restore_drill_probe_max_age: '10 minutes',
    })));
    await debian13ProgramDirectory(join(dir, 'pg17-programs'), ['pg_amcheck', 'pg_verifybackup']);
    mkdirSync(join(dir, 'drills'));
    await chownTo(join(dir, 'drills'), 'postgres');
    await pg.statements(
      'CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), note text);' +
        "INSERT INTO orders (id, note) SELECT g, repeat('x', 50) FROM generate_series(1, 50000) g",
    );
  });

  after(async () => {
    await pg?.stop();
  });

  it('passes on a good chain: full + incremental, verified, checked, probed', async () => {
    const full = await barman('backup', '--wait', 'main');
    assert.equal(full.exitCode, 0, full.stdout + full.stderr);
    await pg.statements(
      "UPDATE orders SET note = 'changed' WHERE id % 10 = 0;" +
        "INSERT INTO orders (id, note) SELECT g, 'in the incremental' FROM generate_series(50001, 52000) g;" +
        'CREATE INDEX orders_created ON orders (created_at)',
    );
    const incremental = await barman('backup', '--incremental', 'latest-full', '--wait', 'main');
    assert.equal(incremental.exitCode, 0, incremental.stdout + incremental.stderr);
    const ids = readdirSync(base).sort();
    assert.equal(ids.length, 2);
    const incrementalId = ids[1]!;
    assert.match(
      readFileSync(join(base, incrementalId, 'backup.info'), 'utf8'),
      new RegExp(`^parent_backup_id=${ids[0]}$`, 'm'),
    );
    await pg.query("INSERT INTO orders (id, note) SELECT g, 'after' FROM generate_series(52001, 52100) g");
    assert.equal((await barman('switch-wal', '--force', '--archive', 'main')).exitCode, 0);

    const check = await barman('check', 'main');
    assert.match(check.stdout, /^\trestore drill: OK \(directory /m);

    const run = await barman('-f', 'json', 'verify-restore', 'main');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    const document = JSON.parse(run.stdout) as {
      backup_id: string;
      status: string;
      steps: Array<{ name: string; status: string; detail: string }>;
    };
    assert.equal(document.backup_id, incrementalId);
    assert.equal(document.status, 'ok');
    const step = (name: string) => document.steps.find((entry) => entry.name === name)!;
    assert.deepEqual(
      document.steps.map((entry) => [entry.name, entry.status]),
      ['space', 'recover', 'verifybackup', 'start', 'amcheck', 'probe', 'cleanup'].map((name) => [
        name,
        'ok',
      ]),
    );
    assert.match(step('verifybackup').detail, /backup successfully verified/);
    assert.match(step('start').detail, /^PostgreSQL 17 on 127\.0\.0\.1:\d+ ended recovery in /);
    assert.match(step('amcheck').detail, /no corruption found/);
    assert.deepEqual(readdirSync(join(dir, 'drills')), []);
    assert.doesNotMatch(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }), /barman-restore-drill/);

    const show = await barman('show-backup', 'main', incrementalId);
    assert.match(show.stdout, /^\s+Last drill\s+: passed at /m);
  });
});
