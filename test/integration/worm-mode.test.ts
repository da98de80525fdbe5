/**
 * worm_mode on a file system that really refuses changes: after each step, every file under
 * base/ and wals/ is made immutable (`chattr +i`, as write-once storage does once its grace
 * period ends; directories stay open to new entries, as on WORM appliances). Backup, archive-wal
 * (through cron), keep and recover keep working, since what changes lives in meta/ and
 * xlogdb_directory; delete and retention refuse whole, naming the file, and leave everything
 * as it was; replacing an immutable file fails clearly and leaves no temp file behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PosixStorage } from '../../src/storage/index.js';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

/** Every file below `directory` (find -type f): what the grace period's end protects. */
function filesBelow(directory: string): string[] {
  const out = execFileSync('find', [directory, '-type', 'f', '-print0'], { encoding: 'utf8' });
  return out.split('\0').filter(Boolean);
}

function makeImmutable(directories: string[]): number {
  const files = directories.flatMap(filesBelow);
  if (files.length > 0) execFileSync('chattr', ['+i', ...files]);
  return files.length;
}

/** The files with sizes and mtimes: "left as it was" is compared on it. */
function snapshot(directory: string): string[] {
  return execFileSync('find', [directory, '-type', 'f', '-printf', '%P %s %T@\\n'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Every file of `before` is still there, unchanged (cron may have archived new WAL beside them). */
function assertKept(before: string[], after: string[]): void {
  const now = new Set(after);
  assert.deepEqual(
    before.filter((line) => !now.has(line)),
    [],
  );
}

describe('worm_mode on an immutable file system', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir = '';
  let config = '';
  const started: PostgresServer[] = [];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  const home = () => join(dir, 'home/main');
  const backupIds = () => readdirSync(join(home(), 'base')).sort();
  const protect = () => makeImmutable([join(home(), 'base'), join(home(), 'wals')]);

  before(async () => {
    dir = await makeTempDir('worm', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'xlogdb', 'recovered']) {
      mkdirSync(join(dir, sub), { mode: 0o700 });
      await chownTo(join(dir, sub), 'postgres');
    }
    // The file system of the test directory must honour the immutable flag (ext4 does): fail
    // here, loudly, rather than pass on one that ignores it.
    execFileSync('chattr', ['+i', join(dir, 'xlogdb')]);
    assert.throws(() => mkdirSync(join(dir, 'xlogdb/probe')), /EPERM/);
    execFileSync('chattr', ['-i', join(dir, 'xlogdb')]);
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644,
      global: {
        barman_user: 'postgres',
        compression: 'gzip',
        worm_mode: 'on',
        xlogdb_directory: join(dir, 'xlogdb'),
      },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          archiver: 'on',
          immediate_checkpoint: 'on',
          path_prefix: '/usr/lib/postgresql/15/bin',
          retention_policy: 'REDUNDANCY 1',
        },
      },
    });
    await pg.query('CREATE TABLE items (id int)');
    await pg.query('INSERT INTO items SELECT generate_series(1, 1000)');
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    // Lift the flags, or nothing could remove the test directory.
    if (dir) execFileSync('chattr', ['-R', '-i', dir]);
  });

  it('a backup keeps backup.info in meta/ and the WAL index in xlogdb_directory', async () => {
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const check = await barman('check', 'main');
    assert.doesNotMatch(check.stdout, /FAILED/, check.stdout);
    assert.match(run.stdout, /'worm_mode' is enabled: the WAL files preceding the first backup are kept/);
    const [id] = backupIds();
    assert.ok(!existsSync(join(home(), 'base', id!, 'backup.info')), 'nothing that changes in base/');
    assert.match(readFileSync(join(home(), 'meta', `${id}-backup.info`), 'utf8'), /^status=DONE$/m);
    assert.ok(existsSync(join(dir, 'xlogdb/main-xlog.db')));
    assert.ok(!existsSync(join(home(), 'wals/xlog.db')) && !existsSync(join(home(), 'wals/main-xlog.db')));
    assert.ok(protect() > 5);
  });

  it('after the grace period: archive-wal, keep and a second backup still work', async () => {
    await pg.query('INSERT INTO items SELECT generate_series(1001, 2000)');
    await pg.query('SELECT pg_switch_wal()');
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    const [first] = backupIds();
    const keep = await barman('keep', 'main', first!, '--target', 'full');
    assert.equal(keep.exitCode, 0, keep.stderr);
    assert.equal(readFileSync(join(home(), 'meta', `${first}-keep`), 'utf8'), 'full');
    const shown = await barman('keep', 'main', first!, '--status');
    assert.match(shown.stdout, /Keep: full/);
    const release = await barman('keep', 'main', first!, '--release');
    assert.equal(release.exitCode, 0, release.stderr);
    assert.ok(!existsSync(join(home(), 'meta', `${first}-keep`)));
    const run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(backupIds().length, 2);
    protect();
  });

  it('retention keeps an obsolete backup that is still immutable, says so, changes nothing', async () => {
    const [first] = backupIds();
    const base = snapshot(join(home(), 'base'));
    const wals = snapshot(join(home(), 'wals'));
    const xlogDb = readFileSync(join(dir, 'xlogdb/main-xlog.db'), 'utf8');
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(
      cron.stderr + cron.stdout,
      new RegExp(
        `Retention policy: obsolete backup ${first} kept for now: cannot delete backup ${first}: .*/base/${first}/\\S+ is immutable .*nothing was removed`,
      ),
    );
    assert.deepEqual(snapshot(join(home(), 'base')), base);
    assertKept(wals, snapshot(join(home(), 'wals')));
    assert.ok(
      readFileSync(join(dir, 'xlogdb/main-xlog.db'), 'utf8').startsWith(xlogDb),
      'no WAL line dropped',
    );
    assert.ok(existsSync(join(home(), 'meta', `${first}-backup.info`)));
  });

  it('delete refuses clearly, before removing anything', async () => {
    const [first] = backupIds();
    const before = [snapshot(join(home(), 'base')), snapshot(join(home(), 'meta'))];
    const run = await barman('delete', 'main', first!);
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /is immutable \(the file system refuses to change or remove it\)/);
    assert.match(run.stderr, /until the storage lifts its protection/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual([snapshot(join(home(), 'base')), snapshot(join(home(), 'meta'))], before);
    const listed = await barman('list-backup', 'main');
    assert.match(listed.stdout, new RegExp(`^main ${first} `, 'm'));
  });

  it('replacing an immutable file fails naming it, leaving the file and no temp file', async () => {
    const [first] = backupIds();
    const storage = new PosixStorage(join(home(), 'base', first!));
    const original = readFileSync(join(home(), 'base', first!, 'data/backup_manifest'));
    await assert.rejects(storage.writeFile('data/backup_manifest', 'replaced'), (error: Error) => {
      assert.match(error.message, /operation not permitted/i);
      assert.match(error.message, /backup_manifest/);
      return true;
    });
    assert.deepEqual(readFileSync(join(home(), 'base', first!, 'data/backup_manifest')), original);
    assert.deepEqual(
      readdirSync(join(home(), 'base', first!, 'data')).filter((name) => name.includes('.tmp')),
      [],
    );
  });

  it('recover restores the latest backup from the immutable archive; PostgreSQL reads the rows', async () => {
    await pg.query('INSERT INTO items SELECT generate_series(2001, 3000)');
    const [mark] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await pg.query('SELECT pg_switch_wal()');
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    protect();
    const destination = join(dir, 'recovered/data');
    // WAL archived after the grace period (immutable too) replays up to the rows added last.
    const run = await barman(
      'recover',
      'main',
      'latest',
      destination,
      '--target-lsn',
      mark!.lsn,
      '--target-action',
      'promote',
    );
    assert.equal(run.exitCode, 0, run.stderr);
    execFileSync('chown', ['-R', 'postgres:', destination]);
    const server = await startRecoveredCopy(destination);
    started.push(server);
    const [row] = await server.query<{ n: string }>('SELECT count(*) AS n FROM items');
    assert.equal(row!.n, '3000');
  });

  it('once the protection ends, retention in cron deletes the obsolete backup and its WAL', async () => {
    const [first, second] = backupIds();
    // The storage's retention period ending: what it protected may go now.
    const firstWal = /^000000010000000000000001\t/m;
    assert.match(readFileSync(join(dir, 'xlogdb/main-xlog.db'), 'utf8'), firstWal);
    execFileSync('chattr', ['-R', '-i', join(home(), 'base'), join(home(), 'wals')]);
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(
      cron.stdout,
      new RegExp(`Enforcing retention policy: removing backup ${first} for server main`),
    );
    assert.deepEqual(backupIds(), [second]);
    assert.ok(!existsSync(join(home(), 'meta', `${first}-backup.info`)));
    const xlogDb = readFileSync(join(dir, 'xlogdb/main-xlog.db'), 'utf8');
    assert.doesNotMatch(
      xlogDb,
      /^000000010000000000000001\t/m,
      'the WAL before the first backup is gone too',
    );
  });
});
