/**
 * Bad input for `barman backup --incremental`, through the CLI: each refusal names what is wrong,
 * exits 1 and writes no backup. The parents are real backups: an rsync one, a FAILED one, one of
 * PostgreSQL 15, one of another cluster (another system identifier); the configurations differ
 * between runs as an operator's would when a server's setup changes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  crashSign,
  makeTempDir,
  runBarman,
  startPostgres,
  writeBarmanConfig,
} from '../harness/index.js';

describe('barman backup --incremental refusals', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let pgOther: PostgresServer;
  let pg15: PostgresServer;
  let dir: string;
  const configs: Record<'normal' | 'changed' | 'otherCluster' | 'compressed', string> = {
    normal: '',
    changed: '',
    otherCluster: '',
    compressed: '',
  };
  const ids: Record<'full' | 'rsync' | 'failed' | 'old', string> = {
    full: '',
    rsync: '',
    failed: '',
    old: '',
  };
  const backupsOf = (server: string) => {
    const base = join(dir, 'home', server, 'base');
    return existsSync(base) ? readdirSync(base) : [];
  };
  const barman = (config: string, ...args: string[]) =>
    runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  /** Runs `backup --incremental parent server`: refused, exit 1, `message` in stderr, no new backup. */
  async function refused(config: string, parent: string, server: string, message: RegExp): Promise<void> {
    const before = backupsOf(server);
    const run = await barman(config, 'backup', '--incremental', parent, server);
    assert.equal(run.exitCode, 1, run.stdout + run.stderr);
    assert.match(run.stderr, message);
    assert.equal(crashSign(run.stdout + run.stderr), null, run.stderr);
    assert.deepEqual(backupsOf(server), before, 'a refused backup writes nothing');
  }

  before(async () => {
    dir = await makeTempDir('backup-incremental-refusals', { owner: 'postgres' });
    mkdirSync(join(dir, 'home'));
    await chownTo(join(dir, 'home'), 'postgres');
    const put = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${join(dir, 'normal.conf')} -q put-wal ${server} --file %p`;
    pg = await startPostgres({ version: 17, settings: { summarize_wal: 'on' }, archiveCommand: put('main') });
    pgOther = await startPostgres({ version: 17, settings: { summarize_wal: 'on' } });
    pg15 = await startPostgres({ version: 15, archiveCommand: put('old') });
    const postgresMethod = (server: PostgresServer) => ({
      conninfo: server.conninfo,
      streaming_conninfo: server.conninfo,
      backup_method: 'postgres',
      immediate_checkpoint: 'on',
      archiver: 'on',
    });
    const servers = {
      main: postgresMethod(pg),
      other: postgresMethod(pg),
      rs: { ...postgresMethod(pg), backup_method: 'local-rsync' },
      old: postgresMethod(pg15),
    };
    const global = { barman_user: 'postgres', log_file: null };
    configs.normal = writeBarmanConfig({ dir, file: 'normal.conf', mode: 0o644, global, servers });
    // rs now streams (its rsync backup stays); main's pre-backup retry script stops backups (63).
    const stop = join(dir, 'stop-backup.sh');
    writeFileSync(stop, '#!/bin/sh\nexit 63\n', { mode: 0o755 });
    configs.changed = writeBarmanConfig({
      dir,
      file: 'changed.conf',
      mode: 0o644,
      global,
      servers: {
        ...servers,
        rs: postgresMethod(pg),
        main: { ...postgresMethod(pg), pre_backup_retry_script: stop },
      },
    });
    // main's conninfo now reaches another cluster.
    configs.otherCluster = writeBarmanConfig({
      dir,
      file: 'other-cluster.conf',
      mode: 0o644,
      global,
      servers: { ...servers, main: postgresMethod(pgOther) },
    });
    configs.compressed = writeBarmanConfig({
      dir,
      file: 'compressed.conf',
      mode: 0o644,
      global,
      servers: { ...servers, main: { ...postgresMethod(pg), backup_compression: 'gzip' } },
    });

    const take = async (config: string, server: string, ...args: string[]) => {
      const before = backupsOf(server);
      const run = await barman(config, 'backup', ...args, server);
      const added = backupsOf(server).filter((id) => !before.includes(id));
      assert.equal(added.length, 1, run.stdout + run.stderr);
      return { run, id: added[0]! };
    };
    const full = await take(configs.normal, 'main', '--wait');
    assert.equal(full.run.exitCode, 0, full.run.stderr);
    ids.full = full.id;
    const rsync = await take(configs.normal, 'rs');
    assert.equal(rsync.run.exitCode, 0, rsync.run.stderr);
    ids.rsync = rsync.id;
    const old = await take(configs.normal, 'old');
    assert.equal(old.run.exitCode, 0, old.run.stderr);
    ids.old = old.id;
    const failed = await take(configs.changed, 'main');
    assert.equal(failed.run.exitCode, 1, 'the pre-backup retry script stops the backup');
    ids.failed = failed.id;
  });

  after(async () => {
    await pg?.stop();
    await pgOther?.stop();
    await pg15?.stop();
  });

  it('refuses a parent that does not exist, or that belongs to another server', async () => {
    await refused(
      configs.normal,
      '20200101T000000',
      'main',
      /Unknown backup '20200101T000000' for server 'main'/,
    );
    await refused(
      configs.normal,
      ids.full,
      'other',
      new RegExp(`Unknown backup '${ids.full}' for server 'other'`),
    );
    await refused(configs.normal, 'latest-full', 'other', /Unknown backup 'latest-full' for server 'other'/);
  });

  it('refuses PostgreSQL 15, another backup_method, backup_compression', async () => {
    await refused(
      configs.normal,
      ids.old,
      'old',
      /failed to start backup: Postgres version 17 or greater is required for incremental backups using the Postgres backup method/,
    );
    await refused(
      configs.normal,
      ids.rsync,
      'rs',
      /failed to start backup: Backup using the `--incremental` flag is available only for 'backup_method = postgres'/,
    );
    await refused(
      configs.compressed,
      ids.full,
      'main',
      /failed to start backup: compressed backups are not supported for block-level incremental backups \(server main has backup_compression = gzip\)/,
    );
  });

  it('refuses when summarize_wal is off', async () => {
    await pg.query('ALTER SYSTEM SET summarize_wal = off');
    await pg.query('SELECT pg_reload_conf()');
    try {
      await refused(
        configs.normal,
        ids.full,
        'main',
        /'summarize_wal' option has to be enabled in the Postgres server to perform an incremental backup/,
      );
    } finally {
      await pg.query('ALTER SYSTEM RESET summarize_wal');
      await pg.query('SELECT pg_reload_conf()');
    }
  });

  it('refuses a FAILED parent, an rsync parent, a parent of another system', async () => {
    await refused(
      configs.normal,
      ids.failed,
      'main',
      new RegExp(`Backup ${ids.failed} cannot be the parent of an incremental backup: its status is FAILED`),
    );
    await refused(
      configs.changed,
      ids.rsync,
      'rs',
      new RegExp(
        `Backup ${ids.rsync} is not eligible as a parent for an incremental backup: it was taken with backup method '[^']+'; block-level incremental backups build on backups taken with backup_method = postgres`,
      ),
    );
    await refused(
      configs.otherCluster,
      ids.full,
      'main',
      new RegExp(
        `Backup ${ids.full} is not eligible as a parent for an incremental backup: it belongs to PostgreSQL system \\d+, and server main is now system \\d+`,
      ),
    );
  });

  it('takes the incremental once nothing is wrong', async () => {
    const before = backupsOf('main');
    const run = await barman(configs.normal, 'backup', '--incremental', 'last-full', 'main');
    assert.equal(run.exitCode, 0, run.stdout + run.stderr);
    assert.equal(backupsOf('main').length, before.length + 1);
  });
});
