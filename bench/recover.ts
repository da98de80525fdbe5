/**
 * `npm run bench:recover`: recovery of a pgbench database (`pgbench -i -s ${BENCH_SCALE:-130}`,
 * about 2 GB at 130 as in test-rig.md §4) on PostgreSQL 15, from one barman-ts backup and one
 * Barman 3.4 backup (both backup_method postgres, plain) taken once per run, with the WAL of
 * `pgbench -t` after the backups archived by each tool (compression gzip):
 *
 * - baselines: `cp -a` of the barman-ts backup's data directory; `pgbackrest restore
 *   --process-max=2` of a pgBackRest 2.45 backup (lz4, as in test-rig.md §4.2) of the same
 *   cluster when pgBackRest is installed (issue 5's 2.5 s reference figure otherwise);
 * - barman-ts `recover` (parallel_jobs 2) into a fresh local directory, then `--delta-restore`
 *   into that same directory (nothing changed), and `recover --remote-ssh-command` over a
 *   private sshd into a directory owned by another OS user;
 * - Barman 3.4 `recover` of its own backup, locally and with `--remote-ssh-command` likewise
 *   (Barman's defaults otherwise, so parallel_jobs 1).
 *
 * Every command runs with a cold cache (`sync; echo 3 > /proc/sys/vm/drop_caches`) under
 * `/usr/bin/time -f %M` (peak RSS of the largest process of the command's tree), then a `sync`
 * is timed: "total" = command + sync, the time until the recovered copy is on disk (rsync and
 * cp do not fsync; barman-ts and pgBackRest do). Barman tools run as OS user barman, the local
 * copies are owned by barman, the remote ones by pgrestore; pgBackRest runs as postgres. The
 * barman tools copy the WAL needed to reach the end of the archive into the copy; pgBackRest
 * leaves that to its restore_command at start-up. Unless BENCH_VERIFY=0, PostgreSQL is started
 * (untimed) on barman-ts's delta and remote copies, which must show every pgbench row and every
 * transaction of the archived WAL.
 *
 * The cluster is built once and kept in /var/tmp/barman-ts-bench-recover (rebuilt when its scale
 * or identity does not match). Targets (issue 5): local recover <= 1.0x pgBackRest's restore,
 * remote recover <= 0.5x Barman 3.4's.
 *
 * BENCH_RUNS=n repeats the timed commands in n interleaved rounds and reports medians and the
 * largest peak RSS; BENCH_WAL_TRANSACTIONS (default 10000) sets the pgbench transactions whose
 * WAL the recoveries copy; BENCH_VERBOSE=1 prints every command's output.
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer, SshServer } from '../test/harness/index.js';
import { createDir, makeTempDir, runAs, startPostgres, startSshd, waitFor } from '../test/harness/index.js';
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
import { PG15_BIN, startPgbenchCluster } from './pgbench-cluster.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 130);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const WAL_TRANSACTIONS = Number(process.env.BENCH_WAL_TRANSACTIONS ?? 10_000);
const VERIFY = process.env.BENCH_VERIFY !== '0';
const VERBOSE = process.env.BENCH_VERBOSE === '1';
const CACHE_DIR = '/var/tmp/barman-ts-bench-recover';
const TIME_BIN = '/usr/bin/time';
const PGBACKREST_BIN = '/usr/bin/pgbackrest';
const RUN_TIMEOUT_MS = 1_800_000;
/** OS user owning the remote recoveries' destination (logged in to over the private sshd). */
const REMOTE_USER = 'pgrestore';

/** Issue 5's figures, measured on the rig (test-rig.md §4, scale 130), by case key. */
const REFERENCE_MS: Record<string, number> = {
  cp: 3430,
  pgbackrest: 2500,
  'b34-local': 8210,
  'b34-remote': 16790,
};

interface Target {
  what: string;
  subject: string;
  baseline: string;
  max: number;
}

// ---------------------------------------------------------------------------------------------
// Directories

interface TreeUsage {
  bytes: number;
  files: number;
}

