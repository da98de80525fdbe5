/**
 * `npm run bench:verify`: verify-backup's native verifier (catalog/verify-backup.ts) against
 * PostgreSQL 17's pg_verifybackup (Debian 13 root) on the same backup: a pgbench database
 * (`pgbench -i -s ${BENCH_SCALE:-130}`, about 2 GB) on PostgreSQL 17, backed up with
 * pg_basebackup 17 (plain, WAL streamed) into Barman's layout (`<id>/data`). Two manifests of
 * that one copy are verified in turn: pg_basebackup's own (CRC32C checksums) and a SHA-256 one
 * written by generate-manifest (what rsync backups get). Each tool is timed with a cold cache
 * (`drop_caches`) and a warm one, under `/usr/bin/time -f %M` (peak RSS); pg_verifybackup runs
 * with `-n` (no WAL parsing), as Barman runs it and as the native verifier works. The native
 * verifier runs in a child process of its own (verify-backup-child.ts, so its RSS is measured
 * alone and the harness's load time is not counted) twice: as verify-backup runs it (CRC32C by
 * PosixStorage.checksumFile, the crc32c addon on libuv's thread pool; SHA on a worker thread per
 * core) and with the other choice (CRC32C on a worker thread per core; SHA on the main thread
 * only, what a single core gets). The real command runs too: `barman verify-backup` (bin/barman.js,
 * its bundle, a barman.conf whose server's basebackups_directory is the backup's parent), Node's
 * start and the CLI's loading included.
 *
 * Issue 14's target: native verify-backup of a 2 GB backup ≤ 1.2× pg_verifybackup's time.
 * BENCH_RUNS=n repeats each in n interleaved rounds and reports medians. BENCH_BACKUP_DIR keeps
 * the backup and its two manifests between runs (made there when missing). BENCH_BASELINE_CHILD,
 * the verify-backup-child.js of another build (a copy of dist/ made before a change), adds its
 * rows to the same rounds: before and after compared under the same load.
 *
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backupContent } from '../src/catalog/backup-content.js';
import { emptyBackupInfo, formatBackupInfo } from '../src/catalog/backup-info.js';
import { generateBackupManifest } from '../src/catalog/generate-manifest.js';
import { VERIFY_CONCURRENCY } from '../src/commands/shared/stored-backup.js';
import { backupLayoutFor } from '../src/recovery/layout.js';
import { PosixStorage } from '../src/storage/index.js';
import {
  DEBIAN13_ROOT,
  DEBIAN13_SCRIPT,
  PG17_TOOLS,
  ensureDebian13Root,
  makeTempDir,
  runInDebian13,
  startPostgres,
  writeBarmanConfig,
} from '../test/harness/index.js';
import {
  assertSucceeded,
  directoryUsage,
  dropCaches,
  environmentLine,
  formatBytes,
  formatMs,
  formatRatio,
  median,
  printTable,
  runMain,
  timeRun,
} from './common.js';

const CHILD = fileURLToPath(new URL('./verify-backup-child.js', import.meta.url));
const BARMAN = fileURLToPath(new URL('../../bin/barman.js', import.meta.url));
const BASELINE_CHILD = process.env.BENCH_BASELINE_CHILD ?? null;
const SCALE = Number(process.env.BENCH_SCALE ?? 130);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const BACKUP_ID = '20260101T000000';

async function contentOf(root: string) {
  const storage = new PosixStorage(root);
  return {
    storage,
    content: await backupContent(storage, backupLayoutFor({ kind: 'posix', path: root }), BACKUP_ID, []),
  };
}

/**
 * A barman.conf whose server `bench` keeps its backups in `root` (the backup's parent), and the
 * backup's backup.info (DONE), so that `barman verify-backup bench BACKUP_ID` finds it.
 */
function cliConfig(root: string): string {
  const dir = join(dirname(root), 'verify-cli');
  mkdirSync(dir, { recursive: true });
  const info = emptyBackupInfo('bench', {
    status: 'DONE',
    timeline: 1,
    begin_xlog: '0/2000028',
    end_xlog: '0/2000138',
    begin_wal: '000000010000000000000002',
    end_wal: '000000010000000000000002',
    version: 170000,
  });
  writeFileSync(join(root, BACKUP_ID, 'backup.info'), formatBackupInfo(info));
  return writeBarmanConfig({
    dir,
    servers: {
      bench: {
        conninfo: 'host=/nonexistent dbname=postgres',
        backup_method: 'local-rsync',
        basebackups_directory: root,
      },
    },
  });
}

async function takeBackup(root: string): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, BACKUP_ID), { recursive: true });
  const pg = await startPostgres({ version: 17, settings: { max_wal_size: '4GB' } });
  try {
    const tool = (name: string, args: string[]) =>
      runInDebian13(join(PG17_TOOLS, name), args, { timeoutMs: 3_600_000 });
    console.log(`pgbench -i -s ${SCALE} on PostgreSQL 17, then pg_basebackup 17 -Fp -X stream`);
    await tool('pgbench', [
      '-h',
      pg.host,
      '-p',
      String(pg.port),
      '-U',
      'postgres',
      '-i',
      '-q',
      '-s',
      String(SCALE),
      'postgres',
    ]);
    await tool('pg_basebackup', [
      '-d',
      pg.connectionString,
      '-D',
      join(root, BACKUP_ID, 'data'),
      '-Fp',
      '-X',
      'stream',
      '-c',
      'fast',
    ]);
  } finally {
    await pg.stop();
  }
}

