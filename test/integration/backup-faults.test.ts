/**
 * `barman backup` when things go wrong, against a real PostgreSQL 15 holding a pgbench database
 * (about 150 MB, copied with bandwidth_limit so that a copy takes seconds): kill -9 mid-copy
 * (STARTED in the listings, then FAILED "interrupted" by the next backup, which succeeds),
 * PostgreSQL stopped mid-copy, rsync missing from PATH, a full disk (tmpfs barman_home), a
 * pre_backup_retry_script asking to stop (exit 63) and a failing post_backup_script (a warning).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IniSection, PostgresServer, RunningBarman } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  createDir,
  isRoot,
  makeTempDir,
  registerExitCleanup,
  runAs,
  runBarman,
  startBarman,
  startPostgres,
  waitFor,
  writeBarmanConfig,
  readBackupInfoFields,
} from '../harness/index.js';

const PG15_BIN = '/usr/lib/postgresql/15/bin';

/** Total size of the regular files under `directory` (0 while it does not exist). */
function treeSize(directory: string): number {
  let size = 0;
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      try {
        if (entry.isDirectory()) walk(child);
        else if (entry.isFile()) size += statSync(child).size;
      } catch {
        // removed meanwhile
      }
    }
  };
  if (existsSync(directory)) walk(directory);
  return size;
}