async function treeUsage(directory: string): Promise<TreeUsage> {
  const usage: TreeUsage = { bytes: 0, files: 0 };
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) {
        usage.bytes += (await lstat(child)).size;
        usage.files += 1;
      }
    }
  };
  await walk(directory);
  return usage;
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

// ---------------------------------------------------------------------------------------------
// Tools

type Tool = 'baseline' | 'barman-ts' | 'Barman 3.4';

interface BarmanSetup {
  tool: Exclude<Tool, 'baseline'>;
  server: string;
  config: string;
  home: string;
  logFile: string;
}

/** OS user of both barman tools (their barman_user). */
const BARMAN_USER = 'barman';

async function writeConfig(setup: BarmanSetup, options: Record<string, string>): Promise<void> {
  const lines = [
    '[barman]',
    `barman_user = ${BARMAN_USER}`,
    `barman_home = ${setup.home}`,
    `log_file = ${setup.logFile}`,
    'log_level = INFO',
    'compression = gzip',
    `path_prefix = ${PG15_BIN}`,
    'immediate_checkpoint = true',
    'minimum_redundancy = 0',
    '',
    `[${setup.server}]`,
    `description = ${setup.tool} recovery benchmark`,
    ...Object.entries(options).map(([key, value]) => `${key} = ${value}`),
  ];
  await writeFile(setup.config, `${lines.join('\n')}\n`, { mode: 0o644 });
  await chmod(setup.config, 0o644);
}

function barmanCommand(setup: BarmanSetup, barmanTsBin: string, args: readonly string[]): [string, string[]] {
  if (setup.tool === 'Barman 3.4') return [BARMAN_34_BIN, ['-c', setup.config, ...args]];
  return [process.execPath, [barmanTsBin, '-c', setup.config, ...args]];
}

async function barman(setup: BarmanSetup, barmanTsBin: string, args: readonly string[]): Promise<string> {
  const [command, commandArgs] = barmanCommand(setup, barmanTsBin, args);
  const run = await timeRun(BARMAN_USER, command, commandArgs, { timeoutMs: RUN_TIMEOUT_MS });
  assertSucceeded(run, `${setup.tool} ${args.join(' ')}`);
  return run.stdout;
}

