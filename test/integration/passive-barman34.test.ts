/**
 * Passive nodes across implementations, over real sshds (one per primary, each putting its own
 * `barman` first on PATH), with the passive homes owned by another OS user than the primaries':
 * Debian's Barman 3.4 as a passive node of a barman-ts primary, and barman-ts as a passive node
 * of a Barman 3.4 primary. Each passive node recovers the synced backup with its own `recover`
 * and PostgreSQL starts on it with every row.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  createDir,
  ensureOsUser,
  makeTempDir,
  requireDebianPackages,
  runBarman,
  runCompletely,
  startPostgres,
  startRecoveredCopy,
  startSshd,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const PRIMARY_USER = 'barman';
const PASSIVE_USER = 'barmanp';
const ROWS = 30000;

describe('passive nodes with Barman 3.4 on either side', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  const sshds: SshServer[] = [];
  const started: PostgresServer[] = [];
  const file = (name: string) => join(dir, name);
  const barmanTs = (user: string, config: string, ...args: string[]) =>
    runBarman(['-c', file(config), ...args], { user, timeoutMs: 300_000 });
  const barman34 = (user: string, config: string, ...args: string[]) =>
    runCompletely(user, '/usr/bin/barman', ['-c', file(config), ...args], { timeoutMs: 300_000 });

  /** An sshd whose sessions find `barman` (this wrapper) first on PATH. */
  async function sshdRunning(name: string, wrapper: string): Promise<SshServer> {
    const bin = await createDir(file(`bin-${name}`));
    writeFileSync(join(bin, 'barman'), `#!/bin/sh\n${wrapper}\n`, { mode: 0o755 });
    const sshd = await startSshd({
      users: [PRIMARY_USER, PASSIVE_USER],
      setEnv: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` },
    });
    sshds.push(sshd);
    return sshd;
  }

  function primaryServer(name: string) {
    return {
      conninfo: pg.conninfo,
      streaming_conninfo: pg.conninfo,
      backup_method: 'postgres',
      archiver: 'on',
      immediate_checkpoint: 'on',
      incoming_wals_directory: file(`incoming-${name}`),
      path_prefix: '/usr/lib/postgresql/15/bin',
    };
  }

  function globals(user: string, home: string) {
    return {
      barman_user: user,
      barman_home: file(home),
      log_file: file(`${home}/barman.log`),
      compression: 'gzip',
    };
  }

  async function recoverAndCount(
    run: Promise<{ exitCode: number | null; stdout: string; stderr: string }>,
    target: string,
  ) {
    const recovered = await run;
    assert.equal(recovered.exitCode, 0, recovered.stdout + recovered.stderr);
    const copy = await startRecoveredCopy(target, { user: PASSIVE_USER });
    started.push(copy);
    const [row] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM t');
    return Number(row!.n);
  }

  before(async () => {
    requireDebianPackages('barman');
    await ensureOsUser(PRIMARY_USER);
    await ensureOsUser(PASSIVE_USER);
    dir = await makeTempDir('passive-b34');
    chmodSync(dir, 0o755);
    for (const home of ['primary-home']) await createDir(file(home), { owner: PRIMARY_USER });
    for (const home of ['passive-home', 'target']) await createDir(file(home), { owner: PASSIVE_USER });
    for (const name of ['tsmain', 'b34main']) {
      await createDir(file(`incoming-${name}`), { owner: PRIMARY_USER });
      chmodSync(file(`incoming-${name}`), 0o777);
    }
    const copyTo = (name: string) =>
      `cp %p ${file(`incoming-${name}`)}/.%f.tmp && chmod 0644 ${file(`incoming-${name}`)}/.%f.tmp && mv ${file(`incoming-${name}`)}/.%f.tmp ${file(`incoming-${name}`)}/%f`;
    pg = await startPostgres({ version: 15, archiveCommand: `${copyTo('tsmain')} && ${copyTo('b34main')}` });
    writeBarmanConfig({
      dir,
      file: 'primary.conf',
      mode: 0o644,
      global: globals(PRIMARY_USER, 'primary-home'),
      servers: { tsmain: primaryServer('tsmain'), b34main: primaryServer('b34main') },
    });
    await pg.query('CREATE TABLE t (id int, pad text)');
    await pg.query(`INSERT INTO t SELECT i, repeat('z', 100) FROM generate_series(1, ${ROWS}) i`);
    const tsBackup = await barmanTs(PRIMARY_USER, 'primary.conf', 'backup', '--wait', 'tsmain');
    assert.equal(tsBackup.exitCode, 0, tsBackup.stdout + tsBackup.stderr);
    // Barman 3.4 takes no first backup before a WAL file was archived ('WAL archive' check).
    await pg.query('SELECT pg_switch_wal()');
    await waitFor('a WAL file in incoming', () =>
      readdirSync(file('incoming-b34main')).some((name) => /^[0-9A-F]{24}$/.test(name)),
    );
    const first = await barman34(PRIMARY_USER, 'primary.conf', 'archive-wal', 'b34main');
    assert.equal(first.exitCode, 0, first.stdout + first.stderr);
    const b34Backup = await barman34(
      PRIMARY_USER,
      'primary.conf',
      'backup',
      '--wait',
      '--wait-timeout',
      '120',
      'b34main',
    );
    if (b34Backup.exitCode !== 0) {
      const check = await barman34(PRIMARY_USER, 'primary.conf', 'check', 'b34main');
      assert.fail(
        `${b34Backup.stdout}${b34Backup.stderr}\n${check.stdout}\n${readFileSync(file('primary-home/barman.log'), 'utf8').slice(-3000)}`,
      );
    }
    const tsSshd = await sshdRunning(
      'ts',
      `exec ${process.execPath} ${BARMAN_BIN} -c ${file('primary.conf')} "$@"`,
    );
    const b34Sshd = await sshdRunning('b34', `exec /usr/bin/barman -c ${file('primary.conf')} "$@"`);
    for (const [config, tool, server, sshd] of [
      ['passive34.conf', 'b34', 'tsmain', tsSshd],
      ['passivets.conf', 'ts', 'b34main', b34Sshd],
    ] as const) {
      writeBarmanConfig({
        dir,
        file: config,
        mode: 0o644,
        global: globals(PASSIVE_USER, `passive-home/${tool}`),
        servers: { [server]: { primary_ssh_command: sshd.sshCommand(PASSIVE_USER, PRIMARY_USER) } },
      });
      await createDir(file(`passive-home/${tool}`), { owner: PASSIVE_USER });
    }
    await chownTo(file('passive-home'), PASSIVE_USER);
  });

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    for (const sshd of sshds) await sshd.stop();
  });

  it('Barman 3.4 as a passive node of a barman-ts primary', async () => {
    const id = readdirSync(file('primary-home/tsmain/base'))[0]!;
    const info = await barman34(PASSIVE_USER, 'passive34.conf', 'sync-info', '--primary', 'tsmain');
    assert.equal(info.exitCode, 0, info.stdout + info.stderr);
    const synced = await barman34(PASSIVE_USER, 'passive34.conf', 'sync-backup', 'tsmain', id);
    assert.equal(synced.exitCode, 0, synced.stdout + synced.stderr);
    const wals = await barman34(PASSIVE_USER, 'passive34.conf', 'sync-wals', 'tsmain');
    assert.equal(wals.exitCode, 0, wals.stdout + wals.stderr);
    const list = await barman34(PASSIVE_USER, 'passive34.conf', 'list-backup', 'tsmain');
    assert.match(list.stdout, new RegExp(`^tsmain ${id} - `, 'm'));
    assert.doesNotMatch(list.stdout, /FAILED|SYNCING/);
    const target = file('target/from-ts');
    const rows = await recoverAndCount(
      barman34(PASSIVE_USER, 'passive34.conf', 'recover', 'tsmain', id, target),
      target,
    );
    assert.equal(rows, ROWS);
  });

  it('barman-ts as a passive node of a Barman 3.4 primary', async () => {
    const id = readdirSync(file('primary-home/b34main/base'))[0]!;
    assert.match(readFileSync(file(`primary-home/b34main/base/${id}/backup.info`), 'utf8'), /^status=DONE$/m);
    const cron = await barmanTs(PASSIVE_USER, 'passivets.conf', 'cron');
    assert.equal(cron.exitCode, 0, cron.stdout + cron.stderr);
    assert.match(
      readFileSync(file(`passive-home/ts/b34main/base/${id}/backup.info`), 'utf8'),
      /^status=DONE$/m,
    );
    const check = await barmanTs(PASSIVE_USER, 'passivets.conf', 'check-backup', 'b34main', id);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    const target = file('target/from-b34');
    const rows = await recoverAndCount(
      barmanTs(PASSIVE_USER, 'passivets.conf', 'recover', 'b34main', id, target),
      target,
    );
    assert.equal(rows, ROWS);
  });
});
