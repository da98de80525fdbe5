/**
 * `npm run bench:backup`: full backups of a pgbench database (`pgbench -i -s ${BENCH_SCALE:-130}`,
 * about 2 GB at 130 as in test-rig.md §4) on a PostgreSQL 15 cluster:
 *
 * - baselines: `cp -a` of PGDATA without pg_wal + sync, `pg_basebackup -Fp -X none -c fast` + sync;
 * - barman-ts `backup --wait` with backup_method local-rsync (parallel_jobs 2), rsync over a
 *   private sshd (parallel_jobs 2) and postgres, then a second local-rsync and rsync backup of the
 *   unchanged data with reuse_backup = link;
 * - Barman 3.4 `backup --wait` with rsync over ssh and postgres, and its re-backup with
 *   reuse_backup = link (Barman's own defaults otherwise, so parallel_jobs 1 as in §4).
 *
 * Every command runs once (see BENCH_RUNS) with a cold cache (`sync; echo 3 >
 * /proc/sys/vm/drop_caches`) under `/usr/bin/time -f %M`, whose peak RSS is that of the largest
 * process of the command's tree. A `sync` after each command is timed separately ("sync after":
 * data the command left unwritten). The barman tools run as OS user barman (local-rsync as
 * postgres, which must read PGDATA), with compression = gzip and immediate_checkpoint as in the
 * rig; PostgreSQL's archive_command copies each segment once and hard-links it into every benched
 * server's incoming/ (mode 0777). Before each timed backup the archiver is waited for and the
 * server's incoming/ is archived, so the timed run only archives the WAL of its own backup.
 *
 * The cluster is built once and kept in /var/tmp/barman-ts-bench-pg (rebuilt when its scale or
 * identity does not match). Targets: rsync <= 0.5x Barman 3.4 rsync, postgres <= 1.05x
 * pg_basebackup, local-rsync <= 1.3x cp -a, re-backup with link <= 0.5x Barman 3.4's re-backup,
 * peak RSS <= 200 MB.
 *
 * BENCH_RUNS=n repeats everything in n interleaved rounds (full backups with `--reuse-backup off`,
 * re-backups with `--reuse-backup link` on the same round's backup) and reports medians and the
 * largest peak RSS. BENCH_PHASES=1 prints each backup's log lines, timed from the command's start
 * (BENCH_LOG_LEVEL=DEBUG for more lines); BENCH_CPU_PROF=<dir> runs barman-ts under
 * `node --cpu-prof` into <dir>; BENCH_VERBOSE=1 prints every command's output.
 */
import { chmod, lstat, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer, SshServer } from '../test/harness/index.js';
import { createDir, makeTempDir, startSshd, waitFor } from '../test/harness/index.js';
import {
  assertSucceeded,
  BARMAN_34_BIN,
  dropCaches,
  environmentLine,
  formatBytes,
  formatMs,
  formatRatio,
  median,
  MIB,
  printTable,
  runMain,
  snapshotBarmanTs,
  syncAll,
  timeRun,
} from './common.js';
import type { PgbenchCluster } from './pgbench-cluster.js';
import { startPgbenchCluster } from './pgbench-cluster.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 130);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'INFO';
const PHASES = process.env.BENCH_PHASES === '1';
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF ?? null;
const CACHE_DIR = '/var/tmp/barman-ts-bench-pg';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const TIME_BIN = '/usr/bin/time';
const MAX_RSS_BYTES = 200e6;
const RUN_TIMEOUT_MS = 1_800_000;

/** Wall times of test-rig.md §4.1 (scale 130), by case key. */
const RIG_REFERENCE_MS: Record<string, number> = {
  cp: 3430,
  pg_basebackup: 8420,
  'b34-rsync': 15590,
  'b34-postgres': 11060,
  'b34-rsync-link': 3740,
};

interface Target {
  what: string;
  subject: string;
  baseline: string;
  max: number;
}