async function onlyBackupId(setup: BarmanSetup): Promise<string> {
  const ids = (await readdir(join(setup.home, setup.server, 'base'))).filter((name) =>
    /^\d{8}T\d{6}$/.test(name),
  );
  if (ids.length !== 1) throw new Error(`${setup.tool}: ${ids.length} backups, not 1`);
  return ids[0]!;
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

// ---------------------------------------------------------------------------------------------
// Measuring

interface Case {
  key: string;
  label: string;
  tool: Tool | 'pgBackRest';
  user: string;
  command: string;
  args: string[];
  /** The directory the command writes (measured, then removed unless `keep`). */
  output: string;
  /** Makes the parent of `output` (owned by the right user); `output` itself must not exist. */
  prepare?: () => Promise<void>;
  /** Leaves `output` for the next case (delta restore), which removes it. */
  keep?: boolean;
  /** Starts PostgreSQL on the copy as this OS user afterwards (last round, untimed). */
  verifyAs?: string;
}

interface Measured {
  key: string;
  label: string;
  tool: Case['tool'];
  ms: number;
  syncMs: number;
  rssBytes: number;
  coldCache: boolean;
  usage: TreeUsage;
  runsMs?: number[];
}

const totalMs = (item: Measured): number => item.ms + item.syncMs;

async function runCase(
  testCase: Case,
  context: { rssDir: string; payloadBytes: number; verify: Expected | null },
): Promise<Measured> {
  await testCase.prepare?.();
  const rssFile = join(context.rssDir, `${testCase.key}.rss`);
  await rm(rssFile, { force: true });
  const coldCache = dropCaches();
  const run = await timeRun(
    testCase.user,
    TIME_BIN,
    ['-f', '%M', '-o', rssFile, testCase.command, ...testCase.args],
    { timeoutMs: RUN_TIMEOUT_MS },
  );
  const syncStarted = process.hrtime.bigint();
  syncAll();
  const syncMs = Number(process.hrtime.bigint() - syncStarted) / 1e6;
  assertSucceeded(run, testCase.label);
  if (VERBOSE) console.log(`${run.stdout}${run.stderr}`.trimEnd());
  const rssLines = (await readFile(rssFile, 'utf8')).trim().split('\n');
  const rssBytes = Number(rssLines[rssLines.length - 1]) * 1024;
  const usage = await treeUsage(testCase.output);
  if (usage.bytes < 0.9 * context.payloadBytes || !existsSync(join(testCase.output, 'PG_VERSION'))) {
    throw new Error(
      `${testCase.label}: the copy holds ${formatBytes(usage.bytes)}, the backup ${formatBytes(context.payloadBytes)}`,
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
    usage,
  };
  console.log(
    `  ${testCase.label.padEnd(48)} ${formatMs(totalMs(measured)).padStart(8)}  ` +
      `(command ${formatMs(run.ms)}, sync after ${formatMs(syncMs)}, peak RSS ${formatMegabytes(rssBytes)})`,
  );
  if (context.verify && testCase.verifyAs) await verifyCopy(testCase, context.verify);
  if (!testCase.keep) await rm(testCase.output, { recursive: true, force: true });
  return measured;
}

interface Expected {
  accounts: number;
  history: number;
}

/**
 * Starts PostgreSQL on a recovered copy (as its owner, another port) and checks it shows the
 * source's rows: all of pgbench_accounts and every pgbench_history row of the archived WAL.
 */
async function verifyCopy(testCase: Case, expected: Expected): Promise<void> {
  const started = Date.now();
  const server = await startPostgres({
    version: 15,
    existingDataDir: testCase.output,
    user: testCase.verifyAs!,
  });
  try {
    await waitFor(
      'the recovered server to leave recovery',
      async () => !(await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r,
      { timeoutMs: 300_000, intervalMs: 200 },
    );
    const [row] = await server.query<{ accounts: string; history: string }>(
      'SELECT (SELECT count(*) FROM pgbench_accounts) AS accounts, (SELECT count(*) FROM pgbench_history) AS history',
    );
    const found = { accounts: Number(row!.accounts), history: Number(row!.history) };
    if (found.accounts !== expected.accounts || found.history !== expected.history) {
      throw new Error(
        `${testCase.label}: the recovered copy has ${found.accounts} accounts and ${found.history} history rows, ` +
          `the source ${expected.accounts} and ${expected.history}`,
      );
    }
    console.log(
      `    verified: PostgreSQL started on the copy, ${found.accounts} accounts, ${found.history} history rows ` +
        `(${formatMs(Date.now() - started)}, untimed)`,
    );
  } finally {
    await server.stop();
  }
}

function formatMegabytes(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(0)} MB` : '-';
}

// ---------------------------------------------------------------------------------------------
// pgBackRest

interface PgBackRest {
  config: string;
  stanza: string;
}

/** A pgBackRest 2.45 repository (lz4, process-max 2, as in test-rig.md) with one full backup. */
async function setUpPgBackRest(work: string, pg: PostgresServer): Promise<PgBackRest> {
  const root = await createDir(join(work, 'pgbackrest'), { owner: 'postgres', mode: 0o750 });
  for (const sub of ['repo', 'log', 'lock'])
    await createDir(join(root, sub), { owner: 'postgres', mode: 0o750 });
  const config = join(root, 'pgbackrest.conf');
  const stanza = 'bench';
  await writeFile(
    config,
    [
      '[global]',
      `repo1-path=${join(root, 'repo')}`,
      `log-path=${join(root, 'log')}`,
      `lock-path=${join(root, 'lock')}`,
      'process-max=2',
      'compress-type=lz4',
      'start-fast=y',
      'log-level-console=warn',
      'log-level-file=off',
      '',
      `[${stanza}]`,
      `pg1-path=${pg.dataDir}`,
      `pg1-port=${pg.port}`,
      `pg1-socket-path=${pg.socketDir}`,
      'pg1-user=postgres',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const pgbackrest = async (args: string[]): Promise<void> => {
    const run = await timeRun(
      'postgres',
      PGBACKREST_BIN,
      [`--config=${config}`, `--stanza=${stanza}`, ...args],
      {
        timeoutMs: RUN_TIMEOUT_MS,
      },
    );
    assertSucceeded(run, `pgbackrest ${args.join(' ')}`);
  };
  await pgbackrest(['stanza-create']);
  // The WAL is the barman tools' part of this benchmark: pgBackRest's restore copies data files
  // only (its restore_command fetches WAL at start-up), so its backup need not wait for an archive.
  const started = Date.now();
  await pgbackrest(['--no-archive-check', '--type=full', 'backup']);
  console.log(`  pgBackRest backup (lz4, 2 processes): ${formatMs(Date.now() - started)}`);
  return { config, stanza };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:recover needs root (drop_caches, sshd, runuser)');
  if (!Number.isInteger(SCALE) || SCALE < 1) throw new Error('BENCH_SCALE must be a positive integer');
  if (!Number.isInteger(WAL_TRANSACTIONS) || WAL_TRANSACTIONS < 2)
    throw new Error('BENCH_WAL_TRANSACTIONS must be an integer >= 2');
  const withPgBackRest = existsSync(PGBACKREST_BIN);
  const barmanTs = await snapshotBarmanTs();
  const work = await makeTempDir('bench-recover');
  const rssDir = await createDir(join(work, 'rss'), { mode: 0o777 });

  const setup = async (tool: BarmanSetup['tool'], server: string): Promise<BarmanSetup> => {
    const home = await createDir(join(work, `${server}-home`), { owner: BARMAN_USER });
    await createDir(join(home, server), { owner: BARMAN_USER });
    // PostgreSQL (postgres) delivers WAL, the tool consumes it.
    await createDir(join(home, server, 'incoming'), { owner: BARMAN_USER, mode: 0o777 });
    const logDir = await createDir(join(work, `${server}-log`), { owner: BARMAN_USER });
    return { tool, server, config: join(work, `${server}.conf`), home, logFile: join(logDir, 'barman.log') };
  };
  const ts = await setup('barman-ts', 'ts');
  const b34 = await setup('Barman 3.4', 'b34');
  const setups = [ts, b34];

  // archive_command: one copy of the segment, hard-linked into each tool's incoming/.
  const stage = await createDir(join(work, 'wal-stage'), { owner: 'postgres', mode: 0o700 });
  const archiveScript = join(work, 'archive.sh');
  await writeFile(
    archiveScript,
    [
      '#!/bin/sh',
      '# archive_command of the recovery benchmark: $1 = %p, $2 = %f',
      'set -e',
      `tmp=${shellQuote(stage)}/".$2.$$"`,
      'cp "$1" "$tmp"',
      'chmod 0644 "$tmp"',
      `for dir in ${setups.map((item) => shellQuote(join(item.home, item.server, 'incoming'))).join(' ')}; do`,
      '  ln -f "$tmp" "$dir/.$2.tmp"',
      '  mv -f "$dir/.$2.tmp" "$dir/$2"',
      'done',
      'rm -f "$tmp"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await chmod(archiveScript, 0o755);

  const sshd: SshServer = await startSshd({ users: [BARMAN_USER, REMOTE_USER] });
  let pg: PostgresServer | null = null;
  try {
    const started = await startPgbenchCluster({
      cacheDir: CACHE_DIR,
      scale: SCALE,
      archiveCommand: `${archiveScript} %p %f`,
      log: console.log,
    });
    pg = started.pg;
    const common = {
      conninfo: pg.conninfo,
      streaming_conninfo: pg.conninfo,
      backup_method: 'postgres',
      archiver: 'on',
    };
    await writeConfig(ts, { ...common, parallel_jobs: '2' });
    await writeConfig(b34, { ...common, streaming_archiver: 'off' });

    // One WAL segment archived before the backups (Barman 3.4 refuses to back up a server whose
    // WAL archive is empty), then the backups, untimed.
    await pg.query('CHECKPOINT');
    await pg.query('SELECT pg_switch_wal()');
    await waitForArchiver(pg);
    for (const item of setups) await barman(item, barmanTs.bin, ['archive-wal', item.server]);
    for (const item of setups) {
      const backupStarted = Date.now();
      await barman(item, barmanTs.bin, ['backup', '--wait', item.server]);
      console.log(`  ${item.tool} backup (postgres method, plain): ${formatMs(Date.now() - backupStarted)}`);
    }
    const pgbackrest = withPgBackRest ? await setUpPgBackRest(work, pg) : null;

    // WAL to replay after the backups, archived (gzip) by each tool.
    const perClient = Math.ceil(WAL_TRANSACTIONS / 2);
    await runAs(
      'postgres',
      join(PG15_BIN, 'pgbench'),
      ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-c', '2', '-j', '2', '-t', String(perClient)],
      { timeoutMs: RUN_TIMEOUT_MS },
    );
    const [counts] = await pg.query<{ accounts: string; history: string }>(
      'SELECT (SELECT count(*) FROM pgbench_accounts) AS accounts, (SELECT count(*) FROM pgbench_history) AS history',
    );
    const expected: Expected = { accounts: Number(counts!.accounts), history: Number(counts!.history) };
    await pg.query('SELECT pg_switch_wal()');
    await waitForArchiver(pg);
    for (const item of setups) await barman(item, barmanTs.bin, ['archive-wal', item.server]);
    const tsBackup = await onlyBackupId(ts);
    const b34Backup = await onlyBackupId(b34);
    const tsBackupData = join(ts.home, ts.server, 'base', tsBackup, 'data');
    const payload = await treeUsage(tsBackupData);
    const walArchive = await treeUsage(join(ts.home, ts.server, 'wals'));
    // Nothing below needs the cluster: stopped, it competes for neither memory nor CPU.
    await pg.stop();
    pg = null;

    const local = await createDir(join(work, 'local'), { owner: BARMAN_USER });
    const pgbackrestOut = await createDir(join(work, 'pgbackrest-out'), { owner: 'postgres' });
    const remote = await createDir(join(work, 'remote'), { owner: REMOTE_USER });
    const remoteSsh = sshd.sshCommand(BARMAN_USER, REMOTE_USER);
    const recover = (
      key: string,
      label: string,
      item: BarmanSetup,
      backupId: string,
      output: string,
      extra: string[],
      options: Partial<Case> = {},
    ): Case => {
      const [command, args] = barmanCommand(item, barmanTs.bin, [
        'recover',
        ...extra,
        item.server,
        backupId,
        output,
      ]);
      return { key, label, tool: item.tool, user: BARMAN_USER, command, args, output, ...options };
    };
    const cases: Case[] = [
      {
        key: 'cp',
        label: 'cp -a of the backup data dir',
        tool: 'baseline',
        user: 'root',
        command: 'cp',
        args: ['-a', tsBackupData, join(local, 'cp')],
        output: join(local, 'cp'),
      },
      ...(pgbackrest
        ? [
            {
              key: 'pgbackrest',
              label: 'pgbackrest restore --process-max=2 (lz4)',
              tool: 'pgBackRest' as const,
              user: 'postgres',
              command: PGBACKREST_BIN,
              args: [
                `--config=${pgbackrest.config}`,
                `--stanza=${pgbackrest.stanza}`,
                `--pg1-path=${join(pgbackrestOut, 'data')}`,
                '--process-max=2',
                'restore',
              ],
              output: join(pgbackrestOut, 'data'),
              // pgBackRest restores into an existing, empty directory.
              prepare: async () => {
                await createDir(join(pgbackrestOut, 'data'), { owner: 'postgres', mode: 0o700 });
              },
            },
          ]
        : []),
      recover('ts-local', 'barman-ts recover, local (2 jobs)', ts, tsBackup, join(local, 'ts'), [], {
        keep: true,
      }),
      recover(
        'ts-delta',
        'barman-ts recover --delta-restore, unchanged',
        ts,
        tsBackup,
        join(local, 'ts'),
        ['--delta-restore'],
        { verifyAs: BARMAN_USER },
      ),
      recover('b34-local', 'Barman 3.4 recover, local', b34, b34Backup, join(local, 'b34'), []),
      recover(
        'ts-remote',
        'barman-ts recover over ssh (2 jobs)',
        ts,
        tsBackup,
        join(remote, 'ts'),
        ['--remote-ssh-command', remoteSsh],
        { verifyAs: REMOTE_USER },
      ),
      recover('b34-remote', 'Barman 3.4 recover over ssh', b34, b34Backup, join(remote, 'b34'), [
        '--remote-ssh-command',
        remoteSsh,
      ]),
    ];

    console.log(
      `\nbackup data dir: ${formatBytes(payload.bytes)} in ${payload.files} files; WAL archive ` +
        `${formatBytes(walArchive.bytes)} (gzip, ${walArchive.files} files); ` +
        `${RUNS === 1 ? 'one cold-cache run' : `${RUNS} cold-cache runs (interleaved rounds)`} per command:`,
    );
    const runs = new Map<string, Measured[]>(cases.map((testCase) => [testCase.key, []]));
    for (let round = 1; round <= RUNS; round += 1) {
      if (RUNS > 1) console.log(`round ${round} of ${RUNS}`);
      for (const testCase of cases) {
        const measured = await runCase(testCase, {
          rssDir,
          payloadBytes: payload.bytes,
          verify: VERIFY && round === RUNS ? expected : null,
        });
        runs.get(testCase.key)!.push(measured);
      }
    }
    report(
      cases.map((testCase) => summarize(runs.get(testCase.key)!)),
      payload,
      started.cluster,
      barmanTs.description,
      withPgBackRest,
    );
  } finally {
    await pg?.stop();
    await sshd.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** The median run (command and sync medians), the largest peak RSS, and every total time. */
function summarize(runs: Measured[]): Measured {
  return {
    ...runs[runs.length - 1]!,
    ms: median(runs.map((run) => run.ms)),
    syncMs: median(runs.map((run) => run.syncMs)),
    rssBytes: Math.max(...runs.map((run) => run.rssBytes)),
    coldCache: runs.every((run) => run.coldCache),
    runsMs: runs.map(totalMs),
  };
}

function report(
  measured: Measured[],
  payload: TreeUsage,
  cluster: PgbenchCluster,
  implementation: string,
  withPgBackRest: boolean,
): void {
  const byKey = new Map(measured.map((item) => [item.key, item]));
  // Without pgBackRest, issue 5's figure stands in for it (a pseudo-measurement, marked so).
  const pgbackrestReference: Measured = {
    key: 'pgbackrest',
    label: 'pgBackRest restore, issue 5 reference',
    tool: 'pgBackRest',
    ms: REFERENCE_MS.pgbackrest!,
    syncMs: 0,
    rssBytes: NaN,
    coldCache: true,
    usage: { bytes: 0, files: 0 },
  };
  if (!byKey.has('pgbackrest')) byKey.set('pgbackrest', pgbackrestReference);
  const targets: Target[] = [
    { what: 'local recover vs pgBackRest restore', subject: 'ts-local', baseline: 'pgbackrest', max: 1.0 },
    { what: 'remote recover vs Barman 3.4 remote', subject: 'ts-remote', baseline: 'b34-remote', max: 0.5 },
  ];
  const comparisons: Array<{ subject: string; baseline: string }> = [
    { subject: 'ts-local', baseline: 'pgbackrest' },
    { subject: 'ts-delta', baseline: 'ts-local' },
    { subject: 'b34-local', baseline: 'pgbackrest' },
    { subject: 'ts-remote', baseline: 'b34-remote' },
  ];
  const comparisonOf = new Map(comparisons.map((item) => [item.subject, item.baseline]));
  const targetOf = new Map(targets.map((target) => [target.subject, target]));
  const coldCache = measured.every((item) => item.coldCache);
  console.log(
    `\nrecovery of pgbench -s ${SCALE} (backup data dir ${formatBytes(payload.bytes)}, ${payload.files} files, ` +
      `+ the WAL of ${WAL_TRANSACTIONS} pgbench transactions), ` +
      `${coldCache ? 'cold cache' : 'WARNING: caches could NOT be dropped'}, ` +
      `${RUNS === 1 ? '1 run' : `median of ${RUNS} runs`} per command (${environmentLine()})`,
  );
  console.log(
    `cluster: PostgreSQL 15, built ${cluster.manifest.created}; backups: postgres method, plain; WAL: gzip; ` +
      `${withPgBackRest ? 'pgBackRest 2.45: lz4, 2 processes' : `pgBackRest NOT installed: issue 5's ${formatMs(REFERENCE_MS.pgbackrest!)} stands in for it`}`,
  );
  console.log(`${implementation}`);
  console.log(
    'total = command + the sync after it; ratios compare totals; timings on a shared 2-vCPU machine are noisy (±20 %)\n',
  );
  if (RUNS > 1) {
    printTable(
      ['<run (total)', ...Array.from({ length: RUNS }, (_, index) => `run ${index + 1}`)],
      measured.map((item) => [item.label, ...(item.runsMs ?? []).map(formatMs)]),
    );
    console.log('');
  }
  printTable(
    [
      '<run',
      'total',
      'command',
      'sync after',
      'MiB/s',
      'restored',
      'peak RSS',
      '<compared with',
      'ratio',
      'target',
      '<verdict',
    ],
    measured.map((item) => {
      const baselineKey = comparisonOf.get(item.key);
      const baseline = baselineKey ? byKey.get(baselineKey) : undefined;
      const target = targetOf.get(item.key);
      const ratio = baseline ? totalMs(item) / totalMs(baseline) : NaN;
      return [
        item.label,
        formatMs(totalMs(item)),
        formatMs(item.ms),
        formatMs(item.syncMs),
        (payload.bytes / MIB / (totalMs(item) / 1000)).toFixed(0),
        formatBytes(item.usage.bytes),
        formatMegabytes(item.rssBytes),
        baseline ? baseline.label : '',
        baseline ? formatRatio(ratio) : '',
        target ? `<= ${target.max.toFixed(2)}x` : '',
        target ? (ratio <= target.max ? 'MET' : 'MISSED') : '',
      ];
    }),
  );

  console.log('\ntargets (issue 5):');
  for (const target of targets) {
    const subject = byKey.get(target.subject)!;
    const baseline = byKey.get(target.baseline)!;
    const ratio = totalMs(subject) / totalMs(baseline);
    console.log(
      `  ${target.what.padEnd(38)} ${formatMs(totalMs(subject)).padStart(8)} / ${formatMs(totalMs(baseline)).padStart(8)} ` +
        `= ${formatRatio(ratio).padStart(6)}  <= ${target.max.toFixed(2)}x  ${ratio <= target.max ? 'MET' : 'MISSED'}`,
    );
  }
  const ratioLine = (what: string, subject: Measured, baselineMs: number, baselineWhat: string): void => {
    console.log(
      `  ${what.padEnd(38)} ${formatMs(totalMs(subject)).padStart(8)} / ${formatMs(baselineMs).padStart(8)} ` +
        `= ${formatRatio(totalMs(subject) / baselineMs).padStart(6)}  (${baselineWhat})`,
    );
  };
  console.log('\nother ratios:');
  const tsLocal = byKey.get('ts-local')!;
  ratioLine('barman-ts local vs cp -a', tsLocal, totalMs(byKey.get('cp')!), 'cp -a + sync, here');
  ratioLine('barman-ts local vs pgBackRest', tsLocal, REFERENCE_MS.pgbackrest!, "issue 5's reference figure");
  ratioLine('barman-ts local vs Barman 3.4 local', tsLocal, totalMs(byKey.get('b34-local')!), 'here');
  ratioLine(
    'barman-ts remote vs Barman 3.4 remote',
    byKey.get('ts-remote')!,
    REFERENCE_MS['b34-remote']!,
    "issue 5's reference figure",
  );
  if (SCALE === 130) {
    console.log(
      "\nbaselines against issue 5's figures (test-rig.md §4: same scale, other runs; there cp -a included sync, the restores did not):",
    );
    for (const [key, reference] of Object.entries(REFERENCE_MS)) {
      const item = measured.find((entry) => entry.key === key);
      if (!item) continue;
      console.log(
        `  ${item.label.padEnd(48)} ${formatMs(totalMs(item)).padStart(8)} here (command ${formatMs(item.ms)}), ${formatMs(reference).padStart(8)} there`,
      );
    }
  }
}

runMain(main);
