/**
 * backup_method = rsync: barman-ts as OS user barman copies PGDATA and a tablespace from the
 * PostgreSQL host (OS user postgres) with rsync over a real sshd; a second backup hard-links
 * unchanged files (--link-dest); both restore and start. A refused ssh fails the backup clearly.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  ensureOsUser,
  makeTempDir,
  progressLines,
  restoreAndStart,
  runBarman,
  startPostgres,
  startSshd,
  sumTrees,
  waitForEndOfRecovery,
  writeBarmanConfig,
} from '../harness/index.js';

/** barman.conf with one rsync server, run as OS user barman (the file is 0644 for it). */
function writeRsyncConfig(spec: {
  dir: string;
  server: string;
  conninfo: string;
  sshCommand: string;
  file?: string;
  global?: IniSection;
}): string {
  return writeBarmanConfig({
    dir: spec.dir,
    file: spec.file,
    mode: 0o644,
    global: { barman_user: 'barman', ...spec.global },
    servers: {
      [spec.server]: {
        conninfo: spec.conninfo,
        ssh_command: spec.sshCommand,
        backup_method: 'rsync',
        reuse_backup: 'link',
        parallel_jobs: 2,
        immediate_checkpoint: true,
        archiver: true,
      },
    },
  });
}

describe('backup_method = rsync over a real sshd', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  const restored: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  const backupIds = () => readdirSync(join(dir, 'home/main/base')).sort();

  before(async () => {
    await ensureOsUser('barman');
    dir = await makeTempDir('backup-rsync', { owner: 'barman' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'home/main', 'home/main/incoming', 'tbs'])
      mkdirSync(join(dir, sub), { recursive: true });
    await chownTo(join(dir, 'home'), 'barman');
    await chownTo(join(dir, 'home/main'), 'barman');
    await chownTo(join(dir, 'home/main/incoming'), 'barman');
    chmodSync(join(dir, 'home/main/incoming'), 0o777); // archive_command (postgres) delivers, barman consumes
    await chownTo(join(dir, 'tbs'), 'postgres');
    const incoming = join(dir, 'home/main/incoming');
    sshd = await startSshd({ users: ['barman', 'postgres'] });
    pg = await startPostgres({
      version: 15,
      archiveCommand: `test ! -f ${incoming}/%f && cp %p ${incoming}/.%f.tmp && chmod 0644 ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
    });
    writeRsyncConfig({
      dir,
      server: 'main',
      conninfo: pg.conninfo,
      sshCommand: sshd.sshCommand('barman', 'postgres'),
      global: { compression: 'gzip' },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE accounts (id int) TABLESPACE tbs1');
    await pg.query('INSERT INTO accounts SELECT generate_series(1, 30000)');
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await pg?.stop();
    await sshd?.stop();
  });

  it('backs up over ssh, then again with unchanged files hard-linked; both restore', async () => {
    const first = await barman('backup', '--wait', 'main');
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stdout, /Starting backup copy via rsync\/SSH for \d{8}T\d{6} \(2 jobs\)\n/);
    await pg.query('INSERT INTO accounts SELECT generate_series(30001, 31000)');
    const logged = () => readFileSync(join(dir, 'log/barman.log'), 'utf8');
    const loggedBefore = logged().length;
    const second = await barman('-q', 'backup', '--wait', 'main');
    assert.equal(second.exitCode, 0, second.stderr);
    const [one, two] = backupIds();

    // Progress: plain lines on stdout (not a terminal), from the rsync processes' own reports.
    for (const [label, root, skip] of [
      ['tablespace tbs1', 'tbs', []],
      ['PGDATA', 'data', ['global/pg_control', 'backup_label', 'tablespace_map']],
    ] as const) {
      const oid = readdirSync(join(dir, 'home/main/base', one!)).find((name) => /^\d+$/.test(name))!;
      const onDisk = sumTrees([join(dir, 'home/main/base', one!, root === 'tbs' ? oid : root)], [...skip]);
      const lines = progressLines(first.stdout, label);
      assert.ok(lines.length >= 2, `a line at the start and at the end of ${label} in:\n${first.stdout}`);
      assert.equal(lines[0]!.bytesDone, 0);
      const last = lines.at(-1)!;
      assert.ok(last.final, first.stdout);
      assert.equal(last.percent, 100);
      assert.equal(last.filesDone, onDisk.files, label);
      assert.equal(last.filesTotal, onDisk.files, label);
      assert.ok(
        Math.abs(last.bytesDone - onDisk.bytes) <= onDisk.bytes * 0.01 + 64 * 1024,
        `${label}: ${last.bytesDone} reported, ${onDisk.bytes} on disk`,
      );
    }
    // -q: nothing on the console, but the log still has the lines; hard-linked files count as done.
    assert.equal(second.stdout, '');
    assert.doesNotMatch(second.stderr, /%/);
    const secondLog = progressLines(
      logged()
        .slice(loggedBefore)
        .split('\n')
        .map((line) => (line ? (JSON.parse(line) as { msg: string }).msg : ''))
        .join('\n'),
      'PGDATA',
    );
    assert.equal(secondLog.at(-1)?.percent, 100, 'final line of the second backup logged');
    assert.equal(secondLog.at(-1)?.filesDone, secondLog.at(-1)?.filesTotal);
    assert.equal(statSync(join(dir, 'home/main/base', two!, 'data/PG_VERSION')).nlink, 2);
    assert.equal(
      statSync(join(dir, 'home/main/base', two!, 'data/PG_VERSION')).uid,
      statSync(join(dir, 'home')).uid,
      'owned by barman',
    );
    assert.match(
      readFileSync(join(dir, 'home/main/base', two!, 'backup.info'), 'utf8'),
      /^mode=rsync-concurrent$/m,
    );
    // restore_command runs as postgres; the catalogue is barman's alone: get-wal over ssh as barman.
    const restoreCommand = `${sshd.sshCommand('postgres', 'barman')} ${process.execPath} ${BARMAN_BIN} -c ${config} -q get-wal main %f > %p`;
    for (const [id, rows] of [
      [one!, '30000'],
      [two!, '31000'],
    ] as const) {
      const copy = await restoreAndStart({
        backupDirectory: join(dir, 'home/main/base', id),
        config,
        server: 'main',
        restoreCommand,
      });
      restored.push(copy);
      const [count] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
      assert.equal(count!.n, rows);
    }
  });

  it('refuses to start when ssh is refused, writing nothing', async () => {
    const broken = writeRsyncConfig({
      dir,
      file: 'broken.conf',
      server: 'main',
      conninfo: pg.conninfo,
      sshCommand: 'ssh -o BatchMode=yes -o ConnectTimeout=3 -p 1 postgres@127.0.0.1',
      global: { compression: 'gzip' },
    });
    const run = await runBarman(['-c', broken, 'backup', 'main']);
    assert.equal(run.exitCode, 1);
    // The pre-backup check stops it before anything is written.
    const before = backupIds();
    assert.match(
      run.stderr,
      /ERROR: Impossible to start the backup: ssh .*Run 'barman check main' for details/,
    );
    assert.deepEqual(backupIds(), before);
  });
});

describe('backup_method = rsync against PostgreSQL 17 (embedded)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let config: string;
  const restored: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  before(async () => {
    await ensureOsUser('barman');
    dir = await makeTempDir('backup-rsync-pg17', { owner: 'barman' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'tbs']) mkdirSync(join(dir, sub), { recursive: true });
    await chownTo(join(dir, 'home'), 'barman');
    await chownTo(join(dir, 'tbs'), 'postgres');
    // The server's directories are barman's alone (check creates them): WAL arrives over ssh, as barman.
    const incoming = join(dir, 'home/pg17/incoming');
    sshd = await startSshd({ users: ['barman', 'postgres'] });
    pg = await startPostgres({
      version: 17,
      archiveCommand: `${sshd.sshCommand('postgres', 'barman')} 'test ! -f ${incoming}/%f && cat > ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f' < %p`,
      // PostgreSQL 17's WAL summaries (for incremental backups) live in pg_wal/summaries.
      settings: { summarize_wal: 'on' },
    });
    writeRsyncConfig({
      dir,
      server: 'pg17',
      conninfo: pg.conninfo,
      sshCommand: sshd.sshCommand('barman', 'postgres'),
    });
    await pg.query(`CREATE TABLESPACE tbs17 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE moved (id int) TABLESPACE tbs17');
    await pg.query('INSERT INTO moved SELECT generate_series(1, 20000)');
    await pg.query("CREATE TABLE t AS SELECT g AS id, 'pg17' AS note FROM generate_series(1, 30000) g");
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await pg?.stop();
    await sshd?.stop();
  });

  it('backs up over ssh; the copy and its WAL restore with the PostgreSQL 17 binaries', async () => {
    await barman('check', 'pg17'); // creates the server's directories
    // A first WAL file in the archive, as an operator does before the first backup.
    const first = await barman('switch-wal', '--force', '--archive', '--archive-timeout', '60', 'pg17');
    assert.equal(first.exitCode, 0, first.stderr);
    const checked = await barman('check', 'pg17');
    assert.equal(checked.exitCode, 0, `check passes before the backup:\n${checked.stdout}${checked.stderr}`);
    const run = await barman('backup', '--wait', 'pg17');
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    const id = readdirSync(join(dir, 'home/pg17/base')).at(-1)!;
    const info = readFileSync(join(dir, 'home/pg17/base', id, 'backup.info'), 'utf8');
    assert.match(info, /^status=DONE$/m);
    assert.match(info, /^version=17\d{4}$/m);
    assert.match(info, /^mode=rsync-concurrent$/m);
    assert.match(info, new RegExp(`^tablespaces=\\[\\('tbs17', \\d+, '${dir}/tbs'\\)\\]$`, 'm'));
    // Committed after the backup: recovery must replay the archived WAL to see it.
    await pg.query("INSERT INTO t SELECT g, 'after' FROM generate_series(30001, 31000) g");
    const switched = await barman('switch-wal', '--archive', '--archive-timeout', '60', 'pg17');
    assert.equal(switched.exitCode, 0, switched.stderr);
    // restore_command runs as postgres; the catalogue is barman's alone: get-wal over ssh as barman.
    const restoreCommand = `${sshd.sshCommand('postgres', 'barman')} ${process.execPath} ${BARMAN_BIN} -c ${config} -q get-wal pg17 %f > %p`;
    const copy = await restoreAndStart({
      backupDirectory: join(dir, 'home/pg17/base', id),
      config,
      server: 'pg17',
      restoreCommand,
      version: 17,
    });
    restored.push(copy);
    await waitForEndOfRecovery(copy);
    const [version] = await copy.query<{ v: string }>('SELECT current_setting($1) AS v', [
      'server_version_num',
    ]);
    assert.match(version!.v, /^17\d{4}$/);
    const [rows] = await copy.query<{ t: string; moved: string }>(
      'SELECT (SELECT count(*) FROM t) AS t, (SELECT count(*) FROM moved) AS moved',
    );
    assert.deepEqual({ ...rows }, { t: '31000', moved: '20000' });
    assert.equal((await barman('check', 'pg17')).exitCode, 0, 'check passes after the backup');
  });
});
