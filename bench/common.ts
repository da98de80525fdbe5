/**
 * Shared plumbing of the benchmarks in bench/: timing child processes, the cold-cache protocol
 * of test-rig.md §4, table printing, Barman configuration files, and a cache of real 16 MiB WAL
 * segments produced by pgbench on a throwaway PostgreSQL 15 cluster.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import {
  chown,
  cp,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { CompletedRun, PostgresServer, RunResult } from '../test/harness/index.js';
import {
  PG17_TOOLS,
  isRoot,
  makeTempDir,
  runAs,
  runCompletely,
  runInDebian13,
  startPostgres,
} from '../test/harness/index.js';

export const BARMAN_34_BIN = '/usr/bin/barman';
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SEGMENT_SIZE = 16 * 1024 * 1024;
export const MIB = 1024 * 1024;

/**
 * pgbench against `pg` (a PostgreSQL 17 or 18 server of the harness): 17's from the Debian 13 root;
 * for 18, Debian 12's 15 (plain SQL, it drives 18 fine: the forky root has no server package).
 */
export function pgbenchOf(version: 17 | 18, pg: PostgresServer): (args: string[]) => Promise<RunResult> {
  return (args) => {
    const connection = ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', ...args];
    return version === 17
      ? runInDebian13(join(PG17_TOOLS, 'pgbench'), connection, { timeoutMs: 3_600_000 })
      : runAs(null, '/usr/lib/postgresql/15/bin/pgbench', connection, { timeoutMs: 3_600_000 });
  };
}

// ---------------------------------------------------------------------------------------------
// Running and timing commands

export interface TimedRun extends CompletedRun {
  ms: number;
}

/**
 * Runs `command` to completion (as `user` via runuser when not null/root) and measures its wall
 * time. The environment never carries NODE_EXTRA_CA_CERTS (pitfall P13): the harness drops it.
 */