interface Measure {
  cold: number[];
  warm: number[];
  rssKb: number[];
}

async function measure(label: string, command: string, args: string[], results: Map<string, Measure>) {
  const entry = results.get(label) ?? { cold: [], warm: [], rssKb: [] };
  for (const temperature of ['cold', 'warm'] as const) {
    if (temperature === 'cold') dropCaches();
    const run = await timeRun(null, '/usr/bin/time', ['-f', 'RSS %M', command, ...args], {
      timeoutMs: 3_600_000,
    });
    assertSucceeded(run, label);
    entry[temperature].push(run.ms);
    entry.rssKb.push(Number(/RSS (\d+)/.exec(run.stderr)?.[1] ?? NaN));
  }
  results.set(label, entry);
}

async function main(): Promise<void> {
  await ensureDebian13Root();
  const root = process.env.BENCH_BACKUP_DIR ?? join(await makeTempDir('bench-verify'), 'base');
  const data = join(root, BACKUP_ID, 'data');
  const manifest = join(data, 'backup_manifest');
  // The two manifests are kept beside the backup; each is copied in place for its turn.
  const kept = (checksum: string) => join(root, `manifest.${checksum}`);
  if (!existsSync(kept('crc32c'))) {
    if (!existsSync(manifest)) await takeBackup(root);
    renameSync(manifest, kept('crc32c'));
  }
  if (!existsSync(kept('sha256'))) {
    rmSync(manifest, { force: true });
    const { storage, content } = await contentOf(root);
    const info = emptyBackupInfo('bench', { timeline: 1, begin_xlog: '0/0', end_xlog: '0/0' });
    await generateBackupManifest(storage, content, info, { concurrency: VERIFY_CONCURRENCY });
    renameSync(manifest, kept('sha256'));
  }
  const usage = await directoryUsage(data);
  console.log(`backup: ${formatBytes(usage.bytes)} in ${usage.files} files`);

  const config = cliConfig(root);
  const results = new Map<string, Measure>();
  const pgVerify = ['bash', DEBIAN13_SCRIPT, 'run', DEBIAN13_ROOT, '--', join(PG17_TOOLS, 'pg_verifybackup')];
  for (let round = 0; round < RUNS; round++) {
    for (const checksum of ['crc32c', 'sha256']) {
      copyFileSync(kept(checksum), manifest);
      try {
        await measure(`native, ${checksum}`, process.execPath, [CHILD, root, BACKUP_ID], results);
        // The thread count verify-backup does not choose for this checksum (CRC32C: one; SHA: every core).
        await measure(
          `native ${checksum === 'crc32c' ? 'every core' : '1 thread'}, ${checksum}`,
          process.execPath,
          [CHILD, root, BACKUP_ID, checksum === 'crc32c' ? String(availableParallelism()) : '1'],
          results,
        );
        await measure(
          `barman verify-backup, ${checksum}`,
          process.execPath,
          [BARMAN, '-q', '-c', config, 'verify-backup', 'bench', BACKUP_ID],
          results,
        );
        if (BASELINE_CHILD)
          await measure(
            `baseline build, ${checksum}`,
            process.execPath,
            [BASELINE_CHILD, root, BACKUP_ID],
            results,
          );
        await measure(
          `pg_verifybackup -n, ${checksum}`,
          pgVerify[0]!,
          [...pgVerify.slice(1), '-n', data],
          results,
        );
      } finally {
        rmSync(manifest);
      }
    }
  }

  const rows = [...results].map(([label, entry]) => [
    label,
    formatMs(median(entry.cold)),
    formatMs(median(entry.warm)),
    `${(Math.max(...entry.rssKb) / 1024).toFixed(0)} MB`,
  ]);
  console.log(`\n${environmentLine()}; scale ${SCALE}, ${RUNS} run(s)`);
  printTable(['<verifier', 'cold cache', 'warm cache', 'peak RSS'], rows);
  for (const checksum of ['crc32c', 'sha256']) {
    const theirs = results.get(`pg_verifybackup -n, ${checksum}`)!;
    const others = [checksum === 'crc32c' ? 'native every core' : 'native 1 thread', 'barman verify-backup'];
    if (BASELINE_CHILD) others.push('baseline build');
    for (const native of ['native', ...others]) {
      const ours = results.get(`${native}, ${checksum}`)!;
      console.log(
        `${native} / pg_verifybackup (${checksum}): cold ${formatRatio(median(ours.cold) / median(theirs.cold))}` +
          `${native === 'native' ? ' (target <= 1.2)' : ''}, warm ${formatRatio(median(ours.warm) / median(theirs.warm))}`,
      );
    }
  }
}

runMain(main);