const TARGETS: Target[] = [
  { what: 'rsync method', subject: 'ts-rsync', baseline: 'b34-rsync', max: 0.5 },
  { what: 'postgres method', subject: 'ts-postgres', baseline: 'pg_basebackup', max: 1.05 },
  { what: 'local-rsync', subject: 'ts-local', baseline: 'cp', max: 1.3 },
  { what: 're-backup with link (rsync)', subject: 'ts-rsync-link', baseline: 'b34-rsync-link', max: 0.5 },
  {
    what: 're-backup with link (local-rsync)',
    subject: 'ts-local-link',
    baseline: 'b34-rsync-link',
    max: 0.5,
  },
];

// ---------------------------------------------------------------------------------------------
// Directories and files

interface TreeUsage {
  bytes: number;
  files: number;
  /** Bytes in files with a single link: what this copy added to the disk. */
  unlinkedBytes: number;
}

async function treeUsage(directory: string, skipTopLevel: readonly string[] = []): Promise<TreeUsage> {
  const usage: TreeUsage = { bytes: 0, files: 0, unlinkedBytes: 0 };
  const walk = async (path: string, top: boolean): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      if (top && skipTopLevel.includes(entry.name)) continue;
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child, false);
      else if (entry.isFile()) {
        const info = await lstat(child);
        usage.bytes += info.size;
        usage.files += 1;
        if (info.nlink === 1) usage.unlinkedBytes += info.size;
      }
    }
  };
  await walk(directory, true);
  return usage;
}

async function ownedDir(path: string, owner: string, mode = 0o755): Promise<string> {
  return createDir(path, { owner, mode });
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => null))?.size ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Barman configurations

type Tool = 'baseline' | 'barman-ts' | 'Barman 3.4';

interface BarmanSetup {
  tool: Exclude<Tool, 'baseline'>;
  /** OS user the tool runs as (its barman_user). */
  user: string;
  config: string;
  home: string;
  logFile: string;
}

async function writeConfig(
  setup: BarmanSetup,
  servers: Record<string, Record<string, string>>,
): Promise<void> {
  const lines = [
    '[barman]',
    `barman_user = ${setup.user}`,
    `barman_home = ${setup.home}`,
    `log_file = ${setup.logFile}`,
    `log_level = ${LOG_LEVEL}`,
    'compression = gzip',
    `path_prefix = ${PG_BIN}`,
    'immediate_checkpoint = true',
    'minimum_redundancy = 0',
  ];
  for (const [name, options] of Object.entries(servers)) {
    lines.push('', `[${name}]`, `description = ${setup.tool} backup benchmark`);
    for (const [key, value] of Object.entries(options)) lines.push(`${key} = ${value}`);
  }
  await writeFile(setup.config, `${lines.join('\n')}\n`, { mode: 0o644 });
  await chmod(setup.config, 0o644);
}

/** `<home>/<server>/incoming`, mode 0777: PostgreSQL (postgres) delivers, the tool consumes. */
async function incomingDir(setup: BarmanSetup, server: string): Promise<string> {
  await ownedDir(join(setup.home, server), setup.user);
  return ownedDir(join(setup.home, server, 'incoming'), setup.user, 0o777);
}

function barmanCommand(setup: BarmanSetup, barmanTsBin: string, args: readonly string[]): [string, string[]] {
  if (setup.tool === 'Barman 3.4') return [BARMAN_34_BIN, ['-c', setup.config, ...args]];
  const profile = CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [];
  return [process.execPath, [...profile, barmanTsBin, '-c', setup.config, ...args]];
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Case {
  key: string;
  label: string;
  tool: Tool;
  user: string;
  command: string;
  args: string[];
  /** For backups: the tool and server, to drain incoming/ first and verify the result. */
  barman?: { setup: BarmanSetup; server: string };
  /** For the baselines: the directory they write (measured, then removed). */
  output?: string;
}

interface Measured {
  key: string;
  label: string;
  tool: Tool;
  ms: number;
  syncMs: number;
  rssBytes: number;
  coldCache: boolean;
  /** copy_time of backup.info's copy_stats, when the tool recorded one. */
  copyMs: number | null;
  usage: TreeUsage;
  /** Every run's wall time (summaries of BENCH_RUNS > 1). */
  runsMs?: number[];
}

async function waitForArchiver(pg: PostgresServer): Promise<void> {
  await waitFor(
    'the archiver to deliver every finished WAL segment',
    async () => {
      const [row] = await pg.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'",
      );
      return row!.n === '0';
    },
    { timeoutMs: 600_000, intervalMs: 200 },
  );
}

