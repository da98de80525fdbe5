/**
 * `npm run bench:put-wal`: per-segment latency of archive_command delivery, run the way
 * PostgreSQL runs it: `runuser -u postgres -- sh -c '<command>'` once per 16 MiB segment, for 50
 * real segments. Compared: `cp %p dir/%f`, barman-ts `put-wal SERVER --file %p`, and Barman 3.4's
 * `barman-wal-archive` over ssh to `barman put-wal` on a private sshd (BENCH_SKIP_SSH=1 skips it).
 * The destination is emptied and `sync`ed before each series (test-rig.md §4.4); the source
 * segments are in the page cache, as a segment PostgreSQL has just finished is.
 * Target: p50 <= 100 ms for barman-ts put-wal.
 */
import { chmod, chown, copyFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SshServer } from '../test/harness/index.js';
import { createDir, lookupOsUser, makeTempDir, startSshd } from '../test/harness/index.js';
import {
  ensureWalCache,
  environmentLine,
  formatMs,
  formatRatio,
  percentile,
  printTable,
  runMain,
  snapshotBarmanTs,
  SEGMENT_SIZE,
  syncAll,
  timeRun,
  writeBarmanConfig,
  BenchFailure,
} from './common.js';

const SEGMENTS = Math.max(1, Number(process.env.BENCH_SEGMENTS ?? 50));
const SERVER = 'bench';
const PG_USER = 'postgres';
const TARGET_P50_MS = 100;
const KNOWN_BARMAN_WAL_ARCHIVE = '918-964 ms per segment (test-rig.md §4.4)';

interface Series {
  label: string;
  /** The command for one segment: `path` is %p, `name` is %f. */
  command: (path: string, name: string) => string;
  /** Directory the command delivers into (emptied and synced before the series), if any. */
  destination: string | null;
  /** Whether to compare the delivered files with the sources. */
  verify: boolean;
}

