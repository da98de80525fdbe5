/**
 * receive-wal with encryption = gpg on a real PostgreSQL 15, with a generated key in a throwaway
 * GNUPGHOME: barman-ts streams WAL itself and seals each segment as it completes (gzip, then
 * gpg), so streaming/ only ever holds `<name>.gz.gpg` OpenPGP files and no file under barman_home
 * holds the marker; archive-wal stores them as they are; a receive-wal killed with SIGKILL in
 * the middle of a segment and started again by cron leaves no gap (the slot kept the segment);
 * a recovery with the passphrase replays them and PostgreSQL reads the marker rows. Bad input:
 * no slot, a synchronous standby name, a key gpg cannot encrypt to.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GpgHome, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  childEnv,
  chownTo,
  filesContaining,
  getWalAsBarmanUser,
  isPublicKeyEncrypted,
  makeGpgHome,
  makeTempDir,
  MARKER,
  processesMentioning,
  registerExitCleanup,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  terminateProcess,
  terminateProcessSync,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';
import { parseLsn, segmentsBetween, segmentStartLsn } from '../../src/wal/names.js';

const SEGMENT = 16 * 1024 * 1024;

describe('receive-wal with encryption = gpg: WAL sealed as it is streamed', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let gpg: GpgHome;
  let backupId: string;
  let receiver: ChildProcess | undefined;
  let receiverExit: Promise<number | null> | undefined;
  let unregisterCleanup: (() => void) | undefined;
  const started: PostgresServer[] = [];
  const conf = (name: string) => join(dir, name);
  const home = () => join(dir, 'home');
  const streaming = () => join(home(), 'main/streaming');
  const barman = (file: string, ...args: string[]) =>
    runBarman(['-c', conf(file), ...args], { timeoutMs: 180_000, env: gpg.env });
  const xlogNames = () =>
    readFileSync(join(home(), 'main/wals/xlog.db'), 'utf8')
      .split('\n')
      .filter((line) => /^[0-9A-F]{24}\t/.test(line))
      .map((line) => line.split('\t'));
  const slot = async (name: string) =>
    (
      await pg.query<{ active: boolean; restart_lsn: string | null }>(
        'SELECT active, restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1',
        [name],
      )
    )[0] ?? null;
  const currentSegment = async () =>
    (await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name'))[0]!.name;
  const sealedFiles = () => (existsSync(streaming()) ? readdirSync(streaming()).sort() : []);

  /** Waits until `segment` was sealed: in streaming/ or already archived. */
  const waitSealed = (segment: string) =>
    waitFor(
      `${segment} sealed into streaming/ (${sealedFiles().join(' ')})`,
      () =>
        sealedFiles().includes(`${segment}.gz.gpg`) ||
        (existsSync(join(home(), 'main/wals/xlog.db')) && xlogNames().some(([name]) => name === segment)),
      { timeoutMs: 60_000, intervalMs: 200 },
    );

  /** Writes rows and closes the current segment: returns the segment closed. */
  const switchWal = async (note: string): Promise<string> => {
    await pg.query(`INSERT INTO secrets SELECT g, '${note}' FROM generate_series(1, 100) g`);
    const segment = await currentSegment();
    await pg.query('SELECT pg_switch_wal()');
    return segment;
  };

  const startReceiver = async (): Promise<void> => {
    const child = spawn(process.execPath, [BARMAN_BIN, '-c', conf('barman.conf'), 'receive-wal', 'main'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv({ BARMAN_CONFIG_FILE: undefined, ...gpg.env }),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    receiver = child;
    receiverExit = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor(`receive-wal streaming (${output})`, async () => {
      if (child.exitCode !== null) throw new Error(`receive-wal exited (${child.exitCode}): ${output}`);
      return (await slot('barman'))?.active === true;
    });
  };

  before(async () => {
    dir = await makeTempDir('receive-wal-sealed', { owner: 'postgres' });
    unregisterCleanup = registerExitCleanup(() => {
      for (const pid of processesMentioning(dir)) terminateProcessSync(pid, 'SIGKILL', 1_000);
    });
    for (const sub of ['home', 'recovered']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    gpg = await makeGpgHome('postgres');
    // No timed checkpoint during the test: a slot recreated with RESERVE_WAL starts at the
    // backup's checkpoint, behind the archive (the last test needs that).
    pg = await startPostgres({ version: 15, settings: { checkpoint_timeout: '1h' } });
    await pg.query('CREATE TABLE secrets (id int, note text)');
    const server = {
      conninfo: pg.conninfo,
      streaming_conninfo: `host=127.0.0.1 port=${pg.port} user=postgres`,
      backup_method: 'postgres',
      backup_compression: 'gzip',
      backup_compression_format: 'tar',
      archiver: 'off',
      streaming_archiver: 'on',
      slot_name: 'barman',
      create_slot: 'auto',
      compression: 'gzip',
      path_prefix: '/usr/lib/postgresql/15/bin',
      encryption: 'gpg',
      encryption_key_id: gpg.fingerprint,
      encryption_passphrase_command: gpg.passphraseCommand,
    };
    const global = { barman_user: 'postgres' };
    const write = (file: string, main: Record<string, string | null>) =>
      writeBarmanConfig({ dir, file, mode: 0o644, global, servers: { main } });
    write('barman.conf', server);
    // archiver = on: a streaming-only server without a slot is a configuration error already.
    write('noslot.conf', { ...server, archiver: 'on', slot_name: null, create_slot: null });
    write('badkey.conf', { ...server, slot_name: 'badkey', encryption_key_id: 'nobody@example.invalid' });
  });

  after(async () => {
    try {
      await runBarman(['-c', conf('barman.conf'), 'receive-wal', '--stop', 'main']).catch(() => undefined);
      for (const pid of processesMentioning(dir)) await terminateProcess(pid, 'SIGKILL', 3_000);
      for (const server of started) await server.stop();
    } finally {
      unregisterCleanup?.();
      await pg?.stop();
      gpg?.stopAgent();
    }
  });

  it('refuses without a replication slot, naming file, section and option; check says so', async () => {
    const run = await barman('noslot.conf', 'receive-wal', 'main');
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, /slot_name is not set in section \[main\] of .*noslot\.conf/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    const check = await barman('noslot.conf', 'check', 'main');
    assert.match(check.stdout, /^\treceive-wal slot: FAILED/m, check.stdout);
    assert.equal(await slot('barman'), null, 'no slot created');
  });

  it('refuses to be a synchronous standby (commits would wait for whole segments)', async () => {
    await pg.query("ALTER SYSTEM SET synchronous_standby_names = '*'");
    await pg.query('SELECT pg_reload_conf()');
    try {
      const run = await barman('barman.conf', 'receive-wal', 'main');
      assert.equal(run.exitCode, 1, run.stdout);
      assert.match(run.stderr, /cannot be a synchronous standby with encryption = gpg/);
      assert.match(run.stderr, /synchronous_standby_names/);
    } finally {
      await pg.query('ALTER SYSTEM RESET synchronous_standby_names');
      await pg.query('SELECT pg_reload_conf()');
    }
  });

  it('refuses a key gpg cannot encrypt to before creating the slot or streaming anything', async () => {
    const run = await barman('badkey.conf', 'receive-wal', 'main');
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(run.stderr, /encryption_key_id/);
    assert.deepEqual(sealedFiles(), []);
    assert.equal(await slot('badkey'), null, 'no slot created (it would keep WAL on the server)');
  });

  it('streams WAL sealed: streaming/ holds only <name>.gz.gpg OpenPGP files, no marker anywhere', async () => {
    await startReceiver();
    const backup = await barman('barman.conf', 'backup', 'main');
    assert.equal(backup.exitCode, 0, backup.stderr);
    backupId = readdirSync(join(home(), 'main/base')).sort().at(-1)!;
    const segments = [];
    for (let round = 0; round < 3; round += 1) segments.push(await switchWal(`${MARKER}-streamed-${round}`));
    for (const segment of segments) await waitSealed(segment);
    const files = sealedFiles().filter((name) => !name.startsWith('.'));
    assert.ok(files.length >= 3, files.join(' '));
    for (const name of files) {
      assert.match(name, /^[0-9A-F]{24}\.gz\.gpg$/);
      assert.ok(isPublicKeyEncrypted(join(streaming(), name)), name);
    }
    assert.deepEqual(filesContaining(home(), MARKER), []);
    const partials = readdirSync(home(), { recursive: true }).filter((name) =>
      String(name).endsWith('.partial'),
    );
    assert.deepEqual(partials, [], 'no .partial file');
    // Reported flushed once sealed: the slot no longer keeps the sealed segments.
    const restart = (await slot('barman'))!.restart_lsn!;
    const lastEnd = segmentStartLsn(segments.at(-1)!, SEGMENT) + BigInt(SEGMENT);
    assert.ok(
      parseLsn(restart) >= lastEnd,
      `restart_lsn ${restart} is at or past the end of ${segments.at(-1)}`,
    );
  });

  it('archive-wal stores the sealed files as they are: xlog.db says gzip and gpg, streaming/ emptied', async () => {
    const name = sealedFiles().find((file) => file.endsWith('.gz.gpg'))!;
    const sealed = readFileSync(join(streaming(), name));
    const segment = name.slice(0, 24);
    // What pg_receivewal leaves when a server turns to encryption = gpg: a plaintext .partial of
    // a segment the sealing receiver has sealed since (the newest: a marker insert is in it).
    // archive-wal takes it too, encrypted.
    const newest = sealedFiles().at(-1)!.slice(0, 24);
    const leftover = join(streaming(), `${newest}.partial`);
    copyFileSync(join(pg.dataDir, 'pg_wal', newest), leftover);
    await chownTo(leftover, 'postgres');
    assert.notDeepEqual(filesContaining(home(), MARKER), [], 'the plaintext leftover holds the marker');
    const run = await barman('barman.conf', 'archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.deepEqual(sealedFiles(), []);
    assert.deepEqual(
      readFileSync(join(home(), 'main/wals/xlog.db'), 'utf8')
        .split('\n')
        .find((entry) => entry.startsWith(`${newest}.partial\t`))
        ?.split('\t')
        .slice(-2),
      ['gzip', 'gpg'],
      'the leftover .partial archived, encrypted',
    );
    const line = xlogNames().find(([wal]) => wal === segment)!;
    assert.deepEqual(line.slice(-2), ['gzip', 'gpg']);
    const stored = join(home(), 'main/wals', segment.slice(0, 16), segment);
    assert.ok(readFileSync(stored).equals(sealed), 'stored byte for byte, not encrypted again');
    assert.deepEqual(filesContaining(home(), MARKER), []);
  });

  it('a receive-wal killed (SIGKILL) mid-segment and restarted by cron leaves no gap in the archive', async () => {
    await pg.query(`INSERT INTO secrets SELECT g, '${MARKER}-killed' FROM generate_series(1, 100) g`);
    const interrupted = await currentSegment();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    receiver!.kill('SIGKILL');
    await receiverExit;
    await waitFor('the slot released', async () => (await slot('barman'))?.active === false);
    assert.ok(
      !sealedFiles().some((name) => name.startsWith(interrupted)),
      'the unfinished segment was never written',
    );

    const cron = await barman('barman.conf', 'cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    await waitFor('cron started receive-wal', async () => (await slot('barman'))?.active === true);
    const last = await switchWal(`${MARKER}-after-restart`);
    await waitSealed(interrupted);
    await waitSealed(last);
    const run = await barman('barman.conf', 'archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);

    const archived = xlogNames()
      .map(([name]) => name!)
      .sort();
    assert.deepEqual(archived, segmentsBetween(archived[0]!, archived.at(-1)!, SEGMENT), 'no gap');
    assert.ok(archived.includes(interrupted));
    for (const line of xlogNames()) assert.deepEqual(line.slice(-2), ['gzip', 'gpg'], line[0]);
    const got = getWalAsBarmanUser(conf('barman.conf'), gpg, ['main', interrupted]);
    assert.equal(got.status, 0, got.stderr.toString());
    assert.equal(got.stdout.length, SEGMENT);
    assert.ok(
      got.stdout.includes(`${MARKER}-killed`),
      'the re-streamed segment holds the rows written before the kill',
    );
    assert.deepEqual(filesContaining(home(), MARKER), []);
  });

  it('receive-wal --stop ends it cleanly (SIGINT): the lock and the slot are free, nothing plaintext left', async () => {
    const stop = await barman('barman.conf', 'receive-wal', '--stop', 'main');
    assert.equal(stop.exitCode, 0, stop.stderr);
    await waitFor('the slot released', async () => (await slot('barman'))?.active === false);
    assert.equal(processesMentioning(conf('barman.conf')).length, 0, 'no receive-wal left');
    assert.ok(
      sealedFiles().every((name) => name.endsWith('.gz.gpg')),
      sealedFiles().join(' '),
    );
    assert.deepEqual(filesContaining(home(), MARKER), []);
  });

  it('a slot behind the archive: streaming resumes after the newest archived segment, nothing streamed twice', async () => {
    const archivedNewest = xlogNames()
      .map(([name]) => name!)
      .sort()
      .at(-1)!;
    await pg.query("SELECT pg_drop_replication_slot('barman')");
    await pg.query("SELECT pg_create_physical_replication_slot('barman', true)");
    const restart = (await slot('barman'))!.restart_lsn!;
    assert.ok(
      parseLsn(restart) < segmentStartLsn(archivedNewest, SEGMENT),
      `precondition: the new slot (${restart}) is behind ${archivedNewest}`,
    );
    await startReceiver();
    const next = await switchWal(`${MARKER}-after-stop`);
    await waitSealed(next);
    assert.deepEqual(
      sealedFiles().filter((name) => name.slice(0, 24) <= archivedNewest),
      [],
      'no archived segment streamed again',
    );
    const run = await barman('barman.conf', 'archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    const archived = xlogNames()
      .map(([name]) => name!)
      .sort();
    assert.deepEqual(archived, segmentsBetween(archived[0]!, archived.at(-1)!, SEGMENT), 'no gap');
    const stop = await barman('barman.conf', 'receive-wal', '--stop', 'main');
    assert.equal(stop.exitCode, 0, stop.stderr);
  });

  it('recovers with the passphrase: PostgreSQL reads the marker rows', async () => {
    const destination = join(dir, 'recovered', 'dest');
    const run = await barman('barman.conf', 'recover', 'main', backupId, destination);
    assert.equal(run.exitCode, 0, run.stderr);
    const server = await startRecoveredCopy(destination);
    started.push(server);
    const rows = await server.query<{ note: string; n: string }>(
      'SELECT note, count(*) AS n FROM secrets GROUP BY note ORDER BY note',
    );
    assert.deepEqual(
      rows.map((row) => [row.note, Number(row.n)]),
      [
        [`${MARKER}-after-restart`, 100],
        [`${MARKER}-after-stop`, 100],
        [`${MARKER}-killed`, 100],
        [`${MARKER}-streamed-0`, 100],
        [`${MARKER}-streamed-1`, 100],
        [`${MARKER}-streamed-2`, 100],
      ],
    );
    await server.stop();
  });
});