async function backupIds(setup: BarmanSetup, server: string): Promise<string[]> {
  const base = join(setup.home, server, 'base');
  return (await readdir(base).catch(() => [] as string[]))
    .filter((name) => /^\d{8}T\d{6}$/.test(name))
    .sort();
}

async function runCase(
  testCase: Case,
  context: { pg: PostgresServer; barmanTsBin: string; rssDir: string; payloadBytes: number },
): Promise<Measured> {
  await waitForArchiver(context.pg);
  let before: string[] = [];
  let logOffset = 0;
  if (testCase.barman) {
    const { setup, server } = testCase.barman;
    const [command, args] = barmanCommand(setup, context.barmanTsBin, ['archive-wal', server]);
    assertSucceeded(
      await timeRun(setup.user, command, args),
      `${setup.tool} archive-wal ${server} (before the timed backup)`,
    );
    before = await backupIds(setup, server);
    logOffset = await fileSize(setup.logFile);
  }
  const rssFile = join(context.rssDir, `${testCase.key}.rss`);
  await rm(rssFile, { force: true });

  const coldCache = dropCaches();
  const startedAt = Date.now();
  const run = await timeRun(
    testCase.user,
    TIME_BIN,
    ['-f', '%M', '-o', rssFile, testCase.command, ...testCase.args],
    { timeoutMs: RUN_TIMEOUT_MS },
  );
  const endedAt = Date.now();
  const syncStarted = process.hrtime.bigint();
  syncAll();
  const syncMs = Number(process.hrtime.bigint() - syncStarted) / 1e6;
  assertSucceeded(run, testCase.label);
  if (process.env.BENCH_VERBOSE === '1') console.log(`${run.stdout}${run.stderr}`.trimEnd());
  const rssLines = (await readFile(rssFile, 'utf8')).trim().split('\n');
  const rssBytes = Number(rssLines[rssLines.length - 1]) * 1024;

  let usage: TreeUsage;
  let copyMs: number | null = null;
  if (testCase.barman) {
    const { setup, server } = testCase.barman;
    const created = (await backupIds(setup, server)).filter((id) => !before.includes(id));
    if (created.length !== 1)
      throw new Error(`${testCase.label}: ${created.length} new backups, not 1:\n${run.stdout}${run.stderr}`);
    const directory = join(setup.home, server, 'base', created[0]!);
    const info = await readFile(join(directory, 'backup.info'), 'utf8');
    const status = /^status=(\w+)$/m.exec(info)?.[1];
    if (status !== 'DONE') throw new Error(`${testCase.label}: backup ${created[0]} is ${status}, not DONE`);
    const copyTime = /^copy_stats=.*'copy_time': ([0-9.eE+-]+)/m.exec(info)?.[1];
    copyMs = copyTime !== undefined ? Number(copyTime) * 1000 : null;
    usage = await treeUsage(join(directory, 'data'));
    if (PHASES) await printLogTimeline(testCase.label, setup.logFile, logOffset, startedAt, endedAt);
  } else {
    usage = await treeUsage(testCase.output!, ['pg_wal']);
    await rm(testCase.output!, { recursive: true, force: true });
  }
  if (usage.bytes < 0.9 * context.payloadBytes) {
    throw new Error(
      `${testCase.label}: the copy holds ${formatBytes(usage.bytes)}, PGDATA ${formatBytes(context.payloadBytes)}`,
    );
  }
  const measured: Measured = {
    key: testCase.key,
    label: testCase.label,
    tool: testCase.tool,
    ms: run.ms,
    syncMs,
    rssBytes,
    coldCache,
    copyMs,
    usage,
  };
  console.log(
    `  ${testCase.label.padEnd(44)} ${formatMs(measured.ms).padStart(8)}  ` +
      `(sync after ${formatMs(syncMs)}, peak RSS ${formatMegabytes(rssBytes)})`,
  );
  return measured;
}

