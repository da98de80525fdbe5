/**
 * `npm run bench:catalog`: catalogue reads on a large synthetic (but valid, Barman 3.4 format)
 * server: 1,000 DONE backups under base/<id>/backup.info and a 1,000,000-line xlog.db, plus one
 * real gzip-compressed WAL segment, the one get-wal fetches. Times `list-backup SRV` (console and
 * `-f json`) and `get-wal SRV <name> -o DIR`, barman-ts against Barman 3.4 (capped at 120 s),
 * cold cache (one run after `sync; echo 3 > /proc/sys/vm/drop_caches`) and warm (median of
 * BENCH_RUNS runs, default 3). Target: at most 1 s for barman-ts.
 */
import { mkdir, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeTempDir } from '../test/harness/index.js';
import type { TimedRun } from './common.js';
import {
  BARMAN_34_BIN,
  BenchFailure,
  dropCaches,
  ensureWalCache,
  environmentLine,
  formatBytes,
  formatLsn,
  formatMs,
  formatRatio,
  median,
  printTable,
  runMain,
  snapshotBarmanTs,
  segmentName,
  segmentNumber,
  SEGMENT_SIZE,
  timeRun,
  writeBarmanConfig,
} from './common.js';

const BACKUPS = Number(process.env.BENCH_BACKUPS ?? 1000);
const XLOG_LINES = Number(process.env.BENCH_XLOG_LINES ?? 1_000_000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const BARMAN_TIMEOUT_MS = Number(process.env.BENCH_BARMAN_TIMEOUT_S ?? 120) * 1000;
const TARGET_MS = 1000;
const SERVER = 'bench';
/** 2024-01-01T00:00:00Z; segment n is archived at T0 + n * SEGMENT_INTERVAL. */
const T0 = Date.UTC(2024, 0, 1) / 1000;
const SEGMENT_INTERVAL = 21.6; // s: 1,000 segments = 6 h between backups
const SEGMENTS_PER_BACKUP = Math.floor(XLOG_LINES / BACKUPS);

/** Python's str(datetime) with tzinfo UTC: `2024-01-01 06:00:00.123456+00:00`. */
function pythonDateTime(seconds: number, micros: number): string {
  const text = new Date(Math.floor(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return `${text}.${String(micros).padStart(6, '0')}+00:00`;
}

function backupId(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().slice(0, 19).replace(/[-:]/g, '');
}

/** Python's repr of a float: shortest round-trip digits, always with a dot. */
function pythonFloat(value: number): string {
  const text = String(value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/** A DONE backup.info as Barman 3.4 writes it (keys sorted, Python literals). */
function backupInfoText(index: number, systemId: string): { id: string; text: string } {
  const segno = 2 + index * SEGMENTS_PER_BACKUP;
  const begin = T0 + segno * SEGMENT_INTERVAL - 30;
  const micros = 1 + ((index * 7919) % 999_998);
  const id = backupId(begin);
  const beginWal = segmentName(1, segno);
  const beginLsn = formatLsn(segno * SEGMENT_SIZE + 40);
  const size = 2_000_000_000 + index * 1_000_003;
  const copyTime = (60 + (index % 17) + micros / 1e6).toFixed(6);
  const label =
    `START WAL LOCATION: ${beginLsn} (file ${beginWal})\\nCHECKPOINT LOCATION: ${formatLsn(segno * SEGMENT_SIZE + 96)}\\n` +
    `BACKUP METHOD: streamed\\nBACKUP FROM: primary\\nSTART TIME: ${pythonDateTime(begin, 0).slice(0, 19)} UTC\\n` +
    `LABEL: pg_basebackup base backup\\nSTART TIMELINE: 1\\n`;
  const fields: Array<[string, string]> = [
    ['backup_label', `'${label}'`],
    ['begin_offset', '40'],
    ['begin_time', pythonDateTime(begin, micros)],
    ['begin_wal', beginWal],
    ['begin_xlog', beginLsn],
    ['compression', 'None'],
    ['config_file', '/var/lib/postgresql/15/main/postgresql.conf'],
    ['copy_stats', `{'copy_time': ${copyTime}, 'total_time': ${copyTime}}`],
    ['deduplicated_size', String(size)],
    ['end_offset', '0'],
    ['end_time', pythonDateTime(begin + 70 + (index % 17), micros)],
    ['end_wal', beginWal],
    ['end_xlog', formatLsn((segno + 1) * SEGMENT_SIZE)],
    ['error', 'None'],
    ['hba_file', '/var/lib/postgresql/15/main/pg_hba.conf'],
    ['ident_file', '/var/lib/postgresql/15/main/pg_ident.conf'],
    ['included_files', 'None'],
    ['mode', 'postgres'],
    ['pgdata', '/var/lib/postgresql/15/main'],
    ['server_name', SERVER],
    ['size', String(size)],
    ['status', 'DONE'],
    ['systemid', systemId],
    ['tablespaces', 'None'],
    ['timeline', '1'],
    ['version', '150018'],
    ['xlog_segment_size', String(SEGMENT_SIZE)],
  ];
  return { id, text: fields.map(([key, value]) => `${key}=${value}\n`).join('') };
}

interface Catalogue {
  home: string;
  config: string;
  walName: string;
  walContent: Buffer;
  storedBytes: number;
}

async function buildCatalogue(dir: string): Promise<Catalogue> {
  const wal = await ensureWalCache();
  const walName = wal.names[Math.floor(wal.names.length / 2)]!;
  const walSegno = segmentNumber(walName);
  if (walSegno < 1 || walSegno > XLOG_LINES)
    throw new BenchFailure(`${walName} is outside the synthetic xlog.db`);
  const walContent = await readFile(join(wal.directory, walName));
  const systemId = wal.systemIdentifier;

  const home = join(dir, 'home');
  const serverDir = join(home, SERVER);
  const base = join(serverDir, 'base');
  const wals = join(serverDir, 'wals');
  await mkdir(base, { recursive: true });
  await mkdir(wals, { recursive: true });
  await writeFile(
    join(serverDir, 'identity.json'),
    `${JSON.stringify({ systemid: systemId, version: '15' }, null, 4)}\n`,
  );
  for (let index = 0; index < BACKUPS; index += 1) {
    const { id, text } = backupInfoText(index, systemId);
    await mkdir(join(base, id), { recursive: true });
    await writeFile(join(base, id, 'backup.info'), text);
  }

  // The fetched segment: really gzip-compressed, with the archived file's mtime in xlog.db.
  const compressed = gzipSync(walContent, { level: 6 });
  const walMtime = T0 + walSegno * SEGMENT_INTERVAL + 0.25;
  const walPath = join(wals, walName.slice(0, 16));
  await mkdir(walPath, { recursive: true });
  await writeFile(join(walPath, walName), compressed);
  await utimes(join(walPath, walName), walMtime, walMtime);

  const chunks: string[] = [];
  let lines: string[] = [];
  for (let segno = 1; segno <= XLOG_LINES; segno += 1) {
    const name = segmentName(1, segno);
    const real = segno === walSegno;
    const size = real ? compressed.length : 1_900_000 + ((segno * 7919) % 600_000);
    const mtime = real ? walMtime : T0 + segno * SEGMENT_INTERVAL + ((segno * 104729) % 1_000_000) / 1e6;
    lines.push(`${name}\t${size}\t${pythonFloat(mtime)}\tgzip\n`);
    if (lines.length === 10_000) {
      chunks.push(lines.join(''));
      lines = [];
    }
  }
  chunks.push(lines.join(''));
  await writeFile(join(wals, 'xlog.db'), chunks.join(''));

  const config = join(dir, 'barman.conf');
  await writeBarmanConfig(config, { barmanUser: 'root', home, logFile: join(dir, 'barman.log') }, [
    { name: SERVER, options: { compression: 'gzip' } },
  ]);
  return { home, config, walName, walContent, storedBytes: compressed.length };
}

type Implementation = 'barman-ts' | 'Barman 3.4';

interface Operation {
  label: string;
  args: (catalogue: Catalogue, outputDir: string) => string[];
  /** Checks one run's result; returns a comparable form of the output. */
  check: (run: TimedRun, catalogue: Catalogue, outputDir: string) => Promise<unknown>;
}

interface Timing {
  cold: TimedRun;
  warm: number[];
  output: unknown;
  /** Why the output was wrong (the timings are still reported, and the benchmark fails). */
  invalid: string | null;
}

const OPERATIONS: Operation[] = [
  {
    label: 'list-backup SRV',
    args: () => ['list-backup', SERVER],
    check: (run) => {
      const lines = run.stdout.trimEnd().split('\n');
      if (lines.length !== BACKUPS) throw new BenchFailure(`list-backup printed ${lines.length} lines`);
      return Promise.resolve(run.stdout);
    },
  },
  {
    label: '-f json list-backup SRV',
    args: () => ['-f', 'json', 'list-backup', SERVER],
    check: (run) => {
      let parsed: Record<string, Array<{ status: string }>>;
      try {
        parsed = JSON.parse(run.stdout) as typeof parsed;
      } catch (error) {
        throw new BenchFailure(
          `invalid JSON on stdout (${run.stdout.length} bytes, exit code ${run.exitCode}): ${(error as Error).message}`,
        );
      }
      const backups = parsed[SERVER] ?? [];
      if (backups.length !== BACKUPS || backups.some((backup) => backup.status !== 'DONE'))
        throw new BenchFailure(`list-backup -f json listed ${backups.length} backups`);
      return Promise.resolve(parsed);
    },
  },
  {
    label: 'get-wal SRV <wal> -o DIR',
    args: (catalogue, outputDir) => ['get-wal', SERVER, catalogue.walName, '-o', outputDir],
    check: async (_run, catalogue, outputDir) => {
      const received = await readFile(join(outputDir, catalogue.walName));
      if (!received.equals(catalogue.walContent)) throw new BenchFailure('get-wal wrote different content');
      return 'identical to the original segment';
    },
  },
];

async function measure(
  implementation: Implementation,
  operation: Operation,
  catalogue: Catalogue,
  outputDir: string,
  barmanTsBin: string,
): Promise<Timing | 'timeout'> {
  const once = async (): Promise<TimedRun | 'timeout'> => {
    await rm(outputDir, { recursive: true, force: true });
    await mkdir(outputDir);
    const args = ['-c', catalogue.config, ...operation.args(catalogue, outputDir)];
    const run =
      implementation === 'barman-ts'
        ? await timeRun(null, process.execPath, [barmanTsBin, ...args], { timeoutMs: BARMAN_TIMEOUT_MS })
        : await timeRun(null, BARMAN_34_BIN, args, { timeoutMs: BARMAN_TIMEOUT_MS });
    if (run.timedOut) return 'timeout';
    if (run.exitCode !== 0) {
      throw new BenchFailure(
        `${implementation} ${operation.label} exited with ${run.exitCode ?? run.signal}:\n${(run.stderr || run.stdout).trim().slice(-3000)}`,
      );
    }
    return run;
  };
  let invalid: string | null = null;
  const check = async (run: TimedRun): Promise<unknown> => {
    try {
      return await operation.check(run, catalogue, outputDir);
    } catch (error) {
      invalid ??= (error as Error).message;
      return null;
    }
  };
  dropCaches();
  const cold = await once();
  if (cold === 'timeout') return 'timeout';
  const output = await check(cold);
  const warm: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const result = await once();
    if (result === 'timeout') return 'timeout';
    await check(result);
    warm.push(result.ms);
  }
  return { cold, warm, output, invalid };
}

async function main(): Promise<void> {
  const barmanTs = await snapshotBarmanTs();
  const dir = await makeTempDir('bench-catalog');
  const started = Date.now();
  const catalogue = await buildCatalogue(dir);
  const backupDirs = await readdir(join(catalogue.home, SERVER, 'base'));
  console.log(
    `catalogue: ${backupDirs.length} backups, xlog.db of ${XLOG_LINES.toLocaleString('en')} lines, ` +
      `get-wal of ${catalogue.walName} (${formatBytes(catalogue.storedBytes)} gzip), built in ${formatMs(Date.now() - started)}`,
  );
  const outputDir = join(dir, 'out');
  const rows: string[][] = [];
  const failures: string[] = [];
  let worstTs = 0;
  for (const operation of OPERATIONS) {
    const ts = await measure('barman-ts', operation, catalogue, outputDir, barmanTs.bin);
    if (ts === 'timeout')
      throw new BenchFailure(`barman-ts ${operation.label} took more than ${BARMAN_TIMEOUT_MS} ms`);
    console.log(
      `  barman-ts  ${operation.label}: cold ${formatMs(ts.cold.ms)}, warm ${formatMs(median(ts.warm))}`,
    );
    const barman = await measure('Barman 3.4', operation, catalogue, outputDir, barmanTs.bin);
    const capped = `>${BARMAN_TIMEOUT_MS / 1000} s`;
    console.log(
      `  Barman 3.4 ${operation.label}: ` +
        (barman === 'timeout'
          ? capped
          : `cold ${formatMs(barman.cold.ms)}, warm ${formatMs(median(barman.warm))}`),
    );
    const tsWarm = median(ts.warm);
    worstTs = Math.max(worstTs, ts.cold.ms, tsWarm);
    let output: string;
    if (ts.invalid) {
      output = 'barman-ts INVALID';
      failures.push(`barman-ts ${operation.label}: ${ts.invalid}`);
    } else if (barman === 'timeout') {
      output = 'ok (Barman timed out)';
    } else if (barman.invalid) {
      output = 'Barman 3.4 INVALID';
      failures.push(`Barman 3.4 ${operation.label}: ${barman.invalid}`);
    } else {
      output = isDeepStrictEqual(ts.output, barman.output) ? 'ok, same as Barman' : 'ok, DIFFERS from Barman';
    }
    rows.push([
      operation.label,
      formatMs(ts.cold.ms),
      formatMs(tsWarm),
      barman === 'timeout' ? capped : formatMs(barman.cold.ms),
      barman === 'timeout' ? capped : formatMs(median(barman.warm)),
      barman === 'timeout'
        ? `<${formatRatio(ts.cold.ms / BARMAN_TIMEOUT_MS)}`
        : formatRatio(ts.cold.ms / barman.cold.ms),
      barman === 'timeout' ? '-' : formatRatio(tsWarm / median(barman.warm)),
      output,
    ]);
  }
  console.log(
    `\ncatalogue reads: ${BACKUPS} backups, ${XLOG_LINES.toLocaleString('en')}-line xlog.db; cold = 1 run after ` +
      `drop_caches, warm = median of ${RUNS} (${environmentLine()})`,
  );
  console.log(`${barmanTs.description}\n`);
  printTable(
    ['<command', 'ts cold', 'ts warm', 'Barman cold', 'Barman warm', 'cold ratio', 'warm ratio', '<output'],
    rows,
  );
  console.log(
    `\ntarget: barman-ts <= ${formatMs(TARGET_MS)} (slowest barman-ts figure: ${formatMs(worstTs)}) -> ` +
      (worstTs <= TARGET_MS ? 'MET' : 'MISSED'),
  );
  if (failures.length > 0) throw new BenchFailure(`wrong output:\n  ${failures.join('\n  ')}`);
}

runMain(main);