interface Result {
  label: string;
  samples: number[];
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

async function emptyDirectory(directory: string): Promise<void> {
  for (const name of await readdir(directory))
    await rm(join(directory, name), { recursive: true, force: true });
}

async function runSeries(
  series: Series,
  sources: string,
  names: readonly string[],
  warmUp: string,
): Promise<Result> {
  const once = async (name: string): Promise<number> => {
    const command = series.command(join(sources, name), name);
    const run = await timeRun(PG_USER, 'sh', ['-c', command], { timeoutMs: 60_000 });
    if (run.exitCode !== 0) {
      throw new BenchFailure(
        `${series.label}: '${command}' exited with ${run.exitCode ?? run.signal}:\n${(run.stderr || run.stdout).trim()}`,
      );
    }
    return run.ms;
  };
  await once(warmUp); // loads the program's files into the page cache, as in a running server
  if (series.destination) await emptyDirectory(series.destination);
  syncAll();
  const samples: number[] = [];
  for (const name of names) samples.push(await once(name));
  if (series.destination && series.verify) await verifyDelivered(series, sources, names);
  return { label: series.label, samples };
}

async function verifyDelivered(series: Series, sources: string, names: readonly string[]): Promise<void> {
  const delivered = (await readdir(series.destination!)).filter((name) => !name.startsWith('.')).sort();
  if (delivered.join() !== [...names].sort().join())
    throw new BenchFailure(`${series.label}: ${delivered.length} of ${names.length} segments delivered`);
  for (const name of names) {
    if ((await stat(join(series.destination!, name))).size !== SEGMENT_SIZE)
      throw new BenchFailure(`${series.label}: ${name} was delivered with the wrong size`);
  }
  const last = names.at(-1)!;
  const [sent, received] = await Promise.all([
    readFile(join(sources, last)),
    readFile(join(series.destination!, last)),
  ]);
  if (!sent.equals(received)) throw new BenchFailure(`${series.label}: ${last} differs from its source`);
}

/** A barman home owned by `owner`, with a config whose barman_user is `owner`. */
async function barmanSetup(
  dir: string,
  prefix: string,
  owner: string,
): Promise<{ config: string; incoming: string }> {
  const home = await createDir(join(dir, `${prefix}-home`), { owner });
  const incoming = await createDir(join(home, SERVER, 'incoming'), { owner });
  for (const sub of ['wals', 'errors']) await createDir(join(home, SERVER, sub), { owner });
  const logDir = await createDir(join(dir, `${prefix}-log`), { owner });
  const config = join(dir, `${prefix}.conf`);
  await writeBarmanConfig(config, { barmanUser: owner, home, logFile: join(logDir, 'barman.log') }, [
    { name: SERVER },
  ]);
  await chmod(config, 0o644);
  return { config, incoming };
}

async function main(): Promise<void> {
  const wal = await ensureWalCache();
  const barmanTs = await snapshotBarmanTs();
  if (wal.names.length < SEGMENTS + 1)
    throw new BenchFailure(`the WAL cache has only ${wal.names.length} segments`);
  const names = wal.names.slice(0, SEGMENTS);
  const warmUp = wal.names[SEGMENTS]!;

  const dir = await makeTempDir('bench-put-wal');
  const postgres = await lookupOsUser(PG_USER);
  // pg_wal-like source: owned by postgres, mode 0600 files.
  const sources = await createDir(join(dir, 'pg_wal'), { owner: PG_USER, mode: 0o700 });
  for (const name of [...names, warmUp]) {
    const target = join(sources, name);
    await copyFile(join(wal.directory, name), target);
    await chown(target, postgres.uid, postgres.gid);
    await chmod(target, 0o600);
  }
  syncAll();

  const cpDestination = await createDir(join(dir, 'cp-dest'), { owner: PG_USER });
  const ts = await barmanSetup(dir, 'barman-ts', PG_USER);
  const series: Series[] = [
    { label: 'sh -c true (floor)', command: () => 'true', destination: null, verify: false },
    {
      label: 'node -e 0 (Node floor)',
      command: () => `${shellQuote(process.execPath)} -e 0`,
      destination: null,
      verify: false,
    },
    // Breakdown of barman-ts's fixed cost: start + bundle, then + config, user check, log file.
    {
      label: 'barman-ts --version',
      command: () => `${shellQuote(process.execPath)} ${shellQuote(barmanTs.bin)} --version`,
      destination: null,
      verify: false,
    },
    {
      label: 'barman-ts put-wal --test',
      command: () =>
        `${shellQuote(process.execPath)} ${shellQuote(barmanTs.bin)} -c ${ts.config} put-wal ${SERVER} --test`,
      destination: null,
      verify: false,
    },
    {
      label: 'cp %p dir/%f',
      command: (path, name) => `cp ${path} ${cpDestination}/${name}`,
      destination: cpDestination,
      verify: true,
    },
    {
      label: 'barman-ts put-wal --file %p',
      command: (path) =>
        `${shellQuote(process.execPath)} ${shellQuote(barmanTs.bin)} -c ${ts.config} put-wal ${SERVER} --file ${path}`,
      destination: ts.incoming,
      verify: true,
    },
  ];

  let sshd: SshServer | null = null;
  let sshNote: string;
  if (process.env.BENCH_SKIP_SSH === '1') {
    sshNote = `barman-wal-archive (Barman 3.4, ssh): skipped (BENCH_SKIP_SSH=1); known figure ${KNOWN_BARMAN_WAL_ARCHIVE}`;
  } else {
    try {
      sshd = await startSshd({ users: ['barman', PG_USER] });
      const b34 = await barmanSetup(dir, 'barman34', 'barman');
      // barman-wal-archive runs a bare `ssh` (pitfall P4): a PATH shim adds the client config.
      const [, clientConfig] = sshd.sshArgs(PG_USER, 'barman');
      const shimDir = await createDir(join(dir, 'ssh-shim'));
      await writeFile(join(shimDir, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${clientConfig} "$@"\n`, {
        mode: 0o755,
      });
      series.push({
        label: 'barman-wal-archive -> Barman 3.4 put-wal (ssh)',
        command: (path) =>
          `PATH=${shimDir}:/usr/bin:/bin barman-wal-archive -U barman --port ${sshd!.port} -c ${b34.config} ` +
          `127.0.0.1 ${SERVER} ${path}`,
        destination: b34.incoming,
        verify: true,
      });
      sshNote = `barman-wal-archive: Barman 3.4 client and server over a private sshd on 127.0.0.1:${sshd.port}`;
    } catch (error) {
      sshNote =
        `barman-wal-archive (Barman 3.4, ssh): skipped, the private sshd did not start (${(error as Error).message.split('\n')[0]}); ` +
        `known figure ${KNOWN_BARMAN_WAL_ARCHIVE}`;
    }
  }

  const results: Result[] = [];
  try {
    for (const item of series) {
      const result = await runSeries(item, sources, names, warmUp);
      results.push(result);
      console.log(`  ${item.label}: p50 ${formatMs(percentile(result.samples, 50))}`);
    }
  } finally {
    await sshd?.stop();
  }

  const cp = results.find((result) => result.label.startsWith('cp '))!;
  const cpP50 = percentile(cp.samples, 50);
  const cpP95 = percentile(cp.samples, 95);
  console.log(
    `\narchive_command latency per 16 MiB segment, ${SEGMENTS} segments per command, ` +
      `runuser -u ${PG_USER} -- sh -c '<command>' (${environmentLine()})`,
  );
  console.log(`segments: ${wal.origin}`);
  console.log(`${barmanTs.description}\n`);
  printTable(
    ['<command', 'p50', 'p95', 'mean', 'min', 'max', 'p50 vs cp', 'p95 vs cp'],
    results.map(({ label, samples }) => {
      const p50 = percentile(samples, 50);
      const p95 = percentile(samples, 95);
      return [
        label,
        formatMs(p50),
        formatMs(p95),
        formatMs(samples.reduce((sum, value) => sum + value, 0) / samples.length),
        formatMs(Math.min(...samples)),
        formatMs(Math.max(...samples)),
        formatRatio(p50 / cpP50),
        formatRatio(p95 / cpP95),
      ];
    }),
  );
  console.log(`\n${sshNote}`);
  const tsResult = results.find((result) => result.label.startsWith('barman-ts put-wal --file'))!;
  const p50 = percentile(tsResult.samples, 50);
  console.log(
    `target: barman-ts put-wal p50 <= ${TARGET_P50_MS} ms: ${formatMs(p50)} -> ${p50 <= TARGET_P50_MS ? 'MET' : 'MISSED'}`,
  );
}

runMain(main);