/**
 * The log lines a run appended (barman-ts: JSON lines; Barman 3.4: its text format), as offsets
 * from the moment the timed command was started, which shows the time before the first line
 * (process start, configuration, pre-backup check) and after the last one.
 */
async function printLogTimeline(
  label: string,
  logFile: string,
  offset: number,
  startedAt: number,
  endedAt: number,
): Promise<void> {
  const text = (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(offset).toString('utf8');
  const at = (time: number): string => `+${((time - startedAt) / 1000).toFixed(3).padStart(7)} s`;
  console.log(`    log of ${label}:`);
  for (const line of text.split('\n').filter(Boolean)) {
    let time = NaN;
    let message = line;
    if (line.startsWith('{')) {
      try {
        const entry = JSON.parse(line) as { time: string; level: string; msg: string };
        time = Date.parse(entry.time);
        message = `${entry.level.padEnd(5)} ${entry.msg}`;
      } catch {
        // not JSON after all: printed as it is
      }
    } else {
      // Barman 3.4: "2026-11-21 07:33:40,123 [1234] barman.module LEVEL: message" in local time
      const match = /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+),(\d+) \[\d+\] \S+ (\w+): (.*)$/.exec(line);
      if (match) {
        const [y, mo, d, h, mi, sec, ms] = match.slice(1, 8).map(Number) as [
          number,
          number,
          number,
          number,
          number,
          number,
          number,
        ];
        time = new Date(y, mo - 1, d, h, mi, sec, ms).getTime();
        message = `${match[8]!.toLowerCase().padEnd(5)} ${match[9]}`;
      }
    }
    console.log(`    ${Number.isNaN(time) ? ' '.repeat(10) : at(time)}  ${message}`);
  }
  console.log(`    ${at(endedAt)}  (the command has exited)`);
}

