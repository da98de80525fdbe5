/**
 * Fault injection for the WAL archive, with real processes only: `barman archive-wal` and
 * `barman put-wal` killed with SIGKILL at many points, two archivers and two crons at once,
 * put-wal feeding while archive-wal runs, and a file system that fills up (tmpfs). The rule
 * under test: a WAL file is acknowledged only once durable, a crash leaves a catalogue the next
 * run understands, and two processes never corrupt each other. Nothing may be lost.
 *
 * The segments are real PostgreSQL 15 WAL, produced once; more are made from them by rewriting
 * the page address of their first page (what archive-wal checks against the name).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BARMAN_BIN,
  createDir,
  writeBarmanConfig,
  isRoot,
  makeTempDir,
  registerExitCleanup,
  runBarman,
  startBarman,
  startPostgres,
  waitFor,
} from '../harness/index.js';
import type { IniSection, RunningBarman } from '../harness/index.js';
import { TAR_END, tarMemberHeader, tarPadding } from '../../src/transfer/tar-writer.js';

const SEGMENT_SIZE = 16 * 1024 * 1024;
const PAGE = 4096;
const WAL_NAME = /^[0-9A-F]{24}$/;
const XLOG_LINE =
  /^([0-9A-F]{24}(?:\.[0-9A-F]{8}\.backup)?)\t(\d+)\t(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\t(gzip|None)$/;
/** put-wal's temp files: `.<pid>-<6 hex>-<name>.tmp`. */
const PUT_WAL_TEMP = /^\.\d+-[0-9a-f]{6}-.+\.tmp$/;

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const hex8 = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');

