/**
 * Block-level incremental chains shared with Barman 3.13 (the Debian 13 root), both ways, on real
 * backups of one PostgreSQL 17 cluster (`summarize_wal = on`) archiving its WAL into two servers
 * of one barman.conf: Barman 3.13 takes full → incremental → incremental of server `b313` with
 * pg_basebackup 17 (`backup_method = postgres`); barman-ts takes the same of server `ts` with its
 * native BASE_BACKUP client. Each tool then lists and shows the other's chain as the other does
 * (console and JSON) and recovers its last incremental — barman-ts with its native combine,
 * Barman 3.13 with pg_combinebackup — to the end of the archive and to a restore point inside
 * that incremental's WAL, a tablespace relocated; PostgreSQL 17 starts on every result and the
 * exact rows of that moment are read back. The synthetic-catalogue rules (retention, delete,
 * keep) are incremental-catalog.test.ts's.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { PostgresServer } from '../harness/index.js';
import {
  DEBIAN13_ROOT,
  DEBIAN13_SCRIPT,
  PG17_TOOLS,
  chownTo,
  ensureDebian13Root,
  fileTail,
  makeTempDir,
  runAs,
  runBarman,
  runCompletely,
  startPostgres,
  startRecoveredCopy,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  incomingArchiveCommand,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'created', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_new UNION ALL " +
  "SELECT 'vacuumed', count(*)::text || ':' || sum(v)::text FROM t_vac UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || coalesce(sum(id), 0)::text FROM t_ts UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

/** Changes made before the first incremental, then before the second. */
const CHANGES = [
  'TRUNCATE t_trunc; INSERT INTO t_trunc SELECT generate_series(1, 10);' +
    'DROP TABLE t_drop; CREATE TABLE t_new (id int); INSERT INTO t_new SELECT generate_series(1, 500);' +
    'UPDATE big SET v = v + 1 WHERE id % 100 = 0; INSERT INTO t_ts SELECT generate_series(3001, 3500)',
  'DELETE FROM t_vac WHERE id % 3 = 0; VACUUM FULL t_vac; INSERT INTO t_new SELECT generate_series(501, 600);' +
    'UPDATE big SET v = v + 2 WHERE id % 50 = 0; INSERT INTO big SELECT i, i, null FROM generate_series(100001, 110000) i',
];

