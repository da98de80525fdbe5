/**
 * `npm run bench:archive`: `archive-wal` of 100 real 16 MiB pgbench WAL segments (1600 MiB),
 * barman-ts (gzip, none, lz4, zstd) against Barman 3.4 (gzip, none), cold cache as in
 * test-rig.md §4: the segments are copied into a fresh server's incoming/ on the same filesystem,
 * then `sync; echo 3 > /proc/sys/vm/drop_caches`, then the timed command. Target: barman-ts gzip
 * takes at most 0.4x Barman 3.4's time. BENCH_RUNS=n repeats every case and reports the median.
 */
import { copyFile, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../test/harness/index.js';
import {
  assertSucceeded,
  BARMAN_34_BIN,
  directoryUsage,
  dropCaches,
  ensureWalCache,
  environmentLine,
  formatBytes,
  formatMs,
  formatRatio,
  median,
  MIB,
  printTable,
  runMain,
  snapshotBarmanTs,
  sameFilesystem,
  SEGMENT_SIZE,
  timeRun,
  writeBarmanConfig,
  BenchFailure,
} from './common.js';
import type { WalCache } from './common.js';

type Implementation = 'barman-ts' | 'Barman 3.4';
type Compression = 'gzip' | 'none' | 'lz4' | 'zstd';

interface Case {
  implementation: Implementation;
  compression: Compression;
}

interface Measured extends Case {
  ms: number;
  storedBytes: number;
  coldCache: boolean;
}

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const SERVER = 'bench';
const TARGET_GZIP_RATIO = 0.4;

// Paired so that each Barman 3.4 run sits next to the barman-ts run it is compared with.
const CASES: Case[] = [
  { implementation: 'barman-ts', compression: 'gzip' },
  { implementation: 'Barman 3.4', compression: 'gzip' },
  { implementation: 'barman-ts', compression: 'none' },
  { implementation: 'Barman 3.4', compression: 'none' },
  { implementation: 'barman-ts', compression: 'lz4' },
  { implementation: 'barman-ts', compression: 'zstd' },
];

/** First bytes of a stored file for each compression (none: PostgreSQL 15's XLOG_PAGE_MAGIC). */
const MAGIC: Record<Compression, Buffer> = {
  gzip: Buffer.from('1f8b', 'hex'),
  lz4: Buffer.from('04224d18', 'hex'),
  zstd: Buffer.from('28b52ffd', 'hex'),
  none: Buffer.from('10d1', 'hex'),
};

async function runCase(wal: WalCache, testCase: Case, barmanTsBin: string): Promise<Measured> {
  const dir = await makeTempDir('bench-archive');
  try {
    const home = join(dir, 'home');
    const incoming = join(home, SERVER, 'incoming');
    await mkdir(incoming, { recursive: true });
    if (!sameFilesystem(wal.directory, incoming))
      throw new BenchFailure(`${wal.directory} and ${incoming} are not on the same filesystem`);
    const config = join(dir, 'barman.conf');
    await writeBarmanConfig(config, { barmanUser: 'root', home, logFile: join(dir, 'barman.log') }, [
      {
        name: SERVER,
        options: testCase.compression === 'none' ? {} : { compression: testCase.compression },
      },
    ]);
    for (const name of wal.names) await copyFile(join(wal.directory, name), join(incoming, name));

    const coldCache = dropCaches();
    const run =
      testCase.implementation === 'barman-ts'
        ? await timeRun(null, process.execPath, [barmanTsBin, '-c', config, 'archive-wal', SERVER])
        : await timeRun(null, BARMAN_34_BIN, ['-c', config, 'archive-wal', SERVER]);
    const label = `${testCase.implementation} archive-wal (compression ${testCase.compression})`;
    assertSucceeded(run, label);
    const storedBytes = await verifyArchive(home, wal, testCase.compression, label);
    return { ...testCase, ms: run.ms, storedBytes, coldCache };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Checks that every segment left incoming/ for wals/, compressed as asked and catalogued once. */
async function verifyArchive(
  home: string,
  wal: WalCache,
  compression: Compression,
  label: string,
): Promise<number> {
  const serverDir = join(home, SERVER);
  const left = (await readdir(join(serverDir, 'incoming'))).filter((name) => !name.startsWith('.'));
  if (left.length > 0) throw new BenchFailure(`${label}: ${left.length} files left in incoming/`);
  const errors = await readdir(join(serverDir, 'errors')).catch(() => [] as string[]);
  if (errors.length > 0) throw new BenchFailure(`${label}: files in errors/: ${errors.join(', ')}`);
  const walsDir = join(serverDir, 'wals');
  const xlogDb = (await readFile(join(walsDir, 'xlog.db'), 'utf8')).trim().split('\n');
  const catalogued = new Set(xlogDb.map((line) => line.split('\t')[0]));
  const missing = wal.names.filter((name) => !catalogued.has(name));
  if (xlogDb.length !== wal.names.length || missing.length > 0)
    throw new BenchFailure(
      `${label}: xlog.db has ${xlogDb.length} lines, ${missing.length} segments missing`,
    );
  const usage = await directoryUsage(walsDir, (name) => /^[0-9A-F]{24}$/.test(name));
  if (usage.files !== wal.names.length) throw new BenchFailure(`${label}: ${usage.files} files in wals/`);
  const first = wal.names[0]!;
  const handle = await open(join(walsDir, first.slice(0, 16), first), 'r');
  try {
    const head = Buffer.alloc(MAGIC[compression].length);
    await handle.read(head, 0, head.length, 0);
    if (!head.equals(MAGIC[compression]))
      throw new BenchFailure(
        `${label}: ${first} is stored with header ${head.toString('hex')}, not ${compression}`,
      );
  } finally {
    await handle.close();
  }
  return usage.bytes;
}

async function main(): Promise<void> {
  const wal = await ensureWalCache();
  const barmanTs = await snapshotBarmanTs();
  const inputBytes = wal.names.length * SEGMENT_SIZE;
  const measured: Measured[] = [];
  for (const testCase of CASES) {
    const runs: Measured[] = [];
    for (let run = 0; run < RUNS; run += 1) runs.push(await runCase(wal, testCase, barmanTs.bin));
    const result = { ...runs[0]!, ms: median(runs.map((item) => item.ms)) };
    result.coldCache = runs.every((item) => item.coldCache);
    measured.push(result);
    console.log(
      `  ${testCase.implementation.padEnd(10)} ${testCase.compression.padEnd(4)}  ${formatMs(result.ms)}` +
        (RUNS > 1 ? `  (runs: ${runs.map((item) => formatMs(item.ms)).join(', ')})` : ''),
    );
  }

  const barman = (compression: Compression): Measured | undefined =>
    measured.find((item) => item.implementation === 'Barman 3.4' && item.compression === compression);
  console.log(
    `\narchive-wal of ${wal.names.length} WAL segments (${formatBytes(inputBytes)}), ` +
      `${measured.every((item) => item.coldCache) ? 'cold cache' : 'WARNING: caches could NOT be dropped'}, ` +
      `${RUNS === 1 ? '1 run' : `median of ${RUNS} runs`} per case (${environmentLine()})`,
  );
  console.log(`segments: ${wal.origin}`);
  console.log(`${barmanTs.description}\n`);
  printTable(
    ['<implementation', '<compression', 'wall', 'ms/segment', 'MiB/s', 'stored', 'stored %', 'vs Barman 3.4'],
    measured.map((item) => {
      const reference = item.implementation === 'barman-ts' ? barman(item.compression) : undefined;
      return [
        item.implementation,
        item.compression,
        formatMs(item.ms),
        (item.ms / wal.names.length).toFixed(1),
        (inputBytes / MIB / (item.ms / 1000)).toFixed(0),
        formatBytes(item.storedBytes),
        `${((100 * item.storedBytes) / inputBytes).toFixed(1)} %`,
        reference ? formatRatio(item.ms / reference.ms) : '-',
      ];
    }),
  );
  const tsGzip = measured.find((item) => item.implementation === 'barman-ts' && item.compression === 'gzip')!;
  const ratio = tsGzip.ms / barman('gzip')!.ms;
  console.log(
    `\ntarget: barman-ts gzip <= ${TARGET_GZIP_RATIO.toFixed(2)}x Barman 3.4: ${formatRatio(ratio)} -> ` +
      (ratio <= TARGET_GZIP_RATIO ? 'MET' : 'MISSED'),
  );
}

runMain(main);