interface Segment {
  name: string;
  /** A pristine copy, outside any barman directory. */
  path: string;
  sha: string;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

const list = (directory: string): string[] => (existsSync(directory) ? readdirSync(directory).sort() : []);

interface ServerPaths {
  incoming: string;
  wals: string;
  errors: string;
  xlogDb: string;
}

/** Files under wals/<hash dir>/: archived names (with their paths) and temp (dot) files. */
function walsContent(paths: ServerPaths): { archived: Map<string, string[]>; temps: string[] } {
  const archived = new Map<string, string[]>();
  const temps: string[] = [];
  for (const hash of list(paths.wals)) {
    const directory = join(paths.wals, hash);
    if (!statSync(directory).isDirectory()) continue;
    for (const name of list(directory)) {
      if (name.startsWith('.')) temps.push(join(directory, name));
      else archived.set(name, [...(archived.get(name) ?? []), join(directory, name)]);
    }
  }
  return { archived, temps };
}

interface XlogDb {
  text: string;
  names: string[];
  lines: string[][];
}

function readXlogDb(paths: ServerPaths): XlogDb {
  const text = existsSync(paths.xlogDb) ? readFileSync(paths.xlogDb, 'utf8') : '';
  const raw = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const lines = raw.map((line) => line.split('\t'));
  return { text, names: lines.map((fields) => fields[0]!), lines };
}

/** Every line complete (newline-terminated) and well-formed: no torn line. */
function assertXlogDbWellFormed(db: XlogDb, context: string): void {
  assert.ok(db.text === '' || db.text.endsWith('\n'), `${context}: xlog.db ends with a torn line`);
  for (const line of db.text.replace(/\n$/, '').split('\n')) {
    if (db.text === '') break;
    assert.match(line, XLOG_LINE, `${context}: malformed xlog.db line ${JSON.stringify(line)}`);
  }
}

const incomingWals = (paths: ServerPaths) => list(paths.incoming).filter((name) => !name.startsWith('.'));

describe('WAL archive faults: kill -9, concurrency, full disk', { concurrency: 1 }, () => {
  let dir: string;
  let home: string;
  const segments: Segment[] = [];
  let timings: string[] = [];

  const pathsOf = (server: string, backupDirectory = join(home, server)): ServerPaths => ({
    incoming: join(backupDirectory, 'incoming'),
    wals: join(backupDirectory, 'wals'),
    errors: join(backupDirectory, 'errors'),
    xlogDb: join(backupDirectory, 'wals', 'xlog.db'),
  });

  /** A config file with `servers` (name -> extra options) and barman_home `barmanHome`. */
  function writeConfig(file: string, servers: Record<string, IniSection>, barmanHome = home): string {
    const sections = Object.entries(servers).map(([name, options]): [string, IniSection] => [
      name,
      {
        description: `"${name}"`,
        conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
        backup_method: 'local-rsync',
        archiver: true,
        ...options,
      },
    ]);
    return writeBarmanConfig({
      dir,
      file,
      global: { barman_home: barmanHome, log_level: 'INFO', compression: 'gzip' },
      servers: Object.fromEntries(sections),
    });
  }

  /** Copies segments into a directory, as archive_command would have delivered them. */
  function deliver(directory: string, chosen: readonly Segment[]): void {
    mkdirSync(directory, { recursive: true });
    for (const segment of chosen) copyFileSync(segment.path, join(directory, segment.name));
  }

  /**
   * The end state every scenario must reach: each segment archived exactly once and served back
   * byte for byte by get-wal, one well-formed xlog.db line each, nothing in incoming/, errors/
   * or left as a temp file in wals/.
   */
  async function assertFullyArchived(
    config: string,
    server: string,
    expected: readonly Segment[],
    { paths = pathsOf(server), alsoArchived = [] }: { paths?: ServerPaths; alsoArchived?: string[] } = {},
  ) {
    const { archived, temps } = walsContent(paths);
    assert.deepEqual(temps, [], `${server}: temp files left in wals/`);
    assert.deepEqual(
      [...archived.keys()].sort(),
      [...expected.map((segment) => segment.name), ...alsoArchived].sort(),
      `${server}: wals/ holds each segment, and nothing else`,
    );
    for (const [name, copies] of archived) assert.equal(copies.length, 1, `${name} archived once`);
    const db = readXlogDb(paths);
    assertXlogDbWellFormed(db, server);
    assert.deepEqual([...db.names].sort(), [...archived.keys()].sort(), `${server}: one xlog.db line each`);
    for (const fields of db.lines) {
      assert.equal(Number(fields[1]), statSync(archived.get(fields[0]!)![0]!).size, `${fields[0]} size`);
    }
    assert.deepEqual(list(paths.incoming), [], `${server}: incoming/ is empty`);
    assert.deepEqual(list(paths.errors), [], `${server}: errors/ is empty`);
    const out = join(dir, `restore-${server}`);
    mkdirSync(out, { recursive: true });
    await eachLimited(expected, 4, async (segment) => {
      const run = await runBarman(['-c', config, 'get-wal', server, segment.name, '-o', out]);
      assert.equal(run.exitCode, 0, `get-wal ${segment.name}: ${run.stderr}`);
      assert.equal(sha(readFileSync(join(out, segment.name))), segment.sha, `${segment.name} content`);
      unlinkSync(join(out, segment.name));
    });
  }

  /** Runs archive-wal until incoming/ has no WAL file left; every run must succeed. */
  async function archiveToCompletion(config: string, server: string): Promise<number> {
    let runs = 0;
    do {
      const run = await runBarman(['-c', config, 'archive-wal', server]);
      assert.equal(run.exitCode, 0, `archive-wal ${server}: ${run.stderr}`);
      runs += 1;
      assert.ok(runs < 40, 'archive-wal keeps finding work');
    } while (incomingWals(pathsOf(server)).length > 0);
    return runs;
  }

  before(async () => {
    const started = Date.now();
    dir = await makeTempDir('wal-faults', { owner: 'postgres' });
    home = await createDir(join(dir, 'home'));
    const staging = await createDir(join(dir, 'staging'), { owner: 'postgres' });
    const pool = await createDir(join(dir, 'pool'));
    // Real WAL: archive_command copies each finished segment into staging/ (atomically).
    const pg = await startPostgres({
      version: 15,
      archiveCommand: `cp %p ${staging}/.%f.part && mv ${staging}/.%f.part ${staging}/%f`,
    });
    const switched: string[] = [];
    try {
      await pg.query('create table t (v text)');
      for (let i = 0; i < 6; i++) {
        // A few MiB of poorly compressible rows per segment, so that gzip has real work to do.
        await pg.query(
          `insert into t select md5(random()::text) || md5(random()::text) from generate_series(1, 50000)`,
        );
        const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
        switched.push(row!.name);
      }
      await waitFor(
        'the switched segments in staging/',
        () => switched.every((name) => existsSync(join(staging, name))),
        { timeoutMs: 60_000 },
      );
    } finally {
      await pg.stop();
    }
    const real = list(staging)
      .filter((name) => WAL_NAME.test(name))
      .map((name) => readFileSync(join(staging, name)));
    assert.ok(real.length >= 6, `real segments: ${real.length}`);
    // 48 segments (0x20..0x4F): real content, first page address rewritten to match the name.
    for (let index = 0; index < 48; index++) {
      const number = 0x20 + index;
      const content = Buffer.from(real[index % real.length]!);
      content.writeBigUInt64LE(BigInt(number) * BigInt(SEGMENT_SIZE), 8);
      const name = `00000001${hex8(Math.floor(number / 256))}${hex8(number % 256)}`;
      writeFileSync(join(pool, name), content);
      segments.push({ name, path: join(pool, name), sha: sha(content) });
    }
    timings.push(`segments prepared in ${Date.now() - started} ms`);
  });

  after(() => {
    for (const line of timings) console.log(`# ${line}`);
    timings = [];
  });

  it('kill -9 of archive-wal at many points loses nothing and the next runs complete the catalogue', async (t) => {
    const started = Date.now();
    const server = 'killarc';
    const config = writeConfig(join(dir, 'killarc.conf'), {
      [server]: { compression: 'gzip', archiver_batch_size: '5' },
    });
    const paths = pathsOf(server);
    const chosen = segments.slice(0, 40);
    deliver(paths.incoming, chosen);

    const stats = { kills: 0, finished: 0, withTemp: 0, uncatalogued: 0, catalogedSourceKept: 0 };
    /** The state a kill left: nothing lost, sources removed only once archived and catalogued. */
    const inspect = (context: string) => {
      const incoming = new Set(incomingWals(paths));
      const { archived, temps } = walsContent(paths);
      const db = readXlogDb(paths);
      assertXlogDbWellFormed(db, context);
      assert.equal(new Set(db.names).size, db.names.length, `${context}: duplicate xlog.db line`);
      for (const segment of chosen) {
        const stored = archived.has(segment.name);
        const catalogued = db.names.includes(segment.name);
        assert.ok(incoming.has(segment.name) || (stored && catalogued), `${context}: ${segment.name} lost`);
        if (catalogued) assert.ok(stored, `${context}: ${segment.name} catalogued but not stored`);
        if (stored && !catalogued) stats.uncatalogued += 1;
        if (catalogued && incoming.has(segment.name)) stats.catalogedSourceKept += 1;
        assert.ok((archived.get(segment.name)?.length ?? 0) <= 1);
      }
      if (temps.length > 0) stats.withTemp += 1;
    };

    const killAt = async (label: string, trigger: (run: RunningBarman) => Promise<unknown>) => {
      const run = startBarman(['-c', config, 'archive-wal', server]);
      await trigger(run);
      run.child.kill('SIGKILL');
      const result = await run.exited;
      if (result.signal === 'SIGKILL') stats.kills += 1;
      else {
        assert.equal(result.exitCode, 0, `${label}: ${result.stderr}`);
        stats.finished += 1;
      }
      inspect(`after kill ${label}`);
    };
    const untilExitOr = (run: RunningBarman, condition: () => boolean, timeoutMs = 3000) =>
      Promise.race([
        run.exited,
        (async () => {
          const deadline = Date.now() + timeoutMs;
          while (!condition() && Date.now() < deadline) await sleep(1);
        })(),
      ]);

    // Timed kills, from start-up to the middle of compression and commit.
    for (const delay of [5, 30, 60, 90, 110, 130, 150, 170, 190, 210, 240, 270, 300, 350, 420]) {
      await killAt(`${delay} ms`, (run) => Promise.race([run.exited, sleep(delay)]));
    }
    // Kills aimed at the windows that matter: temp file written, renamed into wals/ (xlog.db not
    // yet appended), xlog.db appended (source not yet removed).
    const walsTempExists = () => walsContent(paths).temps.length > 0;
    for (let round = 0; round < 2; round++) {
      await killAt('while a temp file exists', (run) => untilExitOr(run, walsTempExists));
      const stored = walsContent(paths).archived.size;
      await killAt('right after a rename', (run) =>
        untilExitOr(run, () => walsContent(paths).archived.size > stored),
      );
      const size = existsSync(paths.xlogDb) ? statSync(paths.xlogDb).size : 0;
      await killAt('right after an xlog.db append', (run) =>
        untilExitOr(run, () => existsSync(paths.xlogDb) && statSync(paths.xlogDb).size > size),
      );
    }
    t.diagnostic(`kill points: ${JSON.stringify(stats)}`);
    assert.ok(stats.kills >= 18, `most runs were killed: ${JSON.stringify(stats)}`);

    const runs = await archiveToCompletion(config, server);
    await assertFullyArchived(config, server, chosen);
    timings.push(
      `kill -9 archive-wal: ${stats.kills} kills, ${runs} final runs, ${Date.now() - started} ms ${JSON.stringify(stats)}`,
    );
  });

  it('kill -9 of put-wal --file: the final put-wal delivers the whole file, leftovers are ignored then cleaned', async (t) => {
    const started = Date.now();
    const server = 'killput';
    const config = writeConfig(join(dir, 'killput.conf'), { [server]: { compression: 'gzip' } });
    const paths = pathsOf(server);
    const segment = segments[0]!;
    let killed = 0;
    let deadPid = 0;
    for (const delay of [2, 20, 50, 80, 95, 105, 115, 125, 135, 145, 160, 180, 210, 250]) {
      const run = startBarman(['-c', config, 'put-wal', server, '--file', segment.path]);
      await Promise.race([run.exited, sleep(delay)]);
      run.child.kill('SIGKILL');
      const result = await run.exited;
      if (result.signal === 'SIGKILL') {
        killed += 1;
        deadPid = run.child.pid!;
      } else assert.equal(result.exitCode, 0, result.stderr);
      // Whatever sits under the final name is complete: a rename publishes only fsynced files.
      for (const name of incomingWals(paths)) {
        assert.equal(name, segment.name);
        assert.equal(sha(readFileSync(join(paths.incoming, name))), segment.sha, `after ${delay} ms`);
      }
    }
    const final = await runBarman(['-c', config, 'put-wal', server, '--file', segment.path]);
    assert.equal(final.exitCode, 0, final.stderr);
    assert.deepEqual(incomingWals(paths), [segment.name]);
    assert.equal(sha(readFileSync(join(paths.incoming, segment.name))), segment.sha);
    const leftovers = list(paths.incoming).filter((name) => name.startsWith('.'));
    for (const name of leftovers) assert.match(name, PUT_WAL_TEMP);
    t.diagnostic(`${killed} put-wal runs killed, ${leftovers.length} temp files left behind`);

    const archive = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(archive.exitCode, 0, archive.stderr);
    assert.equal(
      archive.stdout,
      `Processing xlog segments from file archival for ${server}\n\t${segment.name}\n`,
    );
    assert.deepEqual([...walsContent(paths).archived.keys()], [segment.name]);
    assert.deepEqual(list(paths.errors), []);
    // Fresh temp files may belong to a put-wal still writing: they stay.
    assert.deepEqual(
      list(paths.incoming),
      leftovers,
      'recent put-wal temp files are left alone (the writer may be alive)',
    );

    // Stale ones (writer dead, untouched for hours) are removed; a live writer's file and files
    // that are not put-wal's stay, whatever their age. One more stale file, in case no kill left one.
    writeFileSync(join(paths.incoming, `.${deadPid}-0a0b0c-${segment.name}.tmp`), 'killed');
    const live = `.${process.pid}-abcdef-${segments[1]!.name}.tmp`;
    const foreign = `.${segments[2]!.name}.tmp`;
    writeFileSync(join(paths.incoming, live), 'being written');
    writeFileSync(join(paths.incoming, foreign), 'archive_command at work');
    const old = new Date(Date.now() - 3 * 3600_000);
    for (const name of list(paths.incoming)) utimesSync(join(paths.incoming, name), old, old);
    const cleanup = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(cleanup.exitCode, 0, cleanup.stderr);
    assert.deepEqual(list(paths.incoming), [live, foreign].sort(), 'stale put-wal temp files are removed');
    unlinkSync(join(paths.incoming, live));
    unlinkSync(join(paths.incoming, foreign));
    await assertFullyArchived(config, server, [segment]);
    timings.push(
      `kill -9 put-wal: ${killed} kills, ${leftovers.length} leftovers, ${Date.now() - started} ms`,
    );
  });

  it('two archive-wal at once: the second reports the first and nothing is duplicated', async () => {
    const started = Date.now();
    const server = 'race';
    // gzip at its highest level: slow enough for the first run to still hold the lock.
    const config = writeConfig(join(dir, 'race.conf'), {
      [server]: { compression: 'gzip', compression_level: 'high' },
    });
    const paths = pathsOf(server);
    const chosen = segments.slice(0, 6);
    deliver(paths.incoming, chosen);
    const lock = join(home, `.${server}-archive-wal.lock`);
    const first = startBarman(['-c', config, 'archive-wal', server]);
    await waitFor('the first archive-wal to hold its lock', () => lockedBy(lock, first.child.pid!), {
      intervalMs: 5,
    });
    const second = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(second.exitCode, 1, second.stdout);
    assert.equal(
      second.stderr,
      `ERROR: Another archive-wal process is already running on server ${server}\n`,
    );
    const result = await first.exited;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout.split('\n').filter((line) => line.startsWith('\t')).length, chosen.length);
    await assertFullyArchived(config, server, chosen);
    timings.push(`two archive-wal at once: ${Date.now() - started} ms`);
  });

  it('two crons at once (and archive-wal beside them) archive every segment exactly once', async () => {
    const started = Date.now();
    const server = 'cronsrv';
    const config = writeConfig(join(dir, 'cron.conf'), {
      [server]: { compression: 'gzip', compression_level: 'high' },
    });
    const paths = pathsOf(server);
    const firstBatch = segments.slice(0, 6);
    deliver(paths.incoming, firstBatch);
    const first = startBarman(['-c', config, 'cron']);
    const pid = first.child.pid!;
    await waitFor(
      'the first cron to hold the cron and archive-wal locks',
      () =>
        lockedBy(join(home, `.${server}-cron.lock`), pid) &&
        lockedBy(join(home, `.${server}-archive-wal.lock`), pid),
      { intervalMs: 5 },
    );
    const [second, archiver] = await Promise.all([
      runBarman(['-c', config, 'cron']),
      runBarman(['-c', config, 'archive-wal', server]),
    ]);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.equal(
      second.stdout,
      `Another cron process is already running on server ${server}. Skipping to the next server\n`,
    );
    assert.equal(archiver.exitCode, 1);
    assert.match(archiver.stderr, /Another archive-wal process is already running on server cronsrv/);
    const result = await first.exited;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^Starting WAL archiving for server cronsrv\n/);

    // Two crons started together, whichever gets there first.
    const secondBatch = segments.slice(6, 10);
    deliver(paths.incoming, secondBatch);
    const together = await Promise.all([
      runBarman(['-c', config, 'cron']),
      runBarman(['-c', config, 'cron']),
    ]);
    for (const run of together) assert.equal(run.exitCode, 0, run.stderr);
    await assertFullyArchived(config, server, [...firstBatch, ...secondBatch]);
    timings.push(`two crons at once: ${Date.now() - started} ms`);
  });

