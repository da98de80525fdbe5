/**
 * Every option honoured or refused, seen through the built CLI: an option of a feature barman-ts
 * does not implement disables its server (check FAILED, list-server and show-server say why,
 * backup refuses); lock_directory_cleanup makes cron remove the lock files nobody holds and
 * never one in use (held by real flock(1) processes, as Barman or another barman-ts would).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  currentUserName,
  isRoot,
  makeTempDir,
  registerExitCleanup,
  runBarman,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';
import type { IniSection } from '../harness/index.js';

const USER = isRoot() ? 'root' : currentUserName();

describe('options of unimplemented features disable their server', () => {
  let dir: string;
  let config: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);

  before(async () => {
    dir = await makeTempDir('options-refused');
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      // No log_file: the line numbers below count from this text.
      global: { barman_user: USER, log_file: null, aws_await_snapshots_timeout: '100' },
      servers: {
        pg: {
          conninfo: 'host=127.0.0.1 port=1 dbname=postgres',
          ssh_command: 'ssh postgres@pg',
          archiver: 'on',
          backup_method: 'snapshot',
          snapshot_instance: 'pg-vm',
        },
        plain: {
          conninfo: 'host=127.0.0.1 port=1 dbname=postgres',
          ssh_command: 'ssh postgres@pg',
          archiver: 'on',
          aws_await_snapshots_timeout: '3600',
        },
      },
    });
  });

  it('check shows configuration FAILED naming file, section and option', async () => {
    const check = await barman('check', 'pg');
    assert.equal(check.exitCode, 1);
    assert.match(check.stdout, /^Server pg \(WARNING: disabled\):$/m);
    assert.match(check.stdout, /^\tconfiguration: FAILED$/m);
    const details = check.stdout.split('\tconfiguration: FAILED\n')[1]!;
    assert.match(
      details,
      /\[pg\] backup_method: 'snapshot' backups are not supported .*barman\.conf, line 10\)/,
    );
    assert.match(details, /\[pg\] snapshot_instance: not supported: .*line 11\)/);
    assert.match(
      details,
      /\[barman\] aws_await_snapshots_timeout: not supported: snapshot backups .*this server inherits it.*line 4\)/,
    );
    const json = JSON.parse((await barman('-f', 'json', 'check', 'pg')).stdout) as Record<
      string,
      Record<string, { status: string }>
    >;
    assert.equal(json.pg!.configuration!.status, 'FAILED');
  });

  it('list-server and show-server show the server disabled with the reasons', async () => {
    const list = await barman('list-server');
    assert.equal(list.exitCode, 0, list.stderr);
    assert.match(list.stdout, /^pg - .*\(WARNING: disabled\)$/m);
    assert.doesNotMatch(list.stdout, /^plain .*disabled/m);
    const show = await barman('-f', 'json', 'show-server', 'pg');
    const server = (JSON.parse(show.stdout) as Record<string, { disabled: boolean; msg_list: string[] }>).pg!;
    assert.equal(server.disabled, true);
    assert.equal(server.msg_list.filter((line) => /not supported/.test(line)).length, 3);
  });

  it('backup refuses before doing anything, and a server with the feature off works as usual', async () => {
    const backup = await barman('backup', 'pg');
    assert.equal(backup.exitCode, 1);
    assert.match(backup.stderr, /ERROR: \[pg\] snapshot_instance: not supported: snapshot backups/);
    assert.match(backup.stderr, /ERROR: Server 'pg' is disabled by configuration errors/);
    assert.equal(existsSync(join(dir, 'home/pg/base')), false, 'nothing written');
    const plain = await barman('-f', 'json', 'show-server', 'plain');
    assert.equal((JSON.parse(plain.stdout) as Record<string, { disabled: boolean }>).plain!.disabled, false);
  });
});

describe('backup flags a method cannot honour', () => {
  it('--reuse-backup link is refused with backup_method = postgres, before anything is written', async () => {
    const dir = await makeTempDir('options-flags');
    const config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: USER, log_file: null },
      servers: {
        pg: { conninfo: 'host=127.0.0.1 port=1 dbname=postgres', backup_method: 'postgres', archiver: 'on' },
      },
    });
    const run = await runBarman(['-c', config, 'backup', '--reuse-backup', 'link', 'pg']);
    assert.equal(run.exitCode, 1);
    assert.match(
      run.stderr,
      /^ERROR: --reuse-backup link is not supported with backup_method = postgres: only rsync and local-rsync/m,
    );
    assert.equal(existsSync(join(dir, 'home/pg/base')), false, 'nothing written');
  });
});

describe('lock_directory_cleanup: cron removes unused lock files, never one held', () => {
  let dir: string;
  const holders: ChildProcess[] = [];

  /** flock(1) holding `path` until killed (--no-fork: the holder is that very process). */
  async function holdLock(path: string, mode: '-x' | '-s'): Promise<void> {
    const child = spawn('flock', ['--no-fork', mode, path, 'sleep', '600'], { stdio: 'ignore' });
    holders.push(child);
    const unregister = registerExitCleanup(() => child.kill('SIGKILL'));
    child.on('exit', unregister);
    await waitFor(`flock on ${path}`, () => !isFree(path));
  }

  /** The lock is free when flock -n can take it (and give it back at once). */
  function isFree(path: string): boolean {
    return existsSync(path) && spawnSync('flock', ['-n', '-x', path, 'true']).status === 0;
  }

  before(async () => {
    dir = await makeTempDir('options-locks');
  });

  after(() => {
    for (const child of holders) child.kill('SIGKILL');
  });

  const setUp = (name: string, cleanup: IniSection) => {
    const home = join(dir, name);
    const locks = join(home, 'locks');
    mkdirSync(locks, { recursive: true });
    const config = writeBarmanConfig({
      dir: home,
      mode: 0o644,
      global: { barman_user: USER, barman_home: home, barman_lock_directory: locks, ...cleanup },
      servers: {
        pg: {
          conninfo: 'host=127.0.0.1 port=1 dbname=postgres',
          ssh_command: 'ssh postgres@pg',
          archiver: 'on',
        },
      },
    });
    for (const file of [
      '.pg-backup.lock',
      '.pg-receive-wal.lock',
      '.pg-20250101T000000.lock',
      '.other-cron.lock',
      '.pg-archive-wal.lock',
    ])
      writeFileSync(join(locks, file), '4242\n');
    writeFileSync(join(locks, 'notes.txt'), 'not a lock\n');
    return { config, locks };
  };

  it('removes the free ones at the end of cron, keeps held ones (exclusive and shared) held', async () => {
    const { config, locks } = setUp('on', {});
    await holdLock(join(locks, '.pg-backup.lock'), '-x');
    await holdLock(join(locks, '.pg-20250101T000000.lock'), '-s');
    const cron = await runBarman(['-c', config, 'cron']);
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.deepEqual(readdirSync(locks).sort(), ['.pg-20250101T000000.lock', '.pg-backup.lock', 'notes.txt']);
    assert.equal(readFileSync(join(locks, '.pg-backup.lock'), 'utf8'), '4242\n', 'a held lock is untouched');
    assert.equal(isFree(join(locks, '.pg-backup.lock')), false, 'still held by its process');
    assert.equal(isFree(join(locks, '.pg-20250101T000000.lock')), false);
  });

  it('lock_directory_cleanup = false leaves every lock file', async () => {
    const { config, locks } = setUp('off', { lock_directory_cleanup: false });
    const before = readdirSync(locks).sort();
    const cron = await runBarman(['-c', config, 'cron']);
    assert.equal(cron.exitCode, 0, cron.stderr);
    const left = readdirSync(locks).sort();
    for (const name of before) assert.ok(left.includes(name), name);
  });
});