export async function timeRun(
  user: string | null,
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<TimedRun> {
  const start = process.hrtime.bigint();
  const run = await runCompletely(user, command, args, { timeoutMs: 600_000, ...options });
  return { ...run, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Throws with the command's output when it did not exit 0. */
export function assertSucceeded(run: CompletedRun, what = run.display): void {
  if (run.exitCode === 0) return;
  const why = run.timedOut ? 'timed out' : `exited with ${run.exitCode ?? run.signal}`;
  const output = [run.stderr.trim(), run.stdout.trim()].filter(Boolean).join('\n').slice(-3000);
  throw new BenchFailure(`${what} ${why}${output ? `:\n${output}` : ''}`);
}

/**
 * Cold cache as in test-rig.md §4: `sync; echo 3 > /proc/sys/vm/drop_caches`. Returns false
 * (after the sync) when the caches cannot be dropped (not root, read-only /proc).
 */
export function dropCaches(): boolean {
  spawnSync('sync');
  if (!isRoot()) return false;
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** `sync` (all filesystems). */
export function syncAll(): void {
  spawnSync('sync');
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(1)} ms`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MIB) return `${(bytes / 1024 / MIB).toFixed(2)} GiB`;
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-';
}

/** Prints an aligned table; columns whose header starts with '<' are left-aligned (the '<' is dropped). */
export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const left = headers.map((header) => header.startsWith('<'));
  const names = headers.map((header) => header.replace(/^</, ''));
  const widths = names.map((name, column) =>
    Math.max(name.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (left[column] ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  console.log(line(names));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** One line describing the machine and moment of a run (load average matters: ±20 %). */
export function environmentLine(): string {
  const [load1] = loadavg();
  return `${process.version}, ${new Date().toISOString()}, load average ${load1!.toFixed(2)}`;
}

/**
 * Which barman-ts is measured: the commit, whether src/ had uncommitted changes, and when the
 * bundle was built.
 */
function implementationLine(): string {
  const git = (args: string[]): string =>
    spawnSync('git', ['-C', PROJECT_ROOT, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown commit';
  const dirty = git(['status', '--porcelain', '--', 'src', 'scripts', 'package.json']) !== '';
  let built = 'unknown';
  try {
    built = statSync(join(PROJECT_ROOT, 'dist', 'bundle', 'barman.js')).mtime.toISOString();
  } catch {
    // no bundle: the runs will fail and say so
  }
  return `barman-ts at ${head}${dirty ? ' with uncommitted changes in src/' : ''}, bundle built ${built}`;
}

/** A benchmark failure whose message says it all (printed without a stack trace). */
export class BenchFailure extends Error {}

/** Resolves once everything written to `stream` so far has been handed to the OS (pipes are async). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Runs a benchmark's main function: exit code 1 and the error on stderr when anything fails.
 * stdout/stderr are flushed before process.exit, which would otherwise cut output to a pipe.
 */
export function runMain(main: () => Promise<void>): void {
  const exit = async (code: number): Promise<never> => {
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit(code); // the harness's exit cleanups remove temp dirs and stop servers
  };
  main().then(
    () => exit(0),
    (error: unknown) => {
      const text =
        error instanceof BenchFailure
          ? error.message
          : error instanceof Error
            ? (error.stack ?? error.message)
            : String(error);
      console.error(`\nBENCHMARK FAILED: ${text}`);
      return exit(1);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// A stable copy of barman-ts

/**
 * Copies bin/ and dist/bundle/ into a temp dir (node_modules linked) and returns the copy's
 * bin/barman.js. Other work rebuilds dist/bundle/ while benchmarks run, and a rebuild removes
 * the chunks of the previous build, which would make a run fail halfway; the copy is checked to
 * be one complete build (every chunk a bundle file imports exists) before it is used.
 */
export async function snapshotBarmanTs(): Promise<{ bin: string; description: string }> {
  const bundleDir = join(PROJECT_ROOT, 'dist', 'bundle');
  for (let attempt = 1; ; attempt += 1) {
    const dir = await makeTempDir('bench-bundle');
    const before = statSync(join(bundleDir, 'barman.js')).mtimeMs;
    await cp(join(PROJECT_ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
    await cp(bundleDir, join(dir, 'dist', 'bundle'), { recursive: true });
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    await cp(join(PROJECT_ROOT, 'package.json'), join(dir, 'package.json'));
    const missing = await missingChunks(join(dir, 'dist', 'bundle'));
    if (missing.length === 0 && statSync(join(bundleDir, 'barman.js')).mtimeMs === before) {
      return { bin: join(dir, 'bin', 'barman.js'), description: implementationLine() };
    }
    await rm(dir, { recursive: true, force: true });
    if (attempt >= 30)
      throw new BenchFailure(`dist/bundle/ keeps changing or is incomplete (missing: ${missing.join(', ')})`);
    await sleep(2000);
  }
}

async function missingChunks(bundleDir: string): Promise<string[]> {
  const files = new Set(await readdir(bundleDir));
  const missing = new Set<string>();
  for (const file of files) {
    if (!file.endsWith('.js')) continue;
    const text = await readFile(join(bundleDir, file), 'utf8');
    // Only import specifiers: the AWS SDK embeds a package.json listing './sso.js' and others.
    for (const match of text.matchAll(/(?:from\s*|import\s*\(\s*)["']\.\/([\w.-]+\.js)["']/g)) {
      if (!files.has(match[1]!)) missing.add(match[1]!);
    }
  }
  return [...missing];
}

// ---------------------------------------------------------------------------------------------
// Barman configuration

export interface ServerSection {
  name: string;
  /** Extra options (compression, ...), written as `key = value`. */
  options?: Record<string, string>;
}

/**
 * A minimal configuration both Barman 3.4 and barman-ts accept: dummy conninfo/ssh_command
 * (nothing here connects to PostgreSQL), `archiver = on`.
 */
export async function writeBarmanConfig(
  file: string,
  global: { barmanUser: string; home: string; logFile: string; options?: Record<string, string> },
  servers: readonly ServerSection[],
): Promise<void> {
  const lines = [
    '[barman]',
    `barman_user = ${global.barmanUser}`,
    `barman_home = ${global.home}`,
    `log_file = ${global.logFile}`,
    'log_level = INFO',
    ...Object.entries(global.options ?? {}).map(([key, value]) => `${key} = ${value}`),
  ];
  for (const server of servers) {
    lines.push(
      '',
      `[${server.name}]`,
      'description = barman-ts benchmark',
      'conninfo = host=127.0.0.1 port=1 user=postgres dbname=postgres',
      'ssh_command = ssh -p 1 postgres@127.0.0.1',
      'backup_method = rsync',
      'archiver = on',
      ...Object.entries(server.options ?? {}).map(([key, value]) => `${key} = ${value}`),
    );
  }
  await writeFile(file, `${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// WAL segment names and headers

export function segmentNumber(name: string): number {
  return parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
}

export function segmentName(timeline: number, segno: number): string {
  const hex = (value: number): string => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segno / 256))}${hex(segno % 256)}`;
}

/** `X/Y` LSN text of a byte position. */
export function formatLsn(position: number): string {
  const high = Math.floor(position / 2 ** 32);
  const low = position % 2 ** 32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

const XLOG_PAGE_MAGIC_PG15 = 0xd110;

export interface WalHeaderCheck {
  ok: boolean;
  reason?: string;
  systemIdentifier?: string;
}

/** Checks a WAL segment's long page header: PG15 magic, page address matching the name, size. */
export async function checkWalSegment(path: string, name: string): Promise<WalHeaderCheck> {
  const info = await stat(path).catch(() => null);
  if (!info) return { ok: false, reason: 'missing' };
  if (info.size !== SEGMENT_SIZE) return { ok: false, reason: `size ${info.size}` };
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(40);
    await handle.read(head, 0, head.length, 0);
    if (head.readUInt16LE(0) !== XLOG_PAGE_MAGIC_PG15)
      return { ok: false, reason: `magic ${head.readUInt16LE(0).toString(16)}` };
    const pageAddress = head.readBigUInt64LE(8);
    if (pageAddress !== BigInt(segmentNumber(name)) * BigInt(SEGMENT_SIZE))
      return { ok: false, reason: 'page address does not match the name' };
    return { ok: true, systemIdentifier: head.readBigUInt64LE(24).toString() };
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The cache of real WAL segments

export const WAL_CACHE_DIR = '/var/tmp/barman-ts-bench-wal';
export const WAL_CACHE_COUNT = 100;
const MANIFEST = 'manifest.json';

export interface WalCache {
  directory: string;
  /** Consecutive segment names, oldest first. */
  names: string[];
  systemIdentifier: string;
  /** How the segments were produced. */
  origin: string;
}

interface Manifest {
  names: string[];
  systemIdentifier: string;
  origin: string;
}

/** The cache when it holds WAL_CACHE_COUNT valid segments, else null. */
export async function loadWalCache(): Promise<WalCache | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(WAL_CACHE_DIR, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
  if (!Array.isArray(manifest.names) || manifest.names.length < WAL_CACHE_COUNT) return null;
  for (const name of manifest.names) {
    const check = await checkWalSegment(join(WAL_CACHE_DIR, name), name);
    if (!check.ok || check.systemIdentifier !== manifest.systemIdentifier) return null;
  }
  return { directory: WAL_CACHE_DIR, ...manifest };
}

/** Returns the cache of real WAL segments, producing it first when missing or invalid (~2 min). */
export async function ensureWalCache(log: (line: string) => void = console.log): Promise<WalCache> {
  const cached = await loadWalCache();
  if (cached) {
    log(`WAL segments: ${cached.names.length} cached in ${WAL_CACHE_DIR} (${cached.origin})`);
    return cached;
  }
  log(
    `WAL segments: none valid in ${WAL_CACHE_DIR}; producing ${WAL_CACHE_COUNT} with pgbench (a few minutes)`,
  );
  const produced = await produceWalSegments(WAL_CACHE_COUNT, log);
  const temporary = `${WAL_CACHE_DIR}.tmp-${process.pid}`;
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary, { recursive: true });
  for (const name of produced.names) {
    const target = join(temporary, name);
    await rename(join(produced.directory, name), target); // same filesystem (/tmp and /var/tmp)
    await chown(target, 0, 0);
    chmodSync(target, 0o644);
  }
  const manifest: Manifest = {
    names: produced.names,
    systemIdentifier: produced.systemIdentifier,
    origin: produced.origin,
  };
  await writeFile(join(temporary, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  syncAll();
  await rm(WAL_CACHE_DIR, { recursive: true, force: true });
  await rename(temporary, WAL_CACHE_DIR);
  const cache = await loadWalCache();
  if (!cache) throw new BenchFailure(`the WAL cache just written to ${WAL_CACHE_DIR} does not validate`);
  return cache;
}

/**
 * Starts a PG15 cluster whose archive_command copies segments into a staging dir, initialises
 * pgbench (scale 130 as in test-rig.md §4), checkpoints and switches WAL, then runs `pgbench -c4 -j2 -T 30` until `count` consecutive segments
 * written by the pgbench run (not by the initialisation) have been archived. The segments are
 * left in the returned directory (a temp dir removed at exit).
 */
export async function produceWalSegments(
  count: number,
  log: (line: string) => void = console.log,
  scale = 130,
): Promise<{ directory: string; names: string[]; systemIdentifier: string; origin: string }> {
  const staging = await makeTempDir('bench-wal-staging', { owner: 'postgres', mode: 0o755 });
  const archiveCommand = `test ! -f ${staging}/%f && cp %p ${staging}/.%f.tmp && mv ${staging}/.%f.tmp ${staging}/%f`;
  const pg = await startPostgres({
    version: 15,
    archiveCommand,
    settings: { shared_buffers: '256MB', max_wal_size: '1GB' },
  });
  try {
    const pgbench = join(pg.binDir, 'pgbench');
    const connection = ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres'];
    const started = Date.now();
    await runAs(pg.osUser, pgbench, [...connection, '-i', '-s', String(scale), '-q', 'postgres'], {
      timeoutMs: 600_000,
    });
    log(`  pgbench -i -s ${scale}: ${formatMs(Date.now() - started)}`);
    // Start the run right after a checkpoint, like the rig: its updates then write full-page
    // images of the (1.9 GB at scale 130) accounts table, about 20 MB/s of WAL.
    await pg.query('CHECKPOINT');
    const [switched] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    const first = segmentNumber(switched!.name) + 1;
    const runSegments = async (): Promise<string[]> =>
      (await readdir(staging)).filter((name) => /^[0-9A-F]{24}$/.test(name) && segmentNumber(name) >= first);
    let seconds = 0;
    for (let round = 0; (await runSegments()).length < count; round += 1) {
      if (round >= 12)
        throw new BenchFailure(`pgbench produced only ${(await runSegments()).length} segments`);
      await runAs(pg.osUser, pgbench, [...connection, '-c', '4', '-j', '2', '-T', '30', 'postgres'], {
        timeoutMs: 120_000,
      });
      seconds += 30;
      log(`  pgbench -c4 -j2 -T 30 (round ${round + 1}): ${(await runSegments()).length} segments archived`);
    }
    const names = (await runSegments()).sort().slice(0, count);
    names.forEach((name, index) => {
      if (segmentNumber(name) !== first + index)
        throw new BenchFailure(`segments are not consecutive at ${name}`);
    });
    const check = await checkWalSegment(join(staging, names[0]!), names[0]!);
    if (!check.ok) throw new BenchFailure(`archived segment ${names[0]} is not valid: ${check.reason}`);
    return {
      directory: staging,
      names,
      systemIdentifier: check.systemIdentifier!,
      origin: `PostgreSQL 15, pgbench -s ${scale}, ${count} segments of pgbench -c4 -j2 (${seconds} s run), ${new Date().toISOString()}`,
    };
  } finally {
    await pg.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Directories

/** Total size in bytes and number of regular files under `directory`, recursively. */
export async function directoryUsage(
  directory: string,
  filter: (name: string) => boolean = () => true,
): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !filter(entry.name)) continue;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
    files += 1;
  }
  return { bytes, files };
}

/** Whether two paths are on the same filesystem (st_dev). */
export function sameFilesystem(a: string, b: string): boolean {
  return statSync(a).dev === statSync(b).dev;
}
