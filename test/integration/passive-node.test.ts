/**
 * Geographical redundancy: a barman-ts passive node (OS user barmanp, its own barman_home) syncing
 * from a barman-ts primary (OS user barman) over a real sshd, with `barman` on the primary's
 * PATH. The passive node refuses backups, copies backups and WAL with cron, and recovers a
 * synced backup that PostgreSQL starts on; a sync killed mid-copy (its ssh links die with it)
 * leaves the backup SYNCING, never DONE, and the next run finishes it; a backup the primary
 * deletes during a sync is marked FAILED, then purged; one the local retention policy would make
 * obsolete at once is not copied.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  createDir,
  ensureOsUser,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  writeBarmanConfig,
} from '../harness/index.js';

const PRIMARY_USER = 'barman';

interface SyncInfoDocument {
  backups: Record<string, { status: string; begin_time: string }>;
  wals: Array<Record<string, unknown>>;
  config: { name: string; wals_directory: string };
  last_name: string;
  last_position: number;
}
const PASSIVE_USER = 'barmanp';

describe('passive node syncing from a barman-ts primary over ssh', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let sshd: SshServer;
  let dir: string;
  let primaryConfig: string;
  let passiveConfig: string;
  let firstBackup: string;
  const started: PostgresServer[] = [];
  const primary = (...args: string[]) => runBarman(['-c', primaryConfig, ...args], { timeoutMs: 300_000 });
  const passive = (...args: string[]) => runBarman(['-c', passiveConfig, ...args], { timeoutMs: 300_000 });
  const passiveBase = () => join(dir, 'passive-home/main/base');
  const statusIn = (id: string) =>
    /^status=(\S+)$/m.exec(readFileSync(join(passiveBase(), id, 'backup.info'), 'utf8'))?.[1];

  function passiveSettings(extra: Record<string, string | number> = {}): void {
    passiveConfig = writeBarmanConfig({
      dir,
      file: 'passive.conf',
      mode: 0o644,
      global: {
        barman_user: PASSIVE_USER,
        barman_home: join(dir, 'passive-home'),
        log_file: join(dir, 'passive-home/barman.log'),
        compression: 'gzip',
      },
      servers: {
        main: {
          description: '"second site"',
          primary_ssh_command: sshd.sshCommand(PASSIVE_USER, PRIMARY_USER),
          parallel_jobs: 2,
          network_compression: 'on',
          ...extra,
        },
      },
    });
  }

  before(async () => {
    await ensureOsUser(PRIMARY_USER);
    await ensureOsUser(PASSIVE_USER);
    dir = await makeTempDir('passive-node');
    chmodSync(dir, 0o755);
    const bin = await createDir(join(dir, 'bin'));
    await createDir(join(dir, 'primary-home/main/incoming'), { owner: PRIMARY_USER });
    await chownTo(join(dir, 'primary-home'), PRIMARY_USER);
    await chownTo(join(dir, 'primary-home/main'), PRIMARY_USER);
    chmodSync(join(dir, 'primary-home/main/incoming'), 0o777);
    await createDir(join(dir, 'passive-home'), { owner: PASSIVE_USER });
    await createDir(join(dir, 'target'), { owner: PASSIVE_USER });
    primaryConfig = join(dir, 'primary.conf');
    // `barman` on the primary host: barman-ts with the primary's configuration.
    writeFileSync(
      join(bin, 'barman'),
      `#!/bin/sh\nexec ${process.execPath} ${BARMAN_BIN} -c ${primaryConfig} "$@"\n`,
      { mode: 0o755 },
    );
    sshd = await startSshd({
      users: [PRIMARY_USER, PASSIVE_USER],
      setEnv: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` },
    });
    const incoming = join(dir, 'primary-home/main/incoming');
    pg = await startPostgres({
      version: 15,
      archiveCommand: `test ! -f ${incoming}/%f && cp %p ${incoming}/.%f.tmp && chmod 0644 ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
    });
    writeBarmanConfig({
      dir,
      file: 'primary.conf',
      mode: 0o644,
      global: {
        barman_user: PRIMARY_USER,
        barman_home: join(dir, 'primary-home'),
        log_file: join(dir, 'primary-home/barman.log'),
        compression: 'gzip',
      },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'postgres',
          immediate_checkpoint: 'on',
          archiver: 'on',
          path_prefix: '/usr/lib/postgresql/15/bin',
        },
      },
    });
    passiveSettings();
    await pg.query('CREATE TABLE t (id int, pad text)');
    await pg.query("INSERT INTO t SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i");
    const run = await primary('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    firstBackup = readdirSync(join(dir, 'primary-home/main/base'))[0]!;
    await pg.query("INSERT INTO t SELECT i, 'after' FROM generate_series(20001, 21000) i");
    const switched = await primary('switch-wal', '--force', '--archive', 'main');
    assert.equal(switched.exitCode, 0, switched.stderr);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    await sshd?.stop();
  });

  it('refuses to back up a passive node, as Barman does', async () => {
    const run = await passive('backup', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout + run.stderr, /Skipping passive server 'main'/);
    assert.equal(existsSync(passiveBase()), false, 'no backup directory created');
    const list = await passive('list-server');
    assert.match(list.stdout, /^main - second site \(Passive\)$/m);
  });

  it('answers sync-info on the primary with Barman’s JSON', async () => {
    const run = await primary('sync-info', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const info = JSON.parse(run.stdout) as SyncInfoDocument;
    assert.deepEqual(Object.keys(info.backups), [firstBackup]);
    assert.equal(info.backups[firstBackup]!.status, 'DONE');
    assert.match(info.backups[firstBackup]!.begin_time, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.ok(info.wals.length > 0);
    assert.deepEqual(Object.keys(info.wals[0]!).sort(), ['compression', 'name', 'size', 'time']);
    assert.equal(info.config.name, 'main');
    assert.equal(info.config.wals_directory, join(dir, 'primary-home/main/wals'));
    const xlog = readFileSync(join(dir, 'primary-home/main/wals/xlog.db'), 'utf8');
    assert.equal(xlog.slice(info.last_position).split('\t')[0], info.last_name);
    // From the last position: nothing newer.
    const again = await primary('sync-info', 'main', info.last_name, String(info.last_position));
    assert.equal(again.exitCode, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as SyncInfoDocument).wals, []);
    const ahead = await primary('sync-info', 'main', 'FFFFFFFF0000000000000001');
    assert.equal(ahead.exitCode, 1);
    assert.match(ahead.stderr + ahead.stdout, /is newer than the last available wal/);
  });

  it('syncs with cron and recovers a synced backup that PostgreSQL starts on', async () => {
    const cron = await passive('cron');
    assert.equal(cron.exitCode, 0, cron.stdout + cron.stderr);
    assert.equal(statusIn(firstBackup), 'DONE');
    assert.ok(existsSync(join(dir, 'passive-home/main/primary.info')));
    assert.match(
      readFileSync(join(dir, 'passive-home/main/wals/sync-wals.info'), 'utf8'),
      /^[0-9A-F]{24}\t\d+$/,
    );
    const list = await passive('list-backup', 'main');
    assert.match(list.stdout, new RegExp(`^main ${firstBackup} - `, 'm'));
    const status = await passive('status', 'main');
    assert.match(status.stdout, /Passive node: True/);
    assert.match(status.stdout, /SSH command to primary server: ssh /);
    const check = await passive('check', 'main');
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /ssh: OK \(primary Barman server\)/);
    assert.doesNotMatch(check.stdout, /PostgreSQL/);
    const target = join(dir, 'target/data');
    const recover = await passive('recover', 'main', firstBackup, target);
    assert.equal(recover.exitCode, 0, recover.stderr);
    const copy = await startRecoveredCopy(target, { user: PASSIVE_USER });
    started.push(copy);
    const [row] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM t');
    assert.equal(Number(row!.n), 21000, 'rows of the backup and of the synced WAL');
  });

  it('resumes a sync killed mid-copy, never listing the backup DONE early', async () => {
    await pg.query("INSERT INTO t SELECT i, repeat('y', 500) FROM generate_series(1, 100000) i");
    const run = await primary('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const second = readdirSync(join(dir, 'primary-home/main/base')).sort().at(-1)!;
    passiveSettings({ bandwidth_limit: 2000, parallel_jobs: 1 });
    const refreshed = await passive('sync-info', '--primary', 'main');
    assert.equal(refreshed.exitCode, 0, refreshed.stderr);
    const child = spawn(process.execPath, [BARMAN_BIN, '-c', passiveConfig, 'sync-backup', 'main', second], {
      detached: true,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('close', resolve));
    await waitUntil(() => existsSync(join(passiveBase(), second, 'data')), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    process.kill(-child.pid!, 'SIGKILL'); // the whole group: rsync and ssh die too (the link drops)
    await exited;
    assert.equal(statusIn(second), 'SYNCING');
    const list = await passive('list-backup', 'main');
    assert.doesNotMatch(list.stdout, new RegExp(`${second} - .*(FINISHED|DONE)`));
    passiveSettings();
    const resumed = await passive('sync-backup', 'main', second);
    assert.equal(resumed.exitCode, 0, resumed.stdout + resumed.stderr);
    assert.equal(statusIn(second), 'DONE');
    const verify = await passive('check-backup', 'main', second);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
  });

  it('marks FAILED, then purges, a backup the primary deletes during the sync', async () => {
    const run = await primary('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const third = readdirSync(join(dir, 'primary-home/main/base')).sort().at(-1)!;
    passiveSettings({ bandwidth_limit: 2000, parallel_jobs: 1 });
    assert.equal((await passive('sync-info', '--primary', 'main')).exitCode, 0);
    const sync = passive('sync-backup', 'main', third);
    await waitUntil(() => existsSync(join(passiveBase(), third, 'data')), 60_000);
    const deleted = await primary('delete', 'main', third);
    assert.equal(deleted.exitCode, 0, deleted.stderr);
    const outcome = await sync;
    assert.notEqual(outcome.exitCode, 0);
    assert.match(outcome.stdout + outcome.stderr, /failure syncing server main backup/);
    assert.equal(statusIn(third), 'FAILED');
    passiveSettings();
    const cron = await passive('cron');
    assert.match(
      cron.stdout + cron.stderr,
      /is absent on main server and is incomplete locally, purging local backup/,
    );
    assert.equal(existsSync(join(passiveBase(), third)), false);
  });

  it('does not copy a backup the local retention policy would make obsolete at once', async () => {
    const deleted = await passive('delete', 'main', firstBackup);
    assert.equal(deleted.exitCode, 0, deleted.stdout + deleted.stderr);
    passiveSettings({ retention_policy: 'REDUNDANCY 1' });
    assert.equal((await passive('sync-info', '--primary', 'main')).exitCode, 0);
    const run = await passive('sync-backup', 'main', firstBackup);
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.match(
      run.stdout + run.stderr,
      new RegExp(`Remote backup main/${firstBackup} is obsolete for local retention policies`),
    );
    assert.equal(existsSync(join(passiveBase(), firstBackup)), false);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
