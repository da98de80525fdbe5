/**
 * barman-ts against Debian's Barman 3.4, live: both run the same commands on one configuration,
 * one PostgreSQL 15 cluster and one catalogue (written by Barman 3.4), and what barman-ts prints
 * must be what Barman printed: `-f json` documents (values that move between the two runs, such
 * as the current WAL position, are compared by type), show-server's live PostgreSQL fields in
 * console and JSON, and the configuration files a recovery leaves (`*.origin`).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer } from '../harness/index.js';
import {
  makeTempDir,
  runAs,
  runBarman,
  runCompletely,
  startPostgres,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

type Json = Record<string, unknown>;

/** Keys whose values change between two runs a moment apart (they are compared by type). */
const MOVING = new Set([
  'archived_count',
  'current_archived_wals_per_second',
  'current_lsn',
  'current_size',
  'current_xlog',
  'last_archived_time',
  'last_archived_wal',
  'xlogpos',
]);

/** `null`, `array`, or typeof. */
const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

describe('outputs compared with Debian Barman 3.4 on the same catalogue', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let backups: string[];
  const started: PostgresServer[] = [];

  const barman34 = async (...args: string[]) => {
    const run = await runCompletely(null, '/usr/bin/barman', ['-c', config, ...args], { timeoutMs: 180_000 });
    return { ...run, stdout: run.stdout.trimEnd() };
  };
  const barmanTs = async (...args: string[]) => {
    const run = await runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
    return { ...run, stdout: run.stdout.trimEnd() };
  };
  /** The same command through both: exit codes must match; returns both stdouts. */
  const both = async (...args: string[]) => {
    const theirs = await barman34(...args);
    const ours = await barmanTs(...args);
    assert.equal(ours.exitCode, theirs.exitCode, `${args.join(' ')}: ${ours.stderr}\n${theirs.stderr}`);
    return { theirs: theirs.stdout, ours: ours.stdout };
  };
  const bothJson = async (...args: string[]) => {
    const { theirs, ours } = await both('-f', 'json', ...args);
    return { theirs: JSON.parse(theirs) as Json, ours: JSON.parse(ours) as Json };
  };

  before(async () => {
    dir = await makeTempDir('barman34-outputs');
    chmodSync(dir, 0o755);
    const incoming = join(dir, 'home', 'pgr', 'incoming');
    mkdirSync(incoming, { recursive: true });
    chmodSync(incoming, 0o777); // archive_command runs as postgres
    mkdirSync(join(dir, 'recovered'));
    pg = await startPostgres({
      version: 15,
      archiveCommand: `cp %p ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
    });
    const rsyncServer: IniSection = {
      conninfo: pg.conninfo,
      backup_method: 'local-rsync',
      backup_options: 'concurrent_backup',
      archiver: true,
    };
    // Barman 3.4 reads this file too.
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'root',
        log_file: `${dir}/barman.log`,
        compression: 'gzip',
        path_prefix: '/usr/lib/postgresql/15/bin',
        minimum_redundancy: 0,
        retention_policy: 'REDUNDANCY 3',
      },
      servers: {
        pg: {
          description: '"postgres method, streaming"',
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          streaming_archiver: true,
          slot_name: 'barman_outputs',
          last_backup_maximum_age: '1 day',
        },
        pgr: { description: '"local-rsync, archive_command"', ...rsyncServer, immediate_checkpoint: true },
        off: { ...rsyncServer, active: false },
      },
    });
    await runAs(null, '/usr/bin/barman', ['-c', config, 'receive-wal', '--create-slot', 'pg']);
    await pg.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
    await pg.query('INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
    await runAs(null, '/usr/bin/barman', ['-c', config, 'switch-wal', '--force', '--archive', 'pgr']);
    for (let n = 0; n < 2; n += 1) {
      await runAs(null, '/usr/bin/barman', ['-c', config, 'backup', '--wait', 'pgr'], { timeoutMs: 180_000 });
      await pg.query(
        `INSERT INTO items SELECT g, 'round ${n}' FROM generate_series(${3000 + n * 1000}, ${3999 + n * 1000}) g`,
      );
      await runAs(null, '/usr/bin/barman', ['-c', config, 'switch-wal', '--force', '--archive', 'pgr']);
    }
    backups = readdirSync(join(dir, 'home/pgr/base')).sort();
    assert.equal(backups.length, 2);
    await runAs(null, '/usr/bin/barman', [
      '-c',
      config,
      'keep',
      '--target',
      'standalone',
      'pgr',
      backups[0]!,
    ]);
    // Barman 3.4 made its directories with root's umask (0755); barman-ts's check fails
    // `directory permissions` on those (Barman has no such check). incoming/ stays open: the
    // archive_command runs as postgres, and the check leaves the drop box out.
    for (const server of ['pg', 'pgr']) {
      for (const name of ['base', 'wals', 'errors', 'streaming']) {
        const path = join(dir, 'home', server, name);
        if (existsSync(path)) chmodSync(path, 0o700);
      }
    }
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('list-server (with and without --minimal) and unknown names: the same documents', async () => {
    for (const args of [['list-server'], ['list-server', '--minimal'], ['show-server', 'nosuch']]) {
      const { theirs, ours } = await both('-f', 'json', ...args);
      assert.equal(ours, theirs, args.join(' '));
    }
    const { theirs, ours } = await both('-f', 'json', 'show-backup', 'pgr', '20200101T000000');
    assert.equal(ours, theirs);
  });

  it('show-server: every key Barman 3.4 prints, live PostgreSQL fields included, same values', async () => {
    const { theirs, ours } = await bothJson('show-server', 'pg', 'pgr', 'off');
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
    for (const server of Object.keys(theirs)) {
      const expected = theirs[server] as Json;
      const actual = ours[server] as Json;
      for (const [key, value] of Object.entries(expected)) {
        assert.ok(key in actual, `${server}: ${key} missing`);
        const label = `${server}.${key}: ${JSON.stringify(actual[key])} vs ${JSON.stringify(value)}`;
        if (MOVING.has(key) || key === 'last_backup_maximum_age') {
          assert.equal(kind(actual[key]), kind(value), label);
        } else {
          assert.deepEqual(actual[key], value, label);
        }
      }
    }
    // The live values are there (the pg server streams, the pgr server archives).
    const pgShown = ours.pg as Json;
    assert.match(String(pgShown.server_txt_version), /^15\.\d+$/);
    assert.match(String(pgShown.replication_slot), /^Record\(slot_name='barman_outputs', active=False, /);
    assert.equal(pgShown.data_directory, pg.dataDir);
    assert.equal((ours.pgr as Json).is_archiving, true);
    assert.match(
      String(pgShown.last_backup_maximum_age),
      /^1 day \(WARNING! latest backup is No available backups old\)$/,
    );

    // Console: the same lines, apart from the moving values and barman-ts's later options.
    const stable = (output: string) =>
      output
        .split('\n')
        .filter(
          (line) => !MOVING.has(/^\t([a-z_]+):/.exec(line)?.[1] ?? '') && !line.includes('latest backup'),
        );
    const consoles = await both('show-server', 'pg', 'pgr', 'off');
    const ourLines = new Set(stable(consoles.ours));
    for (const line of stable(consoles.theirs)) assert.ok(ourLines.has(line), `missing line: ${line}`);
  });

  it('list-backup, show-backup and keep --status: the same documents', async () => {
    for (const args of [
      ['list-backup', 'pgr'],
      ['list-backup', '--minimal', 'pgr'],
      ['keep', '--status', 'pgr', backups[0]!],
      ['keep', '--status', 'pgr', backups[1]!],
    ]) {
      const { theirs, ours } = await both('-f', 'json', ...args);
      assert.equal(ours, theirs, args.join(' '));
    }
    // show-backup: the WAL rate is measured up to now, so it moves between the two runs.
    for (const id of backups) {
      const { theirs, ours } = await bothJson('show-backup', 'pgr', id);
      const still = (document: Json) => {
        const shown = structuredClone(document.pgr) as { wal_information: Json };
        for (const key of ['wal_rate', 'wal_rate_per_second']) {
          assert.equal(
            typeof shown.wal_information[key],
            typeof (theirs.pgr as typeof shown).wal_information[key],
          );
          delete shown.wal_information[key];
        }
        return shown;
      };
      assert.deepEqual(still(ours), still(theirs), id);
    }
    const keep = await both('keep', '--status', 'pgr', backups[0]!);
    assert.equal(keep.ours, keep.theirs);
    assert.equal(keep.ours, `Server pgr:\n\tKeep: standalone`);
    // Adding and releasing a keep prints an empty document.
    for (const args of [['--target', 'full'], ['--release']]) {
      const { theirs, ours } = await both('-f', 'json', 'keep', ...args, 'pgr', backups[1]!);
      assert.equal(theirs, '{}');
      assert.equal(ours, theirs);
    }
  });

  it('list-files: the same files for every target, under _INFO', async () => {
    for (const id of backups) {
      for (const target of ['standalone', 'data', 'wal', 'full']) {
        const { theirs, ours } = await bothJson('list-files', '--target', target, 'pgr', id);
        assert.deepEqual(Object.keys(ours), ['_INFO']);
        const sorted = (document: Json) => [...(document._INFO as string[])].sort();
        assert.deepEqual(sorted(ours), sorted(theirs), `${id} --target ${target}`);
        // WAL comes after the data files, in archive order.
        const wals = (document: Json) =>
          (document._INFO as string[]).filter((path) => path.includes('/wals/'));
        assert.deepEqual(wals(ours), wals(theirs));
      }
    }
  });

  it('get-wal --peek, --test and -o: the same _INFO lines', async () => {
    const first = readFileSync(join(dir, 'home/pgr/wals/xlog.db'), 'utf8').split('\n')[0]!.split('\t')[0]!;
    for (const args of [
      ['get-wal', '--peek', '3', 'pgr', first],
      ['get-wal', '--peek', '2', 'pgr', '0000000100000000000000F0'],
      ['get-wal', '--test', 'pgr', first],
      ['get-wal', 'pgr', 'notawal'],
    ]) {
      const { theirs, ours } = await both('-f', 'json', ...args);
      assert.equal(ours, theirs, args.join(' '));
    }
    const peek = await both('get-wal', '--peek', '3', 'pgr', first);
    assert.equal(peek.ours, peek.theirs);
    const output = join(dir, 'get-wal-out');
    mkdirSync(output);
    const { theirs, ours } = await both('-f', 'json', 'get-wal', '-o', output, 'pgr', first);
    assert.equal(ours, theirs);
    assert.match(ours, /^\{"_INFO": \["Sending WAL '[0-9A-F]{24}' for server 'pgr' into '.*' file"\]\}$/);
  });

  it('status, check and replication-status: the same keys and stable values', async () => {
    const status = await bothJson('status', 'pgr');
    const ourRows = status.ours.pgr as Record<string, { message: string }>;
    const theirRows = status.theirs.pgr as Record<string, { message: string }>;
    // Barman 3.10+ added the active configuration model row; Barman 3.4 has no models.
    assert.equal(ourRows.active_model?.message, 'None');
    const ourKeys = Object.keys(ourRows).filter((key) => key !== 'active_model');
    assert.deepEqual(ourKeys.sort(), Object.keys(theirRows).sort());
    for (const key of [
      'active',
      'backups_number',
      'first_backup',
      'last_backup',
      'minimum_redundancy',
      'pg_version',
    ]) {
      assert.deepEqual(ourRows[key], theirRows[key], key);
    }
    const check = await bothJson('check', 'pgr');
    const statuses = (document: Json) =>
      Object.fromEntries(
        Object.entries(document.pgr as Record<string, { status: string }>).map(([key, row]) => [
          key,
          row.status,
        ]),
      );
    assert.deepEqual(statuses(check.ours), statuses(check.theirs));
    const replication = await bothJson('replication-status', 'pg');
    assert.deepEqual(Object.keys(replication.ours.pg as Json), Object.keys(replication.theirs.pg as Json));
  });

  it('switch-wal, archive-wal and rebuild-xlogdb: messages only, under _INFO', async () => {
    await pg.query("INSERT INTO items VALUES (100000, 'switch')");
    const ours = await barmanTs('-f', 'json', 'switch-wal', 'pgr');
    await pg.query("INSERT INTO items VALUES (100001, 'switch')");
    const theirs = await barman34('-f', 'json', 'switch-wal', 'pgr');
    const closed = /^\{"_INFO": \["The WAL file [0-9A-F]{24} has been closed on server 'pgr'"\]\}$/;
    assert.match(theirs.stdout, closed);
    assert.match(ours.stdout, closed);
    const rebuild = await both('-f', 'json', 'rebuild-xlogdb', 'pgr');
    assert.equal(rebuild.ours, rebuild.theirs);
  });

  it("diagnose: Barman 3.4's layout, remote status, backups and WAL per timeline", async () => {
    const { theirs, ours } = await both('diagnose');
    const expected = JSON.parse(theirs) as { global: Json; servers: Record<string, Record<string, Json>> };
    const actual = JSON.parse(ours) as typeof expected;
    for (const key of ['barman_home', 'barman_user', 'compression', 'errors_list', 'log_file']) {
      assert.deepEqual((actual.global.config as Json)[key], (expected.global.config as Json)[key], key);
    }
    for (const key of Object.keys(expected.global.system_info as Json).filter((key) => key !== 'python_ver'))
      assert.ok(key in (actual.global.system_info as Json), `system_info.${key}`);
    assert.deepEqual(Object.keys(actual.servers), Object.keys(expected.servers));
    for (const [name, server] of Object.entries(expected.servers)) {
      const mine = actual.servers[name]!;
      assert.deepEqual(Object.keys(mine).sort(), Object.keys(server).sort(), name);
      for (const [key, value] of Object.entries(server.status!)) {
        const label = `${name}.status.${key}: ${JSON.stringify(mine.status![key])} vs ${JSON.stringify(value)}`;
        if (MOVING.has(key)) assert.equal(kind(mine.status![key]), kind(value), label);
        else assert.deepEqual(mine.status![key], value, label);
      }
      assert.deepEqual(Object.keys(mine.backups!), Object.keys(server.backups!), name);
      for (const [id, backup] of Object.entries(server.backups as Record<string, Json>)) {
        assert.deepEqual((mine.backups as Record<string, Json>)[id], backup, `${name} ${id}`);
      }
      // The file's mtime: Barman stats the file, barman-ts reads xlog.db (the same, to the microsecond).
      const wals = (document: Json) => document.last_archived_wal_per_timeline as Record<string, Json>;
      assert.deepEqual(Object.keys(wals(mine.wals!)), Object.keys(wals(server.wals!)));
      for (const [timeline, wal] of Object.entries(wals(server.wals!))) {
        const { time, ...rest } = wals(mine.wals!)[timeline]!;
        assert.deepEqual({ ...rest, time: wal.time }, wal, `${name} ${timeline}`);
        assert.ok(
          Math.abs(Number(time) - Number(wal.time)) < 1e-3,
          `${name} ${timeline}: ${String(time)} vs ${String(wal.time)}`,
        );
      }
    }
  });

  it('recover keeps postgresql.conf.origin and postgresql.auto.conf.origin as Barman 3.4 does', async () => {
    const id = backups[1]!;
    for (const [label, extra] of [
      ['end', []],
      ['pitr', ['--target-immediate', '--target-action', 'promote']],
    ] as const) {
      const mine = join(dir, 'recovered', `ts-${label}`);
      const theirs = join(dir, 'recovered', `b34-${label}`);
      const ran = await barman34('recover', ...extra, 'pgr', id, theirs);
      assert.equal(ran.exitCode, 0, ran.stderr);
      const run = await barmanTs('recover', ...extra, 'pgr', id, mine);
      assert.equal(run.exitCode, 0, run.stderr);
      for (const name of ['postgresql.conf.origin', 'postgresql.auto.conf.origin', 'postgresql.conf']) {
        assert.ok(existsSync(join(theirs, name)), `Barman 3.4 wrote ${name} (${label})`);
        assert.equal(readFileSync(join(mine, name), 'utf8'), readFileSync(join(theirs, name), 'utf8'), name);
      }
      const backupAuto = readFileSync(join(dir, 'home/pgr/base', id, 'data/postgresql.auto.conf'), 'utf8');
      assert.equal(readFileSync(join(mine, 'postgresql.auto.conf.origin'), 'utf8'), backupAuto);
    }
    // The recovered copy still starts (the .origin files are inert).
    await runAs(null, 'chown', ['-R', 'postgres:', join(dir, 'recovered', 'ts-pitr')]);
    const server = await startRecoveredCopy(join(dir, 'recovered', 'ts-pitr'));
    started.push(server);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '3000', 'the rows of the second backup');
  });

  it('show-server redacts a password in the live values (Barman 3.4 prints it)', async () => {
    const command = `PGPASSWORD=hunter2 true && ${(await pg.query<{ c: string }>('SHOW archive_command'))[0]!.c}`;
    await pg.query(`ALTER SYSTEM SET archive_command = '${command.replaceAll("'", "''")}'`);
    await pg.query('SELECT pg_reload_conf()');
    const { theirs, ours } = await both('show-server', 'pgr');
    assert.match(theirs, /archive_command: PGPASSWORD=hunter2 true/);
    assert.match(ours, /archive_command: PGPASSWORD=\*\*\* true/);
    const json = await both('-f', 'json', 'show-server', 'pgr');
    assert.match(json.ours, /"archive_command": "PGPASSWORD=\*\*\* true/);
    assert.doesNotMatch(ours + json.ours, /hunter2/);
  });
});
