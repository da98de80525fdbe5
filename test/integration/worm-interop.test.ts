/**
 * WORM catalogues shared with Barman, both ways: one PostgreSQL 17 cluster archives its WAL into
 * two servers of one barman.conf, both `worm_mode = on` with one `xlogdb_directory`: Barman 3.13
 * (the Debian 13 root) takes the backups of `b313`, barman-ts those of `ts` (postgres method),
 * each keeps its first backup. Once every file under base/ and wals/ is immutable (`chattr +i`:
 * the grace period over), each tool lists, shows, reports the keep of and recovers the other's
 * catalogue to a restore point — PostgreSQL 17 started on the copy, the rows of that moment read
 * back; barman-ts refuses to delete an immutable backup of Barman's, then continues that
 * catalogue (a backup, archived WAL) and Barman 3.13 still reads and recovers it. Barman 3.20
 * (the forky root) reads and recovers barman-ts's catalogue too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { CompletedRun, PostgresServer } from '../harness/index.js';
import {
  DEBIAN13_ROOT,
  DEBIAN13_SCRIPT,
  DEBIAN_FORKY_ROOT,
  PG17_TOOLS,
  chownTo,
  ensureDebian13Root,
  ensureDebianForkyRoot,
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

const SERVERS = ['b313', 'ts'] as const;
type ServerName = (typeof SERVERS)[number];
const STATE_SQL = "SELECT count(*)::text || ':' || sum(id)::text AS state FROM items";
const FORKY_SCRIPT = DEBIAN13_SCRIPT.replace(/debian13-root\.sh$/, 'debian-forky-root.sh');

/** Every file below `directory`, as `path size mtime`: "left as it was" is compared on it. */
const snapshot = (directory: string) =>
  execFileSync('find', [directory, '-type', 'f', '-printf', '%P %s %T@\\n'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .sort();

describe('worm_mode catalogues shared with Barman 3.13 and 3.20', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir = '';
  let config = '';
  const backups: Record<ServerName, string[]> = { b313: [], ts: [] };
  let stateAtPoint = '';
  const started: PostgresServer[] = [];

  const barmanTs = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });
  /** A Barman of a Debian root, whatever its exit code. */
  const inRoot =
    (script: string, root: string) =>
    (...args: string[]) =>
      runCompletely(null, 'bash', [script, 'run', root, '--', 'barman', '-c', config, ...args], {
        timeoutMs: 300_000,
      });
  const barman313 = inRoot(DEBIAN13_SCRIPT, DEBIAN13_ROOT);
  const barman320 = inRoot(FORKY_SCRIPT, DEBIAN_FORKY_ROOT);
  const toolOf = (server: ServerName) => (server === 'b313' ? barman313 : barmanTs);
  const home = (server: string) => join(dir, 'home', server);
  const idsIn = (server: string) =>
    existsSync(join(home(server), 'base')) ? readdirSync(join(home(server), 'base')).sort() : [];
  const infoOf = (server: string, id: string) => {
    const file = join(home(server), 'meta', `${id}-backup.info`);
    return parseBackupInfo(readFileSync(file, 'utf8'), file);
  };
  const state = async (server: PostgresServer) =>
    (await server.query<{ state: string }>(STATE_SQL))[0]!.state;
  const succeeded = (run: CompletedRun, what: string) =>
    assert.equal(
      run.exitCode,
      0,
      `${what}: ${run.stdout}\n${run.stderr}\n${fileTail(join(dir, 'barman.log'))}`,
    );

  /** Each server's tool moves what PostgreSQL archived into its incoming/ into its archive. */
  async function archiveWal(servers: readonly ServerName[] = SERVERS): Promise<void> {
    for (const server of servers)
      succeeded(await toolOf(server)('archive-wal', server), `${server} archive-wal`);
  }

  /** A WAL record, then a switch (one at a segment's very start is a no-op), archived by both. */
  async function switchAndArchive(): Promise<void> {
    await pg.query("SELECT pg_logical_emit_message(false, 'worm-interop', 'switch')");
    await switchWalAndWaitArchived(pg);
  }

  /** One backup of `server` by `tool`, made DONE (its end WAL archived, then check-backup). */
  async function takeBackup(server: ServerName, tool: typeof barmanTs): Promise<string> {
    const known = idsIn(server);
    succeeded(await tool('backup', server), `${server} backup`);
    const [added, ...more] = idsIn(server).filter((id) => !known.includes(id));
    assert.ok(added !== undefined && more.length === 0, `${server}: one new backup`);
    backups[server].push(added);
    return added;
  }

  async function makeDone(server: ServerName, tool: typeof barmanTs): Promise<void> {
    const id = backups[server].at(-1)!;
    if (infoOf(server, id).status !== 'DONE')
      succeeded(await tool('check-backup', server, id), 'check-backup');
    assert.equal(infoOf(server, id).status, 'DONE', `${server} ${id}`);
  }

  async function takeBackups(): Promise<void> {
    for (const server of SERVERS) await takeBackup(server, toolOf(server));
    await switchAndArchive();
    await archiveWal();
    for (const server of SERVERS) await makeDone(server, toolOf(server));
  }

  /** The grace period ends: every file under base/ and wals/ of both servers becomes immutable. */
  function protect(): void {
    for (const server of SERVERS)
      for (const sub of ['base', 'wals']) {
        const files = execFileSync('find', [join(home(server), sub), '-type', 'f', '-print0'], {
          encoding: 'utf8',
        })
          .split('\0')
          .filter(Boolean);
        if (files.length > 0) execFileSync('chattr', ['+i', ...files]);
      }
  }

  /** `tool` recovers `server`'s `id` to the restore point; PostgreSQL 17 started on it; its rows. */
  async function recoverAndRead(
    tool: typeof barmanTs,
    server: ServerName,
    id: string,
    name: string,
    target: readonly string[],
  ): Promise<string> {
    const destination = join(dir, 'recovered', name);
    const run = await tool('recover', server, id, destination, ...target);
    succeeded(run, `${name} recover`);
    await runAs(null, 'chown', ['-R', `${pg.osUser}:`, destination]);
    const copy = await startRecoveredCopy(destination, { version: 17 });
    started.push(copy);
    const rows = await state(copy);
    await copy.stop();
    return rows;
  }
  const toPoint = ['--target-name', 'point', '--target-action', 'promote'];

  /** list-backup and show-backup (JSON) of `server` print the same in barman-ts and `reference`. */
  async function assertReadAlike(reference: typeof barmanTs, server: ServerName): Promise<void> {
    const json = async (tool: typeof barmanTs, ...args: string[]) => {
      const run = await tool('-f', 'json', ...args);
      succeeded(run, args.join(' '));
      return JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(
      await json(barmanTs, 'list-backup', server),
      await json(reference, 'list-backup', server),
    );
    for (const id of backups[server]) {
      const shown = await json(barmanTs, 'show-backup', server, id);
      // barman-ts's own addition: its backups' data page checksums.
      for (const document of Object.values(shown)) delete document.page_checksums;
      const expected = await json(reference, 'show-backup', server, id);
      if (reference === barman320)
        for (const document of Object.values(expected)) {
          // Barman 3.14+ shows how the backup was compressed and encrypted (neither here).
          const base = document.base_backup_information as Record<string, unknown>;
          assert.deepEqual([base.compression, base.encryption], [null, null]);
          delete base.compression;
          delete base.encryption;
        }
      assert.deepEqual(shown, expected, `show-backup ${id}`);
    }
    for (const id of backups[server]) {
      const keep = await reference('keep', '--status', server, id);
      succeeded(keep, 'keep --status');
      const own = await barmanTs('keep', '--status', server, id);
      assert.equal(own.stdout, keep.stdout, `keep --status ${id}`);
      assert.match(keep.stdout, id === backups[server][0] ? /Keep: full/ : /Keep: nokeep/);
    }
  }

  before(
    async () => {
      await ensureDebian13Root();
      await ensureDebianForkyRoot();
      dir = await makeTempDir('worm-interop');
      for (const sub of ['xlogdb', 'recovered']) mkdirSync(join(dir, sub));
      // The immutable flag must really be honoured here (ext4 does): fail loudly otherwise.
      execFileSync('chattr', ['+i', join(dir, 'xlogdb')]);
      assert.throws(() => mkdirSync(join(dir, 'xlogdb/probe')), /EPERM/);
      execFileSync('chattr', ['-i', join(dir, 'xlogdb')]);
      const spool = join(dir, 'spool');
      for (const path of [spool, ...SERVERS.map((server) => join(home(server), 'incoming'))]) {
        mkdirSync(path, { recursive: true });
        await chownTo(path, 'postgres');
      }
      pg = await startPostgres({
        version: 17,
        // Whole files only (a copy, then a rename): both tools archive while PostgreSQL writes.
        archiveCommand: incomingArchiveCommand(
          spool,
          SERVERS.map((server) => join(home(server), 'incoming')),
        ),
      });
      const server = {
        conninfo: pg.conninfo,
        streaming_conninfo: pg.conninfo,
        backup_method: 'postgres',
        archiver: 'on',
        immediate_checkpoint: 'on',
        // Barman's pg_basebackup 17 inside the roots; barman-ts needs none.
        path_prefix: PG17_TOOLS,
      };
      config = writeBarmanConfig({
        dir,
        mode: 0o644,
        global: {
          barman_user: 'root',
          log_file: join(dir, 'barman.log'),
          compression: 'gzip',
          worm_mode: 'on',
          xlogdb_directory: join(dir, 'xlogdb'),
        },
        servers: { b313: server, ts: server },
      });
      await pg.query('CREATE TABLE items (id int)');
      await pg.query('INSERT INTO items SELECT generate_series(1, 1000)');
      // Barman refuses a first backup before any WAL file is archived; this one precedes it.
      await switchAndArchive();
      await archiveWal();
      await takeBackups();
      await pg.query('INSERT INTO items SELECT generate_series(1001, 2000)');
      await takeBackups();
      for (const server of SERVERS)
        succeeded(await toolOf(server)('keep', '--target', 'full', server, backups[server][0]!), 'keep');
      await pg.query('INSERT INTO items SELECT generate_series(2001, 2500)');
      await pg.query("SELECT pg_create_restore_point('point')");
      stateAtPoint = await state(pg);
      await pg.query('INSERT INTO items SELECT generate_series(2501, 3000)');
      await switchAndArchive();
      await archiveWal();
      protect();
    },
    { timeout: 1_200_000 },
  );

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    // Lift the flags, or nothing could remove the test directory.
    if (dir) execFileSync('chattr', ['-R', '-i', dir]);
  });

  it('both tools lay a WORM catalogue out alike: meta/, xlogdb_directory, the first backup’s WAL kept', () => {
    for (const server of SERVERS) {
      for (const id of backups[server]) {
        assert.equal(infoOf(server, id).status, 'DONE', `${server} ${id}`);
        assert.equal(existsSync(join(home(server), 'base', id, 'backup.info')), false, `${server} ${id}`);
      }
      const first = backups[server][0]!;
      assert.equal(readFileSync(join(home(server), 'meta', `${first}-keep`), 'utf8').trim(), 'full');
      assert.equal(existsSync(join(home(server), 'base', first, 'annotations')), false, server);
      const xlogdb = join(dir, 'xlogdb', `${server}-xlog.db`);
      assert.ok(existsSync(xlogdb), xlogdb);
      assert.equal(existsSync(join(home(server), 'wals', 'xlog.db')), false, server);
      assert.equal(existsSync(join(home(server), 'wals', `${server}-xlog.db`)), false, server);
      // The WAL archived before the first backup stays (it may already be immutable).
      const beginWal = infoOf(server, first).begin_wal!;
      const older = readFileSync(xlogdb, 'utf8')
        .split('\n')
        .map((line) => line.split('\t')[0]!)
        .filter((name) => /^[0-9A-F]{24}$/.test(name) && name < beginWal);
      assert.ok(older.length > 0, `${server}: WAL before ${beginWal} kept in the index`);
      // Barman names a compressed WAL file as it is; barman-ts adds the compression's suffix.
      for (const name of older)
        assert.ok(
          readdirSync(join(home(server), 'wals', name.slice(0, 16))).some((file) => file.startsWith(name)),
          `${server}: ${name}`,
        );
    }
  });

  it("Barman 3.13 lists, shows and reports the keep of barman-ts's catalogue as barman-ts does", async () => {
    await assertReadAlike(barman313, 'ts');
    for (const id of backups.ts) succeeded(await barman313('check-backup', 'ts', id), `check-backup ${id}`);
  });

  it("Barman 3.13 recovers barman-ts's backup to a restore point from immutable files", async () => {
    assert.equal(
      await recoverAndRead(barman313, 'ts', backups.ts.at(-1)!, 'b313-recovers-ts', toPoint),
      stateAtPoint,
    );
  });

  it("barman-ts lists, shows and reports the keep of Barman 3.13's catalogue as Barman does", async () => {
    await assertReadAlike(barman313, 'b313');
  });

  it("barman-ts refuses to delete an immutable backup of Barman's, naming the file, removing nothing", async () => {
    const before = [snapshot(home('b313')), readFileSync(join(dir, 'xlogdb', 'b313-xlog.db'), 'utf8')];
    const run = await barmanTs('delete', 'b313', backups.b313[1]!);
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(`${run.stdout}\n${run.stderr}`, /immutable/);
    assert.match(`${run.stdout}\n${run.stderr}`, new RegExp(backups.b313[1]!));
    assert.deepEqual(
      [snapshot(home('b313')), readFileSync(join(dir, 'xlogdb', 'b313-xlog.db'), 'utf8')],
      before,
    );
  });

  it("barman-ts recovers Barman 3.13's backup to a restore point", async () => {
    assert.equal(
      await recoverAndRead(barmanTs, 'b313', backups.b313.at(-1)!, 'ts-recovers-b313', toPoint),
      stateAtPoint,
    );
  });

  it("barman-ts continues Barman 3.13's catalogue; Barman still reads and recovers it", async () => {
    await pg.query('INSERT INTO items SELECT generate_series(3001, 3700)');
    const added = await takeBackup('b313', barmanTs);
    await switchAndArchive();
    await archiveWal(['ts']);
    succeeded(await barmanTs('archive-wal', 'b313'), 'barman-ts archive-wal b313');
    await makeDone('b313', barmanTs);
    const stateAtEnd = await state(pg);
    protect();
    assert.equal(existsSync(join(home('b313'), 'base', added, 'backup.info')), false);
    await assertReadAlike(barman313, 'b313');
    succeeded(await barman313('check-backup', 'b313', added), 'Barman check-backup');
    assert.equal(await recoverAndRead(barman313, 'b313', added, 'b313-recovers-continued', []), stateAtEnd);
  });

  it("Barman 3.20 lists, shows, reports the keep of and recovers barman-ts's catalogue", async () => {
    await assertReadAlike(barman320, 'ts');
    assert.equal(
      await recoverAndRead(barman320, 'ts', backups.ts.at(-1)!, 'b320-recovers-ts', toPoint),
      stateAtPoint,
    );
  });
});