  it('put-wal feeding (with retries of the same files) while two archive-wal loops run', async () => {
    const started = Date.now();
    const server = 'feed';
    const config = writeConfig(join(dir, 'feed.conf'), { [server]: { compression: 'gzip' } });
    const paths = pathsOf(server);
    const chosen = segments.slice(0, 12);
    // Two feeders deliver every segment, in opposite orders: each file arrives twice, sometimes
    // while the first copy waits in incoming/, sometimes once it is archived, sometimes at once.
    let feeding = true;
    const feed = async (order: readonly Segment[]) => {
      for (const segment of order) {
        const run = await runBarman(['-c', config, 'put-wal', server, '--file', segment.path]);
        assert.equal(run.exitCode, 0, `put-wal ${segment.name}: ${run.stderr}`);
      }
    };
    let archiveRuns = 0;
    let busy = 0;
    const archiveLoop = async () => {
      while (feeding) {
        const run = await runBarman(['-c', config, 'archive-wal', server]);
        archiveRuns += 1;
        if (run.exitCode !== 0) {
          assert.match(run.stderr, /Another archive-wal process is already running/, run.stderr);
          busy += 1;
        }
        await sleep(100);
      }
    };
    const loops = [archiveLoop(), archiveLoop()];
    try {
      await Promise.all([feed(chosen), feed([...chosen].reverse())]);
    } finally {
      feeding = false;
      await Promise.all(loops);
    }
    await archiveToCompletion(config, server);
    // A retry of files already archived is accepted without a new copy.
    for (const segment of chosen.slice(0, 3)) {
      const retry = await runBarman(['-c', config, 'put-wal', server, '--file', segment.path]);
      assert.equal(retry.exitCode, 0, retry.stderr);
    }
    assert.deepEqual(list(paths.incoming), []);
    await assertFullyArchived(config, server, chosen);
    timings.push(
      `put-wal feeding: ${archiveRuns} archive-wal runs (${busy} busy), ${Date.now() - started} ms`,
    );
  });

