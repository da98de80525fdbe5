/**
 * `npm run bench:backup-native`: barman-ts's native BASE_BACKUP client (backup_method = postgres,
 * plain, postgres-native.ts) against pg_basebackup of the server's version on the same pgbench
 * database (`pgbench -i -s ${BENCH_SCALE:-30}`, PostgreSQL ${BENCH_PG_VERSION:-17}, summarize_wal
 * = on); PostgreSQL 17's tools from the Debian 13 root, 18's from the forky root (there pgbench is
 * Debian 12's 15: the root has no server package):
 *
 * - full: `pg_basebackup -Fp -X none -c fast` vs `barman backup` (native: Debian 12's
 *   pg_basebackup 15 cannot serve 17 or 18), each followed by a timed `sync`;
 * - then about 1 % of pgbench_accounts' pages changed (one row in 6100, ~61 rows a page), and
 *   `pg_basebackup --incremental` vs `barman backup --incremental latest-full`.
 *
 * Cold cache before each, peak RSS from `/usr/bin/time -f %M`, BENCH_RUNS rounds (medians).
 * Issue 13's targets: native full at least as fast as pg_basebackup; an incremental <= 0.15x the
 * time and <= 0.1x the size of a full backup; peak RSS <= 200 MB.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  BARMAN_BIN,
  ensureDebian13Root,
  ensureDebianForkyRoot,
  makeTempDir,
  pgClientToolCommand,
  startPostgres,
  writeBarmanConfig,
} from '../test/harness/index.js';
import {
  assertSucceeded,
  pgbenchOf,
  directoryUsage,
  dropCaches,
  environmentLine,
  formatBytes,
  formatMs,
  formatRatio,
  median,
  printTable,
  runMain,
  syncAll,
  timeRun,
} from './common.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 30);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const VERSION = process.env.BENCH_PG_VERSION === '18' ? 18 : 17;
const FULL = `pg_basebackup ${VERSION} full`;
const INCREMENTAL = `pg_basebackup ${VERSION} --incremental`;

interface Measure {
  ms: number[];
  rssKb: number[];
  bytes: number[];
}

async function main(): Promise<void> {
  await (VERSION === 17 ? ensureDebian13Root() : ensureDebianForkyRoot());
  console.log(environmentLine());
  const dir = await makeTempDir('bench-backup-native');
  const pg = await startPostgres({
    version: VERSION,
    settings: { summarize_wal: 'on', max_wal_size: '4GB' },
  });
  const results = new Map<string, Measure>();
  try {
    const config = writeBarmanConfig({
      dir,
      global: { log_file: null },
      servers: {
        main: {
          conninfo: pg.conninfo,
          streaming_conninfo: pg.conninfo,
          backup_method: 'postgres',
          immediate_checkpoint: 'on',
          archiver: 'on',
        },
      },
    });
    const base = join(dir, 'home', 'main', 'base');
    const pgbench = pgbenchOf(VERSION, pg);
    console.log(`pgbench -i -s ${SCALE} on PostgreSQL ${VERSION}`);
    await pgbench(['-i', '-q', '-s', String(SCALE), 'postgres']);

    const measure = async (label: string, command: string, args: string[], target: () => string) => {
      dropCaches();
      const run = await timeRun(null, '/usr/bin/time', ['-f', 'RSS %M', command, ...args], {
        timeoutMs: 3_600_000,
      });
      assertSucceeded(run, label);
      const start = process.hrtime.bigint();
      syncAll();
      const entry = results.get(label) ?? { ms: [], rssKb: [], bytes: [] };
      entry.ms.push(run.ms + Number(process.hrtime.bigint() - start) / 1e6);
      entry.rssKb.push(Number(/RSS (\d+)/.exec(run.stderr)?.[1] ?? NaN));
      entry.bytes.push((await directoryUsage(target())).bytes);
      results.set(label, entry);
    };
    const pgBasebackup = (destination: string, extra: string[] = []) => [
      ...pgClientToolCommand(VERSION, 'pg_basebackup').slice(1),
      '-d',
      pg.connectionString,
      '-D',
      destination,
      '-Fp',
      '-X',
      'none',
      '-c',
      'fast',
      ...extra,
    ];
    const newest = () => join(base, readdirSync(base).sort().at(-1)!);

    for (let round = 1; round <= RUNS; round += 1) {
      const tools = join(dir, `pg_basebackup-${round}`);
      mkdirSync(tools);
      await measure(FULL, 'bash', pgBasebackup(join(tools, 'full')), () => join(tools, 'full'));
      await measure(
        'barman-ts native full',
        process.execPath,
        [BARMAN_BIN, '-c', config, 'backup', 'main'],
        newest,
      );
      await pg.query('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 6100 = 1');
      await pg.query('CHECKPOINT');
      await measure(
        INCREMENTAL,
        'bash',
        pgBasebackup(join(tools, 'incr'), [`--incremental=${join(tools, 'full', 'backup_manifest')}`]),
        () => join(tools, 'incr'),
      );
      await measure(
        'barman-ts native --incremental',
        process.execPath,
        [BARMAN_BIN, '-c', config, 'backup', '--incremental', 'latest-full', 'main'],
        newest,
      );
      rmSync(tools, { recursive: true, force: true });
    }
  } finally {
    await pg.stop();
  }
  const time = (label: string) => median(results.get(label)!.ms);
  const size = (label: string) => median(results.get(label)!.bytes);
  printTable(
    ['backup', 'time (+sync)', 'size', 'peak RSS', 'vs pg_basebackup'],
    [...results.entries()].map(([label, entry]) => {
      const reference = label.includes('incremental') ? INCREMENTAL : FULL;
      return [
        label,
        formatMs(median(entry.ms)),
        formatBytes(median(entry.bytes)),
        `${(Math.max(...entry.rssKb) / 1024) >> 0} MB`,
        formatRatio(median(entry.ms) / time(reference)),
      ];
    }),
  );
  console.log(
    `native incremental vs native full: time ${formatRatio(time('barman-ts native --incremental') / time('barman-ts native full'))} ` +
      `(target <= 0.15x), size ${formatRatio(size('barman-ts native --incremental') / size('barman-ts native full'))} (target <= 0.1x)`,
  );
}

runMain(main);
