/**
 * Encrypted catalogues shared with Barman 3.20 (the Debian forky root), both ways, on real
 * backups of one PostgreSQL 18 cluster archiving its WAL into two servers of one barman.conf,
 * both with `encryption = gpg` and one throwaway RSA key (GNUPGHOME under /tmp, visible inside
 * the root): Barman 3.20 takes a `postgres`-method backup of server `b320` (pg_basebackup 18,
 * gzip tar, then gpg) and archives its WAL (gzip, then gpg); barman-ts does the same for server
 * `ts` with its BASE_BACKUP client. Nothing under barman_home holds the marker row in plaintext.
 * Each tool then lists and shows the other's backup (encryption shown), checks it, gets a WAL
 * file of the other's archive (same bytes as the other's get-wal gives) and recovers the other's
 * backup to a restore point; PostgreSQL 18 starts on each copy and the rows of that moment,
 * marker included, are read back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  DEBIAN_FORKY_ROOT,
  DEBIAN_FORKY_SCRIPT,
  PG18_TOOLS,
  chownTo,
  ensureDebianForkyRoot,
  fileTail,
  filesContaining,
  BARMAN_BIN,
  gzipFilesContaining,
  isPublicKeyEncrypted,
  makeGpgHome,
  makeTempDir,
  MARKER,
  runAs,
  runBarman,
  runCompletely,
  runInDebianForky,
  startPostgres,
  startRecoveredCopy,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  incomingArchiveCommand,
} from '../harness/index.js';

type Server = 'b320' | 'ts';
const SERVERS: readonly Server[] = ['b320', 'ts'];
const STATE_SQL =
  "SELECT count(*)::text || ':' || sum(id)::text || ':' || " +
  "(SELECT string_agg(note, ',' ORDER BY id) FROM secrets) AS state FROM t";

describe('encrypted catalogues shared with Barman 3.20 (PostgreSQL 18)', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let gpg: GpgHome;
  let dir: string;
  let config: string;
  const backups: Partial<Record<Server, string>> = {};
  let stateAtPoint = '';
  const started: PostgresServer[] = [];

  const barmanTs = (...args: string[]) =>
    runBarman(['-c', config, ...args], { timeoutMs: 300_000, env: gpg.env });
  /** Barman 3.20 inside the forky root, as root, whatever its exit code. */
  const barman320 = (...args: string[]) =>
    runCompletely(
      null,
      'bash',
      [DEBIAN_FORKY_SCRIPT, 'run', DEBIAN_FORKY_ROOT, '--', 'barman', '-c', config, ...args],
      { timeoutMs: 300_000, env: gpg.env },
    );
  const tool = (server: Server) => (server === 'b320' ? barman320 : barmanTs);
  const other = (server: Server): Server => (server === 'b320' ? 'ts' : 'b320');
  const home = () => join(dir, 'home');
  const infoOf = (server: Server, id: string) => {
    // Barman 3.13.2+ keeps backup.info in meta/, barman-ts where it found it (base/ for its own).
    const meta = join(home(), server, 'meta', `${id}-backup.info`);
    const file = existsSync(meta) ? meta : join(home(), server, 'base', id, 'backup.info');
    return { file, info: parseBackupInfo(readFileSync(file, 'utf8'), file) };
  };

  /** Barman 3.13+ names it `<server>-xlog.db`; older catalogues `xlog.db`. */
  const xlogDb = (server: Server) => {
    const named = join(home(), server, 'wals', `${server}-xlog.db`);
    return existsSync(named) ? named : join(home(), server, 'wals', 'xlog.db');
  };

  async function archiveWal(): Promise<void> {
    for (const server of SERVERS) {
      const archived = await tool(server)('archive-wal', server);
      assert.equal(archived.exitCode, 0, `${server}: ${archived.stdout}\n${archived.stderr}`);
    }
  }

  /** A WAL record, a switch, archived by both: the backups' end WAL file is then in both archives. */
  async function switchAndArchive(): Promise<void> {
    await pg.query("SELECT pg_logical_emit_message(false, 'interop', 'switch')");
    await switchWalAndWaitArchived(pg);
    await archiveWal();
  }

  before(
    async () => {
      await ensureDebianForkyRoot();
      dir = await makeTempDir('enc-interop');
      gpg = await makeGpgHome('root');
      const spool = join(dir, 'spool');
      for (const path of [spool, ...SERVERS.map((server) => join(dir, 'home', server, 'incoming'))]) {
        mkdirSync(path, { recursive: true });
        await chownTo(path, 'postgres');
      }
      pg = await startPostgres({
        version: 18,
        // Plain whole files into incoming/: each tool's archive-wal compresses and encrypts them.
        archiveCommand: incomingArchiveCommand(
          spool,
          SERVERS.map((server) => join(dir, 'home', server, 'incoming')),
        ),
      });
      const server = {
        conninfo: pg.conninfo,
        streaming_conninfo: pg.conninfo,
        backup_method: 'postgres',
        backup_compression: 'gzip',
        backup_compression_format: 'tar',
        archiver: 'on',
        immediate_checkpoint: 'on',
        // Barman's pg_basebackup 18, inside the root; barman-ts's BASE_BACKUP client needs none.
        path_prefix: PG18_TOOLS,
        encryption: 'gpg',
        encryption_key_id: gpg.fingerprint,
        encryption_passphrase_command: gpg.passphraseCommand,
      };
      config = writeBarmanConfig({
        dir,
        mode: 0o644,
        global: { barman_user: 'root', log_file: join(dir, 'barman.log'), compression: 'gzip' },
        servers: { b320: server, ts: server },
      });
      await pg.query('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)');
      await pg.query('CREATE TABLE secrets (id int, note text)');
      await pg.query(`INSERT INTO secrets VALUES (1, '${MARKER}-in-backup')`);
      // Barman refuses a first backup before any WAL file is archived.
      await switchAndArchive();
      for (const server of SERVERS) {
        const run = await tool(server)('backup', server);
        if (run.exitCode !== 0) {
          const check = await tool(server)('check', server);
          assert.fail(
            `${server}: ${run.stdout}\n${run.stderr}\n${check.stdout}\n${fileTail(join(dir, 'barman.log'))}`,
          );
        }
        const ids = readdirSync(join(home(), server, 'base'));
        assert.equal(ids.length, 1, `${server}: ${ids.join(' ')}`);
        backups[server] = ids[0]!;
      }
      await switchAndArchive();
      // WAL past the backups: the marker, a restore point, then rows past it.
      await pg.query(`INSERT INTO secrets VALUES (2, '${MARKER}-in-wal')`);
      await pg.query('INSERT INTO t SELECT generate_series(1001, 2000)');
      await pg.query("SELECT pg_create_restore_point('point')");
      stateAtPoint = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
      await pg.query('INSERT INTO t SELECT generate_series(2001, 3000)');
      await switchAndArchive();
    },
    { timeout: 1_200_000 },
  );

  after(async () => {
    for (const server of started) await server.stop();
    await pg?.stop();
    gpg?.stopAgent();
  });

  it('both tools wrote the same format: encrypted tar archives, encryption=gpg, xlog.db gzip + gpg, no marker', () => {
    for (const server of SERVERS) {
      const id = backups[server]!;
      const { file, info } = infoOf(server, id);
      assert.equal(info.status, 'DONE', `${server} ${id}`);
      assert.match(readFileSync(file, 'utf8'), /^encryption=gpg$/m, `${server}: ${file}`);
      const data = join(home(), server, 'base', id, 'data');
      const stored = readdirSync(data).sort();
      assert.ok(stored.includes('base.tar.gz.gpg'), `${server}: ${stored.join(' ')}`);
      for (const name of stored.filter((name) => name !== 'backup_manifest')) {
        assert.match(name, /^[\w.]+\.tar\.gz\.gpg$/, `${server}: ${name}`);
        assert.ok(isPublicKeyEncrypted(join(data, name)), `${server}: ${name}`);
      }
      const lines = readFileSync(xlogDb(server), 'utf8').trim().split('\n');
      assert.ok(lines.length >= 4, `${server}: ${lines.join('\n')}`);
      for (const line of lines)
        assert.match(
          line,
          /^[0-9A-F]{24}(\.[0-9A-F]{8}\.backup)?\t\d+\t[\d.]+\tgzip\tgpg$/,
          `${server}: ${line}`,
        );
      assert.deepEqual(readdirSync(join(home(), server, 'incoming')), [], server);
    }
    assert.deepEqual(filesContaining(home(), MARKER), []);
    assert.deepEqual(gzipFilesContaining(home(), MARKER), []);
  });

  for (const server of SERVERS) {
    const [owner, reader] = server === 'b320' ? ['Barman 3.20', 'barman-ts'] : ['barman-ts', 'Barman 3.20'];

    it(`${reader} lists, shows and checks the encrypted backup ${owner} took`, async () => {
      const id = backups[server]!;
      const read = tool(other(server));
      const listed = await read('list-backups', server);
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^${server} ${id} - `, 'm'));
      const shown = await read('show-backup', server, id);
      assert.equal(shown.exitCode, 0, shown.stderr);
      // The owner shows it too (a reader that prints it while its owner does not would be wrong).
      const reference = await tool(server)('show-backup', server, id);
      assert.match(reference.stdout, /Encryption\s+: gpg/, reference.stdout);
      assert.match(
        shown.stdout,
        /Encryption\s+: gpg/,
        `${shown.stdout}\n${reference.stdout}\n${readFileSync(infoOf(server, id).file, 'utf8')}`,
      );
      const json = await read('-f', 'json', 'show-backup', server, id);
      assert.equal(json.exitCode, 0, json.stderr);
      const document = (JSON.parse(json.stdout) as Record<string, Record<string, unknown>>)[server]!;
      assert.equal(
        (document.base_backup_information as Record<string, unknown> | undefined)?.encryption,
        'gpg',
        json.stdout,
      );
      const checked = await read('check-backup', server, id);
      assert.equal(checked.exitCode, 0, `${checked.stdout}\n${checked.stderr}`);
    });

    it(`${reader}'s get-wal decrypts a WAL file ${owner} archived, as ${owner}'s own get-wal does`, async () => {
      const xlog = readFileSync(xlogDb(server), 'utf8');
      const wal = [...xlog.matchAll(/^([0-9A-F]{24})\t/gm)].at(-1)![1]!;
      const fromTs = spawnSync(process.execPath, [BARMAN_BIN, '-c', config, 'get-wal', server, wal], {
        env: { ...process.env, ...gpg.env },
        maxBuffer: 64 << 20,
      });
      assert.equal(fromTs.status, 0, fromTs.stderr.toString());
      const fromBarman = await runInDebianForky(
        'bash',
        ['-c', `set -o pipefail; barman -c '${config}' get-wal ${server} ${wal} | sha256sum`],
        { env: gpg.env, timeoutMs: 120_000 },
      );
      assert.equal(fromTs.stdout.length, 16 << 20);
      assert.equal(fromBarman.stdout.split(' ')[0], createHash('sha256').update(fromTs.stdout).digest('hex'));
    });

    it(`${reader} recovers the encrypted backup ${owner} took to a restore point; PostgreSQL 18 reads the rows back`, async () => {
      const destination = join(dir, `${other(server)}-recovers-${server}`);
      const recovery = [
        server,
        backups[server]!,
        destination,
        '--target-name',
        'point',
        '--target-action',
        'promote',
      ];
      const run =
        server === 'b320'
          ? await barmanTs('recover', ...recovery)
          : // Barman decrypts (and decompresses) into a staging directory first.
            await barman320(
              'recover',
              '--staging-location',
              'local',
              '--staging-path',
              join(dir, 'staging'),
              ...recovery,
            );
      assert.equal(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
      await runAs(null, 'chown', ['-R', `${pg.osUser}:`, destination]);
      const copy = await startRecoveredCopy(destination, { version: 18 });
      started.push(copy);
      const state = (await copy.query<{ state: string }>(STATE_SQL))[0]!.state;
      await copy.stop();
      assert.equal(state, stateAtPoint);
      assert.match(state, new RegExp(`^2000:2001000:${MARKER}-in-backup,${MARKER}-in-wal$`));
    });
  }
});