  it('a segment that arrives through streaming/ and incoming/ in one run gets one xlog.db line', async () => {
    const server = 'both';
    const config = writeConfig(join(dir, 'both.conf'), {
      [server]: { compression: 'gzip', streaming_archiver: 'on' },
    });
    const paths = pathsOf(server);
    const chosen = segments.slice(0, 3);
    const streaming = join(home, server, 'streaming');
    deliver(streaming, chosen);
    // pg_receivewal's current file: with it there, every complete segment is archivable.
    writeFileSync(join(streaming, `${segments[3]!.name}.partial`), '');
    deliver(paths.incoming, chosen);
    const run = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(run.exitCode, 0, run.stderr);
    await assertFullyArchived(config, server, chosen);
    assert.deepEqual(list(streaming), [`${segments[3]!.name}.partial`]);
  });

  /** The state a kill -9 leaves between the rename into wals/ and the xlog.db append. */
  async function archivedButNotCatalogued(server: string, config: string, segment: Segment) {
    const paths = pathsOf(server);
    deliver(paths.incoming, [segment]);
    // A source mtime with nanoseconds, as the kernel gives: utimes() keeps only microseconds.
    execFileSync('touch', ['-d', '@1795000000.123456789', join(paths.incoming, segment.name)]);
    const source = join(dir, `${server}-source`);
    execFileSync('ln', [join(paths.incoming, segment.name), source]);
    const run = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(run.exitCode, 0, run.stderr);
    writeFileSync(paths.xlogDb, '');
    execFileSync('ln', [source, join(paths.incoming, segment.name)]);
    unlinkSync(source);
  }