describe('incremental chains shared with Barman 3.13 (PostgreSQL 17)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let config: string;
  let tablespaceSource: string;
  /** Each server's chain, oldest first. */
  const chains: Record<'b313' | 'ts', string[]> = { b313: [], ts: [] };
  let stateAtPoint = '';
  let stateAtEnd = '';
  const started: PostgresServer[] = [];

  const barmanTs = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });
  /** Barman 3.13 inside the Debian 13 root, whatever its exit code. */
  const barman313 = (...args: string[]) =>
    runCompletely(
      null,
      'bash',
      [DEBIAN13_SCRIPT, 'run', DEBIAN13_ROOT, '--', 'barman', '-c', config, ...args],
      {
        timeoutMs: 300_000,
      },
    );
  const sql = (text: string) =>
    pg.psql(
      text
        .split(';')
        .filter((statement) => statement.trim() !== '')
        .flatMap((statement) => ['-c', statement]),
    );
  const state = async (server: PostgresServer) =>
    (await server.query<{ state: string }>(STATE_SQL))[0]!.state;
  const backupsOf = (server: string) => readdirSync(join(dir, 'home', server, 'base')).sort();
  const infoOf = (server: string, id: string) => {
    // Barman 3.13.2+ keeps backup.info in meta/, barman-ts where it found it (base/ for its own).
    const meta = join(dir, 'home', server, 'meta', `${id}-backup.info`);
    const file = existsSync(meta) ? meta : join(dir, 'home', server, 'base', id, 'backup.info');
    return parseBackupInfo(readFileSync(file, 'utf8'), file);
  };

  /**
   * One backup of each server: Barman 3.13 then barman-ts, each incremental on its chain's last;
   * then a WAL switch, archived, so that both become DONE (pg_basebackup -X none leaves the end
   * WAL file unfinished, and Barman's --wait would wait for it forever).
   */
  async function takeBackups(): Promise<void> {
    for (const [server, take] of [
      ['b313', barman313],
      ['ts', barmanTs],
    ] as const) {
      const chain = chains[server];
      const parent = chain.at(-1);
      const args = parent === undefined ? [] : ['--incremental', parent];
      const run = await take('backup', ...args, server);
      if (run.exitCode !== 0) {
        const check = await take('check', server);
        assert.fail(
          `${server}: ${run.stdout}\n${run.stderr}\n${check.stdout}\n${fileTail(join(dir, 'barman.log'))}`,
        );
      }
      const added = backupsOf(server).filter((id) => !chain.includes(id));
      assert.equal(added.length, 1, `${server}: new backups ${added.join(', ')}`);
      chain.push(added[0]!);
    }
    // A WAL record first: a switch at the very start of a segment (after barman-ts's) is a no-op.
    await pg.query("SELECT pg_logical_emit_message(false, 'interop', 'switch')");
    await switchWalAndWaitArchived(pg);
    await archiveWal();
    for (const [server, tool] of [
      ['b313', barman313],
      ['ts', barmanTs],
    ] as const) {
      const id = chains[server].at(-1)!;
      if (infoOf(server, id).status === 'DONE') continue;
      const checked = await tool('check-backup', server, id);
      assert.equal(checked.exitCode, 0, `${server}: ${checked.stdout}\n${checked.stderr}`);
      assert.equal(infoOf(server, id).status, 'DONE', `${server} ${id}`);
    }
  }

  /** Each tool moves what PostgreSQL archived into its server's incoming directory into its archive. */
  async function archiveWal(): Promise<void> {
    for (const [server, tool] of [
      ['b313', barman313],
      ['ts', barmanTs],
    ] as const) {
      const archived = await tool('archive-wal', server);
      assert.equal(archived.exitCode, 0, `${server}: ${archived.stderr}`);
    }
  }

  /** A recovered directory owned by PostgreSQL's OS user, started; its rows. */
  async function startAndRead(destination: string, tablespace: string): Promise<string> {
    await runAs(null, 'chown', ['-R', `${pg.osUser}:`, destination, tablespace]);
    const server = await startRecoveredCopy(destination, { version: 17 });
    started.push(server);
    const rows = await state(server);
    await server.stop();
    return rows;
  }

  before(
    async () => {
      await ensureDebian13Root();
      dir = await makeTempDir('incr-interop');
      config = join(dir, 'barman.conf');
      tablespaceSource = join(dir, 'ts');
      mkdirSync(tablespaceSource);
      await chownTo(tablespaceSource, 'postgres');
      for (const server of ['b313', 'ts']) {
        mkdirSync(join(dir, 'home', server, 'incoming'), { recursive: true });
        await chownTo(join(dir, 'home', server, 'incoming'), 'postgres');
      }
      const incoming = (server: string) => join(dir, 'home', server, 'incoming');
      const spool = join(dir, 'spool');
      mkdirSync(spool);
      await chownTo(spool, 'postgres');
      pg = await startPostgres({
        version: 17,
        settings: { summarize_wal: 'on' },
        // Whole files only (a copy, then a rename): both tools archive while PostgreSQL writes.
        archiveCommand: incomingArchiveCommand(spool, ['b313', 'ts'].map(incoming)),
      });
      const server = {
        conninfo: pg.conninfo,
        streaming_conninfo: pg.conninfo,
        backup_method: 'postgres',
        archiver: 'on',
        immediate_checkpoint: 'on',
        // Barman 3.13's pg_basebackup and pg_combinebackup, inside the root; barman-ts needs neither.
        path_prefix: PG17_TOOLS,
      };
      config = writeBarmanConfig({
        dir,
        mode: 0o644,
        global: { barman_user: 'root', log_file: join(dir, 'barman.log') },
        servers: { b313: server, ts: server },
      });
      await sql(
        `CREATE TABLESPACE ts1 LOCATION '${tablespaceSource}';` +
          'CREATE TABLE t_ts (id int) TABLESPACE ts1; INSERT INTO t_ts SELECT generate_series(1, 3000);' +
          'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
          'CREATE TABLE t_vac (id int, v int); INSERT INTO t_vac SELECT i, i FROM generate_series(1, 20000) i;' +
          "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 100000) i;",
      );
      // Barman refuses a first backup before any WAL file is archived.
      await switchWalAndWaitArchived(pg);
      await archiveWal();
      await takeBackups();
      for (const change of CHANGES) {
        await sql(change);
        await takeBackups();
      }
      // Inside the last incrementals' WAL: a restore point, then more changes past it.
      await sql(
        "INSERT INTO t_ts SELECT generate_series(4001, 4100); SELECT pg_create_restore_point('point')",
      );
      stateAtPoint = await state(pg);
      await sql('DELETE FROM big WHERE id > 105000; TRUNCATE t_new');
      stateAtEnd = await state(pg);
      await switchWalAndWaitArchived(pg);
      await archiveWal();
    },
    { timeout: 1_200_000 },
  );

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
  });

  it('each tool took a real chain: parents and children in backup.info', () => {
    for (const server of ['b313', 'ts'] as const) {
      const [full, first, second] = chains[server];
      assert.equal(chains[server].length, 3);
      assert.equal(infoOf(server, full!).parent_backup_id ?? null, null, server);
      assert.deepEqual(infoOf(server, full!).children_backup_ids, [first], server);
      assert.equal(infoOf(server, first!).parent_backup_id, full, server);
      assert.deepEqual(infoOf(server, first!).children_backup_ids, [second], server);
      assert.equal(infoOf(server, second!).parent_backup_id, first, server);
      for (const id of chains[server]) assert.equal(infoOf(server, id).status, 'DONE', `${server} ${id}`);
    }
  });

  /** show-backup without barman-ts's page checksum section (console text or JSON document). */
  const withoutPageChecksums = (shown: unknown): unknown => {
    if (typeof shown === 'string')
      return shown.replace(/\n\n {2}Data page checksums:\n(?: {4}.*(?:\n|$))*/, '');
    for (const document of Object.values(shown as Record<string, Record<string, unknown>>))
      delete document.page_checksums;
    return shown;
  };

  for (const server of ['b313', 'ts'] as const) {
    it(`list-backup and show-backup of the chain ${server === 'b313' ? 'Barman 3.13' : 'barman-ts'} took print alike in both tools`, async () => {
      for (const format of [[], ['-f', 'json']]) {
        const parse = (text: string): unknown => (format.length > 0 ? JSON.parse(text) : text.trimEnd());
        const expected = await barman313(...format, 'list-backup', server);
        assert.equal(expected.exitCode, 0, expected.stderr);
        const listed = await barmanTs(...format, 'list-backup', server);
        assert.equal(listed.exitCode, 0, listed.stderr);
        assert.deepEqual(parse(listed.stdout), parse(expected.stdout), `list-backup ${format.join(' ')}`);
        for (const id of chains[server]) {
          const reference = await barman313(...format, 'show-backup', server, id);
          assert.equal(reference.exitCode, 0, reference.stderr);
          const shown = await barmanTs(...format, 'show-backup', server, id);
          assert.equal(shown.exitCode, 0, shown.stderr);
          // barman-ts's own addition: its backups' data page checksums (none for Barman's).
          if (server === 'ts') assert.match(shown.stdout, /Data page checksums|"page_checksums"/);
          assert.deepEqual(
            withoutPageChecksums(parse(shown.stdout)),
            parse(reference.stdout),
            `show-backup ${id} ${format.join(' ')}`,
          );
        }
      }
    });
  }

  it("barman-ts recovers Barman 3.13's chain to the end and to a restore point inside the last incremental", async () => {
    const last = chains.b313.at(-1)!;
    for (const [name, target, expected] of [
      ['end', [], stateAtEnd],
      ['point', ['--target-name', 'point', '--target-action', 'promote'], stateAtPoint],
    ] as const) {
      const destination = join(dir, 'ts-recovers-b313', name);
      mkdirSync(join(dir, 'ts-recovers-b313'), { recursive: true });
      const tablespace = `${destination}-ts`;
      const run = await barmanTs(
        'recover',
        'b313',
        last,
        destination,
        '--tablespace',
        `ts1:${tablespace}`,
        ...target,
      );
      assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /Combining the incremental chain/);
      assert.equal(await startAndRead(destination, tablespace), expected, name);
    }
    assert.notEqual(stateAtPoint, stateAtEnd);
  });

  it("Barman 3.13 recovers barman-ts's chain with pg_combinebackup, to the end and to the restore point", async () => {
    mkdirSync(join(dir, 'b313-recovers-ts'));
    for (const [name, target, expected] of [
      ['end', [], stateAtEnd],
      ['point', ['--target-name', 'point', '--target-action', 'promote'], stateAtPoint],
    ] as const) {
      const destination = join(dir, 'b313-recovers-ts', name);
      const tablespace = `${destination}-ts`;
      const run = await barman313(
        'recover',
        '--local-staging-path',
        join(dir, 'staging'),
        'ts',
        chains.ts.at(-1)!,
        destination,
        '--tablespace',
        `ts1:${tablespace}`,
        ...target,
      );
      assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /End combining backup via pg_combinebackup/);
      if (name === 'point') {
        // Barman 3.13 moves the combined directory without pg_wal and, for a PITR, copies the WAL
        // files to barman_wal: PostgreSQL then refuses to start. Its own chains alike (below); the
        // operator creates the directory.
        assert.equal(existsSync(join(destination, 'pg_wal')), false);
        mkdirSync(join(destination, 'pg_wal'), { mode: 0o700 });
      }
      assert.equal(await startAndRead(destination, tablespace), expected, name);
    }
    const own = join(dir, 'b313-recovers-b313');
    const run = await barman313(
      'recover',
      '--local-staging-path',
      join(dir, 'staging'),
      'b313',
      chains.b313.at(-1)!,
      own,
      '--tablespace',
      `ts1:${own}-ts`,
      '--target-name',
      'point',
    );
    assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
    assert.equal(
      existsSync(join(own, 'pg_wal')),
      false,
      "Barman 3.13's PITR of its own chain has no pg_wal either",
    );
  });
});