function formatMegabytes(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(0)} MB` : '-';
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:backup needs root (drop_caches, sshd, runuser)');
  if (!Number.isInteger(SCALE) || SCALE < 1) throw new Error(`BENCH_SCALE must be a positive integer`);
  const barmanTs = await snapshotBarmanTs();
  const work = await makeTempDir('bench-backup');
  const rssDir = await createDir(join(work, 'rss'), { mode: 0o777 });
  if (CPU_PROFILE_DIR) await createDir(CPU_PROFILE_DIR, { mode: 0o777 });

  const ts: BarmanSetup = {
    tool: 'barman-ts',
    user: 'barman',
    config: join(work, 'barman-ts.conf'),
    home: await ownedDir(join(work, 'ts-home'), 'barman'),
    logFile: join(await ownedDir(join(work, 'ts-log'), 'barman'), 'barman.log'),
  };
  // local-rsync reads PGDATA itself, so it runs as the cluster's owner.
  const tsLocal: BarmanSetup = {
    tool: 'barman-ts',
    user: 'postgres',
    config: join(work, 'barman-ts-local.conf'),
    home: await ownedDir(join(work, 'ts-local-home'), 'postgres'),
    logFile: join(await ownedDir(join(work, 'ts-local-log'), 'postgres'), 'barman.log'),
  };
  const b34: BarmanSetup = {
    tool: 'Barman 3.4',
    user: 'barman',
    config: join(work, 'barman34.conf'),
    home: await ownedDir(join(work, 'b34-home'), 'barman'),
    logFile: join(await ownedDir(join(work, 'b34-log'), 'barman'), 'barman.log'),
  };
  const servers: Array<[BarmanSetup, string]> = [
    [tsLocal, 'ts-local'],
    [ts, 'ts-rsync'],
    [ts, 'ts-postgres'],
    [b34, 'b34-rsync'],
    [b34, 'b34-postgres'],
  ];
  const incoming: string[] = [];
  for (const [setup, server] of servers) incoming.push(await incomingDir(setup, server));

  // archive_command: one copy of the segment, hard-linked into every incoming/ (same filesystem).
  const stage = await ownedDir(join(work, 'wal-stage'), 'postgres', 0o700);
  const archiveScript = join(work, 'archive.sh');
  await writeFile(
    archiveScript,
    [
      '#!/bin/sh',
      '# archive_command of the backup benchmark: $1 = %p, $2 = %f',
      'set -e',
      `tmp=${shellQuote(stage)}/".$2.$$"`,
      'cp "$1" "$tmp"',
      'chmod 0644 "$tmp"',
      `for dir in ${incoming.map(shellQuote).join(' ')}; do`,
      '  ln -f "$tmp" "$dir/.$2.tmp"',
      '  mv -f "$dir/.$2.tmp" "$dir/$2"',
      'done',
      'rm -f "$tmp"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await chmod(archiveScript, 0o755);

  const sshd: SshServer = await startSshd({ users: ['barman', 'postgres'] });
  let pg: PostgresServer | null = null;
  try {
    const started = await startPgbenchCluster({
      cacheDir: CACHE_DIR,
      scale: SCALE,
      archiveCommand: `${archiveScript} %p %f`,
      log: console.log,
    });
    pg = started.pg;
    const payload = await treeUsage(pg.dataDir, ['pg_wal']);
    const ssh = sshd.sshCommand('barman', 'postgres');
    const common = { conninfo: pg.conninfo, archiver: 'on' };
    const rsync = {
      ssh_command: ssh,
      backup_method: 'rsync',
      backup_options: 'concurrent_backup',
      reuse_backup: 'link',
    };
    // Barman 3.4 refuses reuse_backup with the postgres method.
    const postgresMethod = { streaming_conninfo: pg.conninfo, backup_method: 'postgres' };
    await writeConfig(tsLocal, {
      'ts-local': { ...common, backup_method: 'local-rsync', reuse_backup: 'link', parallel_jobs: '2' },
    });
    await writeConfig(ts, {
      'ts-rsync': { ...common, ...rsync, parallel_jobs: '2' },
      'ts-postgres': { ...common, ...postgresMethod },
    });
    await writeConfig(b34, {
      'b34-rsync': { ...common, ...rsync },
      'b34-postgres': { ...common, ...postgresMethod, streaming_archiver: 'off' },
    });

    // One WAL segment archived everywhere before anything is timed (Barman 3.4 refuses to back
    // up a server whose WAL archive is empty), then every server's check, untimed.
    await pg.query('CHECKPOINT');
    await pg.query('SELECT pg_switch_wal()');
    await waitForArchiver(pg);
    for (const [setup, server] of servers) {
      const [command, args] = barmanCommand(setup, barmanTs.bin, ['archive-wal', server]);
      assertSucceeded(await timeRun(setup.user, command, args), `${setup.tool} archive-wal ${server}`);
      const [checkCommand, checkArgs] = barmanCommand(setup, barmanTs.bin, ['check', server]);
      const check = await timeRun(setup.user, checkCommand, checkArgs);
      if (check.exitCode !== 0) {
        const failed = check.stdout.split('\n').filter((line) => /FAILED/.test(line));
        console.log(`WARNING: ${setup.tool} check ${server} failed:\n${failed.join('\n') || check.stderr}`);
      }
    }

    const copies = await ownedDir(join(work, 'copies'), 'barman');
    const entries = (await readdir(pg.dataDir)).filter((name) => name !== 'pg_wal');
    const pgBasebackup = join(PG_BIN, 'pg_basebackup');
    // reuse_backup is given on the command line too (not for the postgres method, where Barman
    // 3.4 refuses it): a full backup stays full when BENCH_RUNS repeats it.
    const backup = (
      key: string,
      label: string,
      setup: BarmanSetup,
      server: string,
      reuse: 'off' | 'link' | null,
    ): Case => {
      const reuseArgs = reuse ? ['--reuse-backup', reuse] : [];
      const [command, args] = barmanCommand(setup, barmanTs.bin, ['backup', '--wait', ...reuseArgs, server]);
      return { key, label, tool: setup.tool, user: setup.user, command, args, barman: { setup, server } };
    };
    const cases: Case[] = [
      {
        key: 'cp',
        label: 'cp -a PGDATA (no pg_wal) + sync',
        tool: 'baseline',
        user: 'root',
        command: 'sh',
        args: [
          '-c',
          'mkdir "$0" && cp -a "$@" "$0"/ && sync',
          join(copies, 'cp'),
          ...entries.map((name) => join(pg!.dataDir, name)),
        ],
        output: join(copies, 'cp'),
      },
      {
        key: 'pg_basebackup',
        label: 'pg_basebackup -Fp -X none -c fast + sync',
        tool: 'baseline',
        user: 'barman',
        command: 'sh',
        args: [
          '-c',
          '"$@" && sync',
          'sh',
          pgBasebackup,
          ...['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '--no-password'],
          ...['-D', join(copies, 'pg_basebackup'), '-Fp', '-X', 'none', '-c', 'fast'],
        ],
        output: join(copies, 'pg_basebackup'),
      },
      backup('ts-local', 'barman-ts local-rsync (2 jobs)', tsLocal, 'ts-local', 'off'),
      backup('ts-rsync', 'barman-ts rsync over ssh (2 jobs)', ts, 'ts-rsync', 'off'),
      backup('ts-postgres', 'barman-ts postgres', ts, 'ts-postgres', null),
      backup('ts-local-link', 'barman-ts local-rsync re-backup, link', tsLocal, 'ts-local', 'link'),
      backup('ts-rsync-link', 'barman-ts rsync re-backup, link', ts, 'ts-rsync', 'link'),
      backup('b34-rsync', 'Barman 3.4 rsync over ssh', b34, 'b34-rsync', 'off'),
      backup('b34-postgres', 'Barman 3.4 postgres', b34, 'b34-postgres', null),
      backup('b34-rsync-link', 'Barman 3.4 rsync re-backup, link', b34, 'b34-rsync', 'link'),
    ];

    console.log(
      `\nPGDATA without pg_wal: ${formatBytes(payload.bytes)} in ${payload.files} files; ` +
        `${RUNS === 1 ? 'one cold-cache run' : `${RUNS} cold-cache runs (interleaved rounds)`} per command:`,
    );
    const runs = new Map<string, Measured[]>(cases.map((testCase) => [testCase.key, []]));
    for (let round = 1; round <= RUNS; round += 1) {
      if (RUNS > 1) console.log(`round ${round} of ${RUNS}`);
      // The previous round's backups go: disk space, and a re-backup links to this round's backup.
      for (const [setup, server] of servers) {
        for (const id of await backupIds(setup, server))
          await rm(join(setup.home, server, 'base', id), { recursive: true, force: true });
      }
      for (const testCase of cases) {
        runs
          .get(testCase.key)!
          .push(
            await runCase(testCase, { pg, barmanTsBin: barmanTs.bin, rssDir, payloadBytes: payload.bytes }),
          );
      }
    }
    const measured = cases.map((testCase) => summarize(runs.get(testCase.key)!));
    report(measured, payload, started.cluster, barmanTs.description);
  } finally {
    await pg?.stop();
    await sshd.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** The median run (wall, copy and sync medians), the largest peak RSS, and every wall time. */
function summarize(runs: Measured[]): Measured {
  const middle = (values: number[]): number => median(values);
  const copies = runs.map((run) => run.copyMs).filter((value): value is number => value !== null);
  return {
    ...runs[runs.length - 1]!,
    ms: middle(runs.map((run) => run.ms)),
    syncMs: middle(runs.map((run) => run.syncMs)),
    copyMs: copies.length > 0 ? middle(copies) : null,
    rssBytes: Math.max(...runs.map((run) => run.rssBytes)),
    coldCache: runs.every((run) => run.coldCache),
    runsMs: runs.map((run) => run.ms),
  };
}

function report(
  measured: Measured[],
  payload: TreeUsage,
  cluster: PgbenchCluster,
  implementation: string,
): void {
  const byKey = new Map(measured.map((item) => [item.key, item]));
  const targetOf = new Map(TARGETS.map((target) => [target.subject, target]));
  const coldCache = measured.every((item) => item.coldCache);
  console.log(
    `\nbackup of pgbench -s ${SCALE} (PGDATA without pg_wal ${formatBytes(payload.bytes)}, ${payload.files} files), ` +
      `${coldCache ? 'cold cache' : 'WARNING: caches could NOT be dropped'}, ` +
      `${RUNS === 1 ? '1 run' : `median of ${RUNS} runs`} per command (${environmentLine()})`,
  );
  console.log(`cluster: PostgreSQL 15, built ${cluster.manifest.created}; barman tools: compression gzip`);
  console.log(`${implementation}\n`);
  if (RUNS > 1) {
    printTable(
      ['<run', ...Array.from({ length: RUNS }, (_, index) => `run ${index + 1}`)],
      measured.map((item) => [item.label, ...(item.runsMs ?? []).map(formatMs)]),
    );
    console.log('');
  }
  printTable(
    [
      '<run',
      'wall',
      'copy',
      'sync after',
      'MiB/s',
      'backup size',
      'new on disk',
      'peak RSS',
      '<compared with',
      'ratio',
      'target',
      '<verdict',
    ],
    measured.map((item) => {
      const target = targetOf.get(item.key);
      const baseline = target ? byKey.get(target.baseline) : undefined;
      const ratio = baseline ? item.ms / baseline.ms : NaN;
      return [
        item.label,
        formatMs(item.ms),
        item.copyMs === null ? '-' : formatMs(item.copyMs),
        formatMs(item.syncMs),
        (payload.bytes / MIB / (item.ms / 1000)).toFixed(0),
        formatBytes(item.usage.bytes),
        formatBytes(item.usage.unlinkedBytes),
        formatMegabytes(item.rssBytes),
        baseline ? baseline.label.replace(/ \+ sync$/, '') : '',
        baseline ? formatRatio(ratio) : '',
        target ? `<= ${target.max.toFixed(2)}x` : '',
        target ? (ratio <= target.max ? 'MET' : 'MISSED') : '',
      ];
    }),
  );

  console.log('\ntargets:');
  for (const target of TARGETS) {
    const subject = byKey.get(target.subject)!;
    const baseline = byKey.get(target.baseline)!;
    const ratio = subject.ms / baseline.ms;
    const reference = RIG_REFERENCE_MS[target.baseline];
    const rig =
      SCALE === 130 && reference
        ? ` (against test-rig.md §4's ${formatMs(reference)}: ${formatRatio(subject.ms / reference)})`
        : '';
    console.log(
      `  ${target.what.padEnd(34)} ${formatMs(subject.ms).padStart(8)} / ${formatMs(baseline.ms).padStart(8)} ` +
        `= ${formatRatio(ratio).padStart(6)}  <= ${target.max.toFixed(2)}x  ${ratio <= target.max ? 'MET' : 'MISSED'}${rig}`,
    );
  }
  const tsRuns = measured.filter((item) => item.tool === 'barman-ts');
  const largest = tsRuns.reduce((a, b) => (b.rssBytes > a.rssBytes ? b : a));
  console.log(
    `  ${'peak RSS of barman-ts'.padEnd(34)} ${formatMegabytes(largest.rssBytes).padStart(8)} (${largest.label})` +
      `  <= ${formatMegabytes(MAX_RSS_BYTES)}  ${largest.rssBytes <= MAX_RSS_BYTES ? 'MET' : 'MISSED'}`,
  );
  if (SCALE === 130) {
    console.log('\nbaselines against test-rig.md §4 (same scale, other runs):');
    for (const [key, reference] of Object.entries(RIG_REFERENCE_MS)) {
      const item = byKey.get(key)!;
      console.log(
        `  ${item.label.padEnd(44)} ${formatMs(item.ms).padStart(8)} here, ${formatMs(reference).padStart(8)} in §4`,
      );
    }
  }
}

runMain(main);