  it('a file archived but not catalogued by a killed run gets the line rebuild-xlogdb would write', async () => {
    const server = 'relined';
    const config = writeConfig(join(dir, 'relined.conf'), { [server]: { compression: 'gzip' } });
    const paths = pathsOf(server);
    await archivedButNotCatalogued(server, config, segments[0]!);
    const run = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(run.exitCode, 0, run.stderr);
    await assertFullyArchived(config, server, [segments[0]!]);
    const completed = readXlogDb(paths).text;
    const rebuild = await runBarman(['-c', config, 'rebuild-xlogdb', server]);
    assert.equal(rebuild.exitCode, 0, rebuild.stderr);
    assert.equal(
      completed,
      readXlogDb(paths).text,
      'xlog.db equals what rebuild-xlogdb makes of the archive',
    );
  });

  it('rebuild-xlogdb while archive-wal runs: no file catalogued twice', async () => {
    const server = 'rebuilding';
    const configFile = join(dir, 'rebuilding.conf');
    // The pre-archive hook runs rebuild-xlogdb after archive-wal has read xlog.db.
    const config = writeConfig(configFile, {
      [server]: {
        compression: 'gzip',
        pre_archive_script: `${process.execPath} ${BARMAN_BIN} -c ${configFile} -q rebuild-xlogdb ${server}`,
      },
    });
    await archivedButNotCatalogued(server, config, segments[0]!);
    const run = await runBarman(['-c', config, 'archive-wal', server]);
    assert.equal(run.exitCode, 0, run.stderr);
    await assertFullyArchived(config, server, [segments[0]!]);
  });