describe('backup faults', { concurrency: 1, skip: !isRoot() && 'needs root (mount, users)' }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  const baseOf = (server: string, home = join(dir, 'home')) => join(home, server, 'base');
  const backupIds = (server: string, home?: string) =>
    existsSync(baseOf(server, home)) ? readdirSync(baseOf(server, home)).sort() : [];
  const infoOf = (server: string, id: string, home?: string) =>
    readBackupInfoFields(join(baseOf(server, home), id, 'backup.info'));
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 150_000 });
  /**
   * A configuration file (archive_command, run as postgres, reads it): [main] with `main` set
   * over its options, `global` over [barman]'s.
   */
  const writeConfig = (file: string, main: IniSection = {}, global: IniSection = {}): string =>
    writeBarmanConfig({
      dir,
      file,
      mode: 0o644,
      global: { barman_user: 'postgres', ...global },
      servers: {
        main: {
          conninfo: pg.conninfo,
          backup_method: 'local-rsync',
          reuse_backup: 'link',
          parallel_jobs: 2,
          immediate_checkpoint: true,
          archiver: true,
          path_prefix: PG15_BIN,
          ...main,
        },
      },
    });
  /** Starts a bandwidth-limited backup and resolves once it is copying (STARTED, data arriving). */
  const startSlowBackup = async (): Promise<{ run: RunningBarman; id: string }> => {
    const slow = writeConfig('slow.conf', { bandwidth_limit: 30000, reuse_backup: 'off' });
    const known = new Set(backupIds('main'));
    const run = startBarman(['-c', slow, 'backup', 'main']);
    let id = '';
    await waitFor(
      'the backup to be copying',
      () => {
        id = backupIds('main').find((other) => !known.has(other)) ?? '';
        if (!id || !existsSync(join(baseOf('main'), id, 'backup.info'))) return false;
        return infoOf('main', id).status === 'STARTED' && treeSize(join(baseOf('main'), id, 'data')) > 20e6;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return { run, id };
  };

  before(async () => {
    dir = await makeTempDir('backup-faults', { owner: 'postgres' });
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'log']) await createDir(join(dir, sub), { owner: 'postgres' });
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
      settings: { max_wal_size: '1GB' },
    });
    writeConfig(config);
    await runAs('postgres', join(PG15_BIN, 'pgbench'), [
      ...['-i', '-q', '-s', '10', '-h', pg.host, '-p', String(pg.port), '-U', 'postgres', 'postgres'],
    ]);
    // A first WAL file in the archive, and a first DONE backup to compare the others with.
    const first = await barman('backup', '--wait', 'main');
    assert.equal(first.exitCode, 0, first.stderr);
  });

  after(async () => {
    await pg?.stop();
  });

  it('a pre_backup_retry_script exiting 63 aborts the backup with a clear message', async () => {
    const stopper = writeConfig('stopper.conf', { pre_backup_retry_script: 'exit 63' });
    const before = backupIds('main');
    const run = await runBarman(['-c', stopper, 'backup', 'main']);
    assert.equal(run.exitCode, 1);
    assert.equal(
      run.stderr,
      'ERROR: Backup failed running the pre_backup scripts.\n' +
        'DETAILS: pre_backup_retry_script requested to stop (exit status 63)\n',
    );
    const id = backupIds('main').find((other) => !before.includes(other))!;
    const info = infoOf('main', id);
    assert.equal(info.status, 'FAILED');
    assert.equal(
      info.error,
      'failure running the pre_backup scripts (pre_backup_retry_script requested to stop (exit status 63))',
    );
    assert.deepEqual(readdirSync(join(baseOf('main'), id)), ['backup.info'], 'nothing was copied');
  });

  it('a failing post_backup_script is only a warning: the backup is DONE', async () => {
    const failing = writeConfig('post.conf', { post_backup_script: 'echo "post hook broke" >&2; exit 5' });
    const run = await runBarman(['-c', failing, 'backup', '--wait', 'main'], { timeoutMs: 150_000 });
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stderr, /^WARNING: post_backup_script .*(5|post hook broke)/m);
    assert.doesNotMatch(run.stderr, /ERROR/);
    assert.equal(infoOf('main', backupIds('main').at(-1)!).status, 'DONE');
  });

  it('kill -9 mid-copy: STARTED in the listings, then FAILED by the next backup, which succeeds', async () => {
    const { run, id } = await startSlowBackup();
    run.child.kill('SIGKILL');
    const killed = await run.exited;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(infoOf('main', id).status, 'STARTED');

    // PostgreSQL ended the backup with its session: no backup is left running there.
    await waitFor('the backup session to end', async () => {
      const rows = await pg.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'barman'",
      );
      return rows[0]!.n === '0';
    });

    const listing = await barman('list-backup', 'main');
    assert.equal(listing.exitCode, 0, listing.stderr);
    assert.match(listing.stdout, new RegExp(`^main ${id} - STARTED$`, 'm'));
    const shown = await barman('show-backup', 'main', id);
    assert.equal(shown.exitCode, 0, shown.stderr);
    assert.match(shown.stdout, /Status\s+: STARTED/);
    const check = await barman('check', 'main');
    assert.equal(check.stderr, '', 'check copes with the interrupted backup');
    assert.match(check.stdout, /^Server main:$/m);
    assert.match(
      check.stdout,
      /^\tfailed backups: FAILED \(.*1 interrupted backups \(the next backup marks them FAILED\)\)$/m,
    );

    const next = await barman('backup', '--wait', 'main');
    assert.equal(next.exitCode, 0, next.stderr);
    assert.match(
      next.stderr,
      new RegExp(`^WARNING: backup ${id} was interrupted \\(status STARTED\\); marking it FAILED$`, 'm'),
    );
    const failed = infoOf('main', id);
    assert.equal(failed.status, 'FAILED');
    assert.match(failed.error!, /interrupted/);
    assert.equal(infoOf('main', backupIds('main').at(-1)!).status, 'DONE');
    const after = await barman('list-backup', 'main');
    assert.match(after.stdout, new RegExp(`^main ${id} - FAILED$`, 'm'));
    const shownFailed = await barman('show-backup', 'main', id);
    assert.equal(shownFailed.exitCode, 0, shownFailed.stderr);
  });

  it('kill -9 at many early points: list-backup and show-backup always work, the next backup cleans up', async (t) => {
    const before = new Set(backupIds('main'));
    const slow = writeConfig('slow.conf', { bandwidth_limit: 30000, reuse_backup: 'off' });
    const outcomes: string[] = [];
    for (const delay of [100, 250, 400, 550, 700, 900]) {
      const run = startBarman(['-c', slow, 'backup', 'main']);
      await Promise.race([run.exited, new Promise((resolve) => setTimeout(resolve, delay))]);
      run.child.kill('SIGKILL');
      const result = await run.exited;
      const created = backupIds('main').filter((id) => !before.has(id));
      const last = created.at(-1);
      const state =
        last && existsSync(join(baseOf('main'), last, 'backup.info')) ? infoOf('main', last).status : '-';
      outcomes.push(`${delay} ms: ${result.signal ?? result.exitCode} ${state}`);
      const listing = await barman('list-backup', 'main');
      assert.equal(listing.exitCode, 0, listing.stderr);
      for (const line of listing.stdout.trim().split('\n')) {
        const id = line.split(' ')[1]!;
        const shown = await barman('show-backup', 'main', id);
        assert.equal(shown.exitCode, 0, `show-backup ${id}: ${shown.stderr}`);
      }
    }
    t.diagnostic(`kill points: ${outcomes.join('; ')}`);
    // What a deletion killed after removing backup.info leaves (the kills above may leave one too).
    const leftover = join(baseOf('main'), '20000101T000000');
    execFileSync('mkdir', ['-p', join(leftover, 'data', 'base')]);
    writeFileSync(join(leftover, 'data', 'PG_VERSION'), '15\n');
    execFileSync('chown', ['-R', 'postgres:', leftover]);
    const next = await barman('backup', '--wait', 'main');
    assert.equal(next.exitCode, 0, `${outcomes.join('\n')}\n${next.stderr}`);
    assert.match(
      next.stderr,
      new RegExp(
        `^WARNING: removing ${leftover}: left without backup.info by an interrupted backup or deletion$`,
        'm',
      ),
    );
    assert.ok(!existsSync(leftover), 'the next backup removes a directory left without backup.info');
    for (const id of backupIds('main').filter((other) => !before.has(other))) {
      assert.ok(existsSync(join(baseOf('main'), id, 'backup.info')), `${id} has a backup.info or is gone`);
      assert.match(infoOf('main', id).status!, /^(FAILED|DONE)$/, `${id} after the next backup`);
    }
    assert.equal(infoOf('main', backupIds('main').at(-1)!).status, 'DONE');
  });

  it('PostgreSQL stopped mid-copy: the backup stops at once, FAILED with a clear error', async (t) => {
    const { run, id } = await startSlowBackup();
    const stopped = Date.now();
    await runAs('postgres', join(pg.binDir, 'pg_ctl'), ['-D', pg.dataDir, '-m', 'fast', '-w', 'stop']);
    try {
      const result = await run.exited;
      t.diagnostic(result.stderr.trim().replaceAll('\n', ' | '));
      assert.equal(result.exitCode, 1, result.stderr);
      assert.ok(Date.now() - stopped < 10_000, 'the copy did not go on to its end');
      assert.match(
        result.stderr,
        /^ERROR: Backup failed copying files\.\nDETAILS: the PostgreSQL session holding the backup was lost during the copy \(.*terminating connection due to administrator command.*\): PostgreSQL ended the backup with it$/m,
      );
      const info = infoOf('main', id);
      assert.equal(info.status, 'FAILED');
      assert.match(
        info.error!,
        /^failure copying files \(the PostgreSQL session holding the backup was lost/,
      );
    } finally {
      await runAs('postgres', join(pg.binDir, 'pg_ctl'), [
        ...['-D', pg.dataDir, '-l', pg.logFile, '-w', '-t', '60', 'start'],
      ]);
    }
    const listing = await barman('list-backup', 'main');
    assert.match(listing.stdout, new RegExp(`^main ${id} - FAILED$`, 'm'));
  });

  it('rsync missing from PATH: a clear error before the backup starts on the server', async () => {
    // A PATH with the usual tools but no rsync, and an "ssh" that runs the command locally.
    const bin = await createDir(join(dir, 'bin-without-rsync'));
    for (const tool of ['sh', 'getent', 'find', 'cat', 'env', 'true'])
      if (!existsSync(join(bin, tool)))
        symlinkSync(execFileSync('which', [tool]).toString().trim(), join(bin, tool));
    const fakeSsh = join(dir, 'fake-ssh');
    writeFileSync(fakeSsh, '#!/bin/sh\nexec /bin/sh -c "$1"\n');
    chmodSync(fakeSsh, 0o755);
    const rsyncConfig = writeConfig('rsync.conf', {
      backup_method: 'rsync',
      ssh_command: fakeSsh,
      path_prefix: null,
    });
    const before = backupIds('main');
    const run = await runBarman(['-c', rsyncConfig, 'backup', 'main'], { env: { PATH: bin } });
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stderr,
      /^ERROR: Backup failed initialising rsync backup_method\.\nDETAILS: rsync not found in path_prefix or PATH$/m,
    );
    const id = backupIds('main').find((other) => !before.includes(other))!;
    assert.equal(infoOf('main', id).status, 'FAILED');
    assert.deepEqual(readdirSync(join(baseOf('main'), id)), ['backup.info']);
  });

  describe('a full disk (tmpfs barman_home)', { concurrency: 1 }, () => {
    let mount: string;
    let fullConfig: string;
    let unmount: (() => void) | undefined;

    before(async () => {
      mount = await createDir(join(dir, 'full'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', mount]);
      const unregister = registerExitCleanup(() => execFileSync('umount', ['-l', mount]));
      unmount = () => {
        unregister();
        execFileSync('umount', [mount]);
      };
      await chownTo(mount, 'postgres');
      fullConfig = writeConfig('full.conf', {}, { barman_home: mount });
    });

    after(() => unmount?.());

    it('FAILED with a clear ENOSPC message; the partial copy goes, later runs work', async (t) => {
      const run = await runBarman(['-c', fullConfig, 'backup', 'main'], { timeoutMs: 120_000 });
      t.diagnostic(run.stderr.trim().replaceAll('\n', ' | '));
      assert.equal(run.exitCode, 1, run.stdout);
      assert.match(
        run.stderr,
        /^ERROR: Backup failed copying files\.\nDETAILS: .*ENOSPC: no space left on device/m,
      );
      assert.match(
        run.stderr,
        /^ERROR: No space left on the device of .*: the partial copy of backup \d{8}T\d{6} was removed \(its backup\.info is kept, FAILED\)$/m,
      );
      const [id] = backupIds('main', mount);
      const info = infoOf('main', id!, mount);
      assert.equal(info.status, 'FAILED');
      assert.match(info.error!, /^failure copying files \(.*no space left on device/i);
      assert.deepEqual(readdirSync(join(baseOf('main', mount), id!)), ['backup.info']);

      // The catalogue still reads, and a second attempt fails the same clean way.
      const listing = await runBarman(['-c', fullConfig, 'list-backup', 'main']);
      assert.equal(listing.exitCode, 0, listing.stderr);
      assert.match(listing.stdout, new RegExp(`^main ${id} - FAILED$`, 'm'));
      const again = await runBarman(['-c', fullConfig, 'backup', 'main'], { timeoutMs: 120_000 });
      assert.equal(again.exitCode, 1);
      assert.match(again.stderr, /ENOSPC/);

      // Room again: the next backup completes its copy.
      execFileSync('mount', ['-o', 'remount,size=600m', mount]);
      const ok = await runBarman(['-c', fullConfig, 'backup', 'main'], { timeoutMs: 120_000 });
      assert.equal(ok.exitCode, 0, ok.stderr);
      const last = backupIds('main', mount).at(-1)!;
      assert.match(infoOf('main', last, mount).status!, /^(WAITING_FOR_WALS|DONE)$/);
      assert.equal(
        backupIds('main', mount).filter((other) => infoOf('main', other, mount).status === 'FAILED').length,
        2,
      );
    });
  });
});
