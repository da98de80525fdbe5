/**
 * `npm run bench:cloud-wal`: archive_command into S3 (s3rver on 127.0.0.1), run the way
 * PostgreSQL runs it: `runuser -u postgres -- sh -c '<command>'` once per 16 MiB segment, for
 * BENCH_SEGMENTS (default 30) real pgbench segments per series.
 * Compared: barman-ts `cloud-wal-archive` (synchronous; gzip and none) with Debian's
 * `barman-cloud-wal-archive` 3.4 (`-z` and none), and barman-ts `cloud-wal-archive --async`:
 * acknowledgement latency, and segments/s from the first enqueue until the spool is empty.
 * Then the upload worker alone (`cloud-wal-upload`, 4 jobs) drains a backlog of 60 spooled
 * segments once per WAL compression (gzip at compression_level medium and low, none, lz4, zstd).
 * Targets (issue 6): sync p50 <= 0.4x Barman's; async ack p50 <= 100 ms and >= 30 segments/s.
 * BENCH_ONLY=worker runs only the worker drains; BENCH_DRAIN_ROUNDS=n repeats them (medians).
 */
import { chmod, chown, copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { lockHolder } from '../src/locks/index.js';
import { createDir, lookupOsUser, makeTempDir, startS3Server, waitFor } from '../test/harness/index.js';
import {
  BenchFailure,
  ensureWalCache,
  environmentLine,
  formatMs,
  formatRatio,
  median,
  percentile,
  printTable,
  runMain,
  snapshotBarmanTs,
  syncAll,
  timeRun,
} from './common.js';

const SEGMENTS = Math.max(2, Number(process.env.BENCH_SEGMENTS ?? 30));
const PG_USER = 'postgres';
const BUCKET = 'bench';
const DRAIN_SEGMENTS = 60;
const ONLY_WORKER = process.env.BENCH_ONLY === 'worker';
const DRAIN_ROUNDS = Math.max(1, Number(process.env.BENCH_DRAIN_ROUNDS ?? 1));
/** Spools drained by the worker alone: server name, compression, compression_level. */
const DRAINS: Array<[string, string, string]> = [
  ['drain-gzip', 'gzip', 'medium'],
  ['drain-gzip-low', 'gzip', 'low'],
  ['drain-none', 'none', 'medium'],
  ['drain-lz4', 'lz4', 'medium'],
  ['drain-zstd', 'zstd', 'medium'],
];

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

interface Series {
  label: string;
  /** Server name in the configuration (and object prefix). */
  server: string;
  command: (path: string) => string;
}

async function main(): Promise<void> {
  const wal = await ensureWalCache();
  if (wal.names.length < SEGMENTS + 1 + DRAIN_SEGMENTS)
    throw new BenchFailure(`the WAL cache has only ${wal.names.length} segments`);
  const barmanTs = await snapshotBarmanTs();
  const s3 = await startS3Server({ buckets: [BUCKET] });
  const dir = await makeTempDir('bench-cloud-wal', { owner: PG_USER });
  const postgres = await lookupOsUser(PG_USER);
  const sources = await createDir(join(dir, 'pg_wal'), { owner: PG_USER, mode: 0o700 });
  for (const name of wal.names) {
    const target = join(sources, name);
    await copyFile(join(wal.directory, name), target);
    await chown(target, postgres.uid, postgres.gid);
    await chmod(target, 0o600);
  }
  const home = await createDir(join(dir, 'home'), { owner: PG_USER });
  const logDir = await createDir(join(dir, 'log'), { owner: PG_USER });
  const config = join(dir, 'barman.conf');
  const servers = [
    ['ts-gzip', 'gzip'],
    ['ts-none', 'none'],
    ['ts-async', 'gzip'],
  ];
  await writeFile(
    config,
    [
      '[barman]',
      `barman_user = ${PG_USER}`,
      `barman_home = ${home}`,
      `log_file = ${logDir}/barman.log`,
      `aws_endpoint_url = ${s3.endpoint}`,
      'aws_region = us-east-1',
      ...[...servers.map(([name, compression]) => [name!, compression!, 'medium']), ...DRAINS].flatMap(
        ([name, compression, level]) => [
          '',
          `[${name}]`,
          'conninfo = host=127.0.0.1 port=1 user=postgres dbname=postgres',
          'backup_method = local-rsync',
          `compression = ${compression}`,
          `compression_level = ${level}`,
          `wals_directory = s3://${BUCKET}/barman/${name}/wals`,
        ],
      ),
    ].join('\n') + '\n',
  );
  await chmod(config, 0o644);
  const env = `env AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey} AWS_DEFAULT_REGION=us-east-1`;
  const barman = (args: string) =>
    `${env} ${shellQuote(process.execPath)} ${shellQuote(barmanTs.bin)} -c ${config} -q ${args}`;
  const cloud = (options: string, server: string) => (path: string) =>
    `${env} barman-cloud-wal-archive ${options} --endpoint-url ${s3.endpoint} s3://${BUCKET}/barman-cloud ${server} ${path}`;
  const series: Series[] = [
    {
      label: 'barman-ts cloud-wal-archive (gzip)',
      server: 'ts-gzip',
      command: (p) => barman(`cloud-wal-archive ts-gzip ${p}`),
    },
    {
      label: 'barman-ts cloud-wal-archive (none)',
      server: 'ts-none',
      command: (p) => barman(`cloud-wal-archive ts-none ${p}`),
    },
    { label: 'barman-cloud-wal-archive 3.4 -z (gzip)', server: 'b34-gzip', command: cloud('-z', 'b34-gzip') },
    { label: 'barman-cloud-wal-archive 3.4 (none)', server: 'b34-none', command: cloud('', 'b34-none') },
    {
      label: 'barman-ts cloud-wal-archive --async (ack)',
      server: 'ts-async',
      command: (p) => barman(`cloud-wal-archive --async ts-async ${p}`),
    },
  ];

  // Every series archives the same segments, each under its own prefix.
  const [warmUp, ...names] = wal.names.slice(0, SEGMENTS + 1);
  const once = async (item: Series, name: string): Promise<number> => {
    const command = item.command(join(sources, name));
    const run = await timeRun(PG_USER, 'sh', ['-c', command], { timeoutMs: 120_000 });
    if (run.exitCode !== 0)
      throw new BenchFailure(
        `${item.label} exited with ${run.exitCode ?? run.signal}:\n${(run.stderr || run.stdout).trim()}`,
      );
    return run.ms;
  };

  const rows: Array<{ label: string; samples: number[] }> = [];
  let asyncRate = '';
  let drainRate = '';
  try {
    if (!ONLY_WORKER) {
      // The synchronous commands take turns segment by segment, so a change of machine load
      // (other work on the two cores) weighs on each of them alike.
      const synchronous = series.filter((item) => item.server !== 'ts-async');
      for (const item of synchronous) await once(item, warmUp!);
      syncAll();
      const samples = new Map(synchronous.map((item) => [item, [] as number[]]));
      for (const name of names)
        for (const item of synchronous) samples.get(item)!.push(await once(item, name));
      for (const item of synchronous) {
        rows.push({ label: item.label, samples: samples.get(item)! });
        console.log(`  ${item.label}: p50 ${formatMs(percentile(samples.get(item)!, 50))}`);
      }
      // --async: acknowledgements back to back, as a busy server produces segments; the worker
      // uploads in the background, and the rate counts until the spool is empty.
      const item = series.find((candidate) => candidate.server === 'ts-async')!;
      const spool = join(home, item.server, 'incoming');
      await once(item, warmUp!);
      await drained(spool);
      syncAll();
      const acks: number[] = [];
      const started = Date.now();
      for (const name of names) acks.push(await once(item, name));
      const acked = Date.now() - started;
      await drained(spool);
      const total = Date.now() - started;
      asyncRate =
        `--async: ${SEGMENTS} segments acknowledged in ${formatMs(acked)} (${(SEGMENTS / (acked / 1000)).toFixed(1)}/s), ` +
        `all uploaded ${formatMs(total)} after the first enqueue: ${(SEGMENTS / (total / 1000)).toFixed(1)} segments/s`;
      rows.push({ label: item.label, samples: acks });
      console.log(`  ${item.label}: p50 ${formatMs(percentile(acks, 50))}`);
    }
    // Upload capacity of the worker alone: a backlog of segments spooled while S3 was away,
    // uploaded by a foreground cloud-wal-upload (one spool per compression), after the
    // background worker of the --async series has exited.
    if (!ONLY_WORKER) {
      const lockPath = join(home, '.ts-async-cloud-wal-upload.lock');
      await waitFor('the background worker to exit', () => lockHolder(lockPath) === null, {
        timeoutMs: 60_000,
      });
    }
    const backlog = wal.names.slice(SEGMENTS + 1, SEGMENTS + 1 + DRAIN_SEGMENTS);
    const rates = new Map<string, number[]>();
    for (let round = 1; round <= DRAIN_ROUNDS; round += 1) {
      for (const [server, compression, level] of DRAINS) {
        const spool = await createDir(join(home, server, 'incoming'), { owner: PG_USER });
        for (const name of backlog) {
          await copyFile(join(sources, name), join(spool, name));
          await chown(join(spool, name), postgres.uid, postgres.gid);
        }
        syncAll();
        const load = loadavg()[0]!;
        const drainStart = Date.now();
        const drain = await timeRun(PG_USER, 'sh', ['-c', barman(`cloud-wal-upload ${server}`)], {
          timeoutMs: 600_000,
        });
        if (drain.exitCode !== 0) throw new BenchFailure(`cloud-wal-upload failed:\n${drain.stderr}`);
        const drainMs = Date.now() - drainStart;
        const left = (await readdir(spool)).filter((name) => /^[0-9A-F]{24}$/.test(name));
        if (left.length > 0)
          throw new BenchFailure(`cloud-wal-upload left ${left.length} segments in the spool`);
        // The next round uploads the same names again: start from an empty prefix.
        await rm(join(s3.dataDir, BUCKET, 'barman', server), { recursive: true, force: true });
        const rate = backlog.length / (drainMs / 1000);
        rates.set(server, [...(rates.get(server) ?? []), rate]);
        console.log(
          `  worker, ${compression} (${level}): ${backlog.length} segments in ${formatMs(drainMs)}, ` +
            `${rate.toFixed(1)}/s (load ${load.toFixed(2)})`,
        );
      }
    }
    // The codec's own ceiling: gzip of the same segments on one core, in this process.
    const sample = await Promise.all(backlog.slice(0, 8).map((name) => readFile(join(sources, name))));
    const ceilings = [6, 1].map((gzipLevel) => {
      const started = process.hrtime.bigint();
      for (const segment of sample) gzipSync(segment, { level: gzipLevel });
      const perCore = sample.length / (Number(process.hrtime.bigint() - started) / 1e9);
      return `gzip level ${gzipLevel}: ${perCore.toFixed(1)} segments/s on one core (x${availableParallelism()} cores: ${(perCore * availableParallelism()).toFixed(1)}/s)`;
    });
    drainRate = `codec ceiling (gzipSync alone): ${ceilings.join('; ')}\n`;
    drainRate += DRAINS.map(([server, compression, level]) => {
      const rate = median(rates.get(server)!);
      const target = compression === 'gzip' && level === 'medium' ? ' (target >= 30/s)' : '';
      return `worker alone (cloud-wal-upload, 4 jobs, ${compression}, compression_level ${level}): ${rate.toFixed(1)} segments/s${target}`;
    }).join('\n');
  } finally {
    await s3.stop();
  }

  if (ONLY_WORKER) {
    console.log(`\n${environmentLine()}\n${barmanTs.description}\nsegments: ${wal.origin}\n${drainRate}`);
    return;
  }
  console.log(
    `\ncloud archive_command latency per 16 MiB segment into s3rver on 127.0.0.1, ${SEGMENTS} segments per command, ` +
      `runuser -u ${PG_USER} -- sh -c '<command>' (${environmentLine()})`,
  );
  console.log(`segments: ${wal.origin}`);
  console.log(`${barmanTs.description}\n`);
  const p50Of = (label: string) => percentile(rows.find((row) => row.label.startsWith(label))!.samples, 50);
  const b34Gzip = p50Of('barman-cloud-wal-archive 3.4 -z');
  const b34None = p50Of('barman-cloud-wal-archive 3.4 (none)');
  printTable(
    ['<command', 'p50', 'p95', 'min', 'max', 'p50 vs 3.4 -z', 'p50 vs 3.4 none'],
    rows.map(({ label, samples }) => [
      label,
      formatMs(percentile(samples, 50)),
      formatMs(percentile(samples, 95)),
      formatMs(Math.min(...samples)),
      formatMs(Math.max(...samples)),
      formatRatio(percentile(samples, 50) / b34Gzip),
      formatRatio(percentile(samples, 50) / b34None),
    ]),
  );
  console.log(`\n${asyncRate}\n${drainRate}`);
  const gzipRatio = p50Of('barman-ts cloud-wal-archive (gzip)') / b34Gzip;
  const noneRatio = p50Of('barman-ts cloud-wal-archive (none)') / b34None;
  const ack = p50Of('barman-ts cloud-wal-archive --async');
  console.log(
    `targets: sync p50 <= 0.4x Barman's: gzip ${formatRatio(gzipRatio)}, none ${formatRatio(noneRatio)} -> ` +
      `${gzipRatio <= 0.4 && noneRatio <= 0.4 ? 'MET' : 'MISSED'}; async ack p50 <= 100 ms: ${formatMs(ack)} -> ${ack <= 100 ? 'MET' : 'MISSED'}`,
  );
}

/** Waits until the spool of an --async server holds no WAL file. */
async function drained(spool: string): Promise<void> {
  await waitFor(
    `the spool ${spool} to empty`,
    async () =>
      (await readdir(spool).catch(() => [])).filter((name) => /^[0-9A-F]{24}$/.test(name)).length === 0,
    { timeoutMs: 600_000 },
  );
}

runMain(main);