  it('a rewrite of xlog.db killed before its rename: the next archive-wal removes the temp copy', async (t) => {
    const server = 'torn';
    const config = writeConfig(join(dir, 'torn.conf'), { [server]: { compression: 'gzip' } });
    const paths = pathsOf(server);
    deliver(paths.incoming, segments.slice(0, 3));
    await archiveToCompletion(config, server);
    const temps = () => list(paths.wals).filter((name) => name.startsWith('.xlog.db.'));
    // rebuild-xlogdb killed the moment its temp copy of xlog.db appears (inotify: no polling delay).
    let attempts = 0;
    while (temps().length === 0 && attempts < 20) {
      attempts += 1;
      const run = startBarman(['-c', config, 'rebuild-xlogdb', server]);
      const watcher = watch(paths.wals, (_event, name) => {
        if (typeof name === 'string' && name.startsWith('.xlog.db.')) run.child.kill('SIGKILL');
      });
      await run.exited;
      watcher.close();
    }
    t.diagnostic(`${attempts} rebuild-xlogdb runs to leave a temp copy behind`);
    assert.equal(temps().length, 1, 'a killed rewrite left its temp copy');
    deliver(paths.incoming, segments.slice(3, 4));
    await archiveToCompletion(config, server);
    assert.deepEqual(temps(), [], 'archive-wal removed it, under the xlogdb lock');
    await assertFullyArchived(config, server, segments.slice(0, 4));
  });

  describe(
    'a file system that fills up (tmpfs)',
    { concurrency: 1, skip: !isRoot() && 'needs root to mount' },
    () => {
      let mount: string;
      let fullHome: string;
      let config: string;
      let unmount: (() => void) | undefined;
      const fullPaths = (server: string, incoming?: string): ServerPaths => ({
        ...pathsOf(server, join(fullHome, server)),
        ...(incoming ? { incoming } : {}),
      });
      const freePages = () => Number(statfsSync(mount).bfree);
      /** Takes space with a filler file until exactly `pages` pages stay free. */
      const leaveFree = (pages: number) => {
        const filler = join(mount, 'filler');
        for (let attempt = 0; attempt < 5 && freePages() !== pages; attempt++) {
          const current = existsSync(filler) ? statSync(filler).size : 0;
          const target = current + (freePages() - pages) * PAGE;
          assert.ok(target >= 0, `cannot leave ${pages} pages free`);
          if (target < current) truncateSync(filler, target);
          else writeFileSync(filler, Buffer.alloc(target - current), { flag: 'a' });
        }
        assert.equal(freePages(), pages, 'free pages on the tmpfs');
      };
      const removeFiller = () => rmSync(join(mount, 'filler'), { force: true });

      before(async () => {
        mount = await createDir(join(dir, 'full'));
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m,mode=0755', 'tmpfs', mount]);
        const unregister = registerExitCleanup(() => execFileSync('umount', ['-l', mount]));
        unmount = () => {
          unregister();
          execFileSync('umount', [mount]);
        };
        fullHome = mount;
        config = writeConfig(
          join(dir, 'full.conf'),
          {
            // incoming/ elsewhere: archiving copies every byte into the small file system.
            disk: { compression: 'none', incoming_wals_directory: join(dir, 'disk-incoming') },
            edge: { compression: 'none', incoming_wals_directory: join(dir, 'edge-incoming') },
            // incoming/ in the small file system: put-wal fills it.
            inbox: { compression: 'none' },
          },
          fullHome,
        );
      });

      after(() => unmount?.());

      it('archive-wal on a full disk: a clear error, nothing lost, and a rerun completes once there is room', async () => {
        const started = Date.now();
        const paths = fullPaths('disk', join(dir, 'disk-incoming'));
        const chosen = segments.slice(0, 4); // 64 MiB for 40 MiB
        deliver(paths.incoming, chosen);
        const attempts: string[] = [];
        for (let attempt = 0; attempt < 2; attempt++) {
          const run = await runBarman(['-c', config, 'archive-wal', 'disk']);
          assert.equal(run.exitCode, 1, `the full disk is an error: ${run.stdout}`);
          assert.match(run.stderr, /no space left on (the )?device/i);
          const { archived } = walsContent(paths);
          const db = readXlogDb(paths);
          assertXlogDbWellFormed(db, 'full disk');
          for (const segment of chosen) {
            if (existsSync(join(paths.incoming, segment.name))) {
              assert.equal(sha(readFileSync(join(paths.incoming, segment.name))), segment.sha);
            } else {
              assert.ok(archived.has(segment.name), `${segment.name} lost`);
              assert.ok(db.names.includes(segment.name), `${segment.name} archived but not catalogued`);
            }
          }
          for (const [name, [path]] of archived) {
            assert.equal(sha(readFileSync(path!)), chosen.find((segment) => segment.name === name)!.sha);
          }
          attempts.push(`${archived.size} archived: ${run.stderr.trim()}`);
        }
        // Some progress is made despite the full disk: what fits is archived.
        assert.ok(walsContent(paths).archived.size >= 2, attempts.join('\n'));
        execFileSync('mount', ['-o', 'remount,size=200m', mount]);
        const rerun = await runBarman(['-c', config, 'archive-wal', 'disk']);
        assert.equal(rerun.exitCode, 0, rerun.stderr);
        await assertFullyArchived(config, 'disk', chosen, { paths });
        timings.push(`full disk while archiving: ${Date.now() - started} ms\n#   ${attempts.join('\n#   ')}`);
      });

      it('disk full exactly at the xlog.db append: no torn line, the source stays, a rerun completes the line', async () => {
        const started = Date.now();
        const paths = fullPaths('edge', join(dir, 'edge-incoming'));
        // A first segment (identity, locks, xlog.db), then small .backup files until xlog.db can be
        // padded to end 24 bytes before a page boundary: the next line then needs a page the full
        // disk does not have, after 24 of its bytes fit.
        const [first, second] = [segments[0]!, segments[1]!];
        deliver(paths.incoming, [first]);
        const backups: string[] = [];
        const archive = async () => {
          const run = await runBarman(['-c', config, 'archive-wal', 'edge']);
          assert.equal(run.exitCode, 0, run.stderr);
        };
        /** xlog.db with each mtime written with `digits(i)` decimals (all '1'): valid floats. */
        const padded = (digits: (index: number) => number) =>
          readXlogDb(paths)
            .lines.map(
              ([name, size, mtime, compression], index) =>
                `${name}\t${size}\t${mtime!.split('.')[0]}.${'1'.repeat(digits(index))}\t${compression}\n`,
            )
            .join('');
        const plan = () => {
          const base = padded(() => 1).length;
          const target = Math.ceil((base + 24) / PAGE) * PAGE - 24;
          return { target, missing: target - base, capacity: 9 * readXlogDb(paths).lines.length };
        };
        for (let round = 0; round === 0 || plan().missing > plan().capacity; round++) {
          assert.ok(round < 8, 'xlog.db cannot be padded');
          const count = round === 0 ? 40 : Math.max(1, Math.floor((plan().missing - 200) / 70));
          for (let index = 0; index < count; index++) {
            const name = `0000000100000000${hex8(0x60 + backups.length)}.00000028.backup`;
            writeFileSync(join(paths.incoming, name), `START WAL LOCATION: ${name}\n`);
            backups.push(name);
          }
          await archive();
        }
        const { target, missing } = plan();
        writeFileSync(
          paths.xlogDb,
          padded((index) => 1 + Math.max(0, Math.min(9, missing - 9 * index))),
        );
        assert.equal(statSync(paths.xlogDb).size, target, 'xlog.db padded');
        const db = readXlogDb(paths);

        deliver(paths.incoming, [second]);
        leaveFree(SEGMENT_SIZE / PAGE); // room for the archived copy, not one byte more
        for (let attempt = 0; attempt < 2; attempt++) {
          const run = await runBarman(['-c', config, 'archive-wal', 'edge']);
          const after = readXlogDb(paths);
          assertXlogDbWellFormed(after, `attempt ${attempt}`);
          assert.equal(run.exitCode, 1, `the failed append is an error: ${run.stdout}`);
          assert.match(run.stderr, /no space left on (the )?device/i);
          assert.equal(after.text.length, target, 'xlog.db is left as it was');
          assert.equal(sha(readFileSync(join(paths.incoming, second.name))), second.sha, 'the source stays');
        }
        removeFiller();
        const rerun = await runBarman(['-c', config, 'archive-wal', 'edge']);
        assert.equal(rerun.exitCode, 0, rerun.stderr);
        const final = readXlogDb(paths);
        assertXlogDbWellFormed(final, 'after the rerun');
        assert.deepEqual(final.names, [...db.names, second.name]);
        assert.deepEqual(list(paths.incoming), []);
        await assertFullyArchived(config, 'edge', [first, second], { paths, alsoArchived: backups });
        timings.push(`full disk at the xlog.db append: ${Date.now() - started} ms`);
      });

      it('put-wal into a full incoming/ (--file and tar stream): an error and no partial file under the final name', async () => {
        const started = Date.now();
        const paths = fullPaths('inbox');
        const segment = segments[2]!;
        const content = readFileSync(segment.path);
        // What barman-wal-archive sends: the file, then its SHA256SUMS.
        const sums = Buffer.from(`${segment.sha} *${segment.name}\n`);
        const stream = Buffer.concat([
          tarMemberHeader(segment.name, '0', content.length, { mode: 0o600, mtimeSeconds: 1_700_000_000 }),
          content,
          tarPadding(content.length),
          tarMemberHeader('SHA256SUMS', '0', sums.length, { mode: 0o600, mtimeSeconds: 1_700_000_000 }),
          sums,
          tarPadding(sums.length),
          TAR_END,
        ]);
        const ways: Array<[string, string[], Buffer | undefined]> = [
          ['--file', ['put-wal', 'inbox', '--file', segment.path], undefined],
          ['tar stream', ['put-wal', 'inbox'], stream],
        ];
        mkdirSync(paths.incoming, { recursive: true });
        for (const [way, args, input] of ways) {
          // 64 pages short: the last write is cut short (a short count, not an error); then no room at all.
          for (const pages of [SEGMENT_SIZE / PAGE - 64, 0]) {
            leaveFree(pages);
            const run = await runBarman(['-c', config, ...args], input ? { input } : {});
            assert.equal(run.exitCode, 1, `${way} with ${pages} free pages must fail: ${run.stdout}`);
            assert.equal(
              run.stderr,
              `ERROR: no space left in ${paths.incoming} to store ${segment.name}\n`,
              way,
            );
            assert.deepEqual(list(paths.incoming), [], `${way}: no file under the final name, no temp file`);
          }
          removeFiller();
          const run = await runBarman(['-c', config, ...args], input ? { input } : {});
          assert.equal(run.exitCode, 0, `${way}: ${run.stderr}`);
          assert.deepEqual(list(paths.incoming), [segment.name]);
          assert.equal(sha(readFileSync(join(paths.incoming, segment.name))), segment.sha);
          unlinkSync(join(paths.incoming, segment.name));
        }
        deliver(paths.incoming, [segment]);
        const archive = await runBarman(['-c', config, 'archive-wal', 'inbox']);
        assert.equal(archive.exitCode, 0, archive.stderr);
        await assertFullyArchived(config, 'inbox', [segment], { paths });
        timings.push(`put-wal into a full incoming/: ${Date.now() - started} ms`);
      });
    },
  );
});

/** Whether the lock file at `path` names `pid` (it is written once the flock is held). */
function lockedBy(path: string, pid: number): boolean {
  try {
    return readFileSync(path, 'utf8').trim() === String(pid);
  } catch {
    return false;
  }
}
