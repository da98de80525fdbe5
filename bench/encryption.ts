/**
 * `npm run bench:encryption`: what `encryption = gpg` adds to `archive-wal` of 100 real 16 MiB
 * pgbench WAL segments at the same compression (gzip, and none), cold cache as in
 * bench/archive-wal.ts, and to a `postgres`-method backup (tar, gzip) of a pgbench database
 * (`pgbench -i -s ${BENCH_ENCRYPTION_SCALE:-20}`, PostgreSQL 15, kept in
 * /var/tmp/barman-ts-bench-pg-encryption): plain, pg_basebackup writes base.tar.gz; encrypted,
 * barman-ts's BASE_BACKUP client compresses and encrypts each archive as it arrives. The key is
 * generated in a throwaway GNUPGHOME (RSA 2048). Target: the encrypted run takes at most 1.15x
 * the plain one. BENCH_RUNS=n repeats every case (median); BENCH_ENCRYPTION_PARTS=wal or backup
 * runs one side only.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer } from '../test/harness/index.js';
import { makeTempDir } from '../test/harness/index.js';
import { PG15_BIN, startPgbenchCluster } from './pgbench-cluster.js';
import {
  assertSucceeded,
  BenchFailure,
  dropCaches,
  ensureWalCache,
  environmentLine,
  formatMs,
  formatRatio,
  median,
  printTable,
  runMain,
  snapshotBarmanTs,
  timeRun,
} from './common.js';
import type { WalCache } from './common.js';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const SERVER = 'bench';
const TARGET = 1.15;
const BACKUP_SCALE = Number(process.env.BENCH_ENCRYPTION_SCALE ?? 20);
const PARTS = process.env.BENCH_ENCRYPTION_PARTS ?? 'wal,backup';
const BACKUP_CACHE_DIR = '/var/tmp/barman-ts-bench-pg-encryption';

interface Key {
  home: string;
  fingerprint: string;
}

function generateKey(directory: string): Key {
  const home = join(directory, 'gnupg');
  execFileSync('mkdir', ['-m', '0700', home]);
  const env = { ...process.env, GNUPGHOME: home };
  const parameters =
    'Key-Type: RSA\nKey-Length: 2048\nSubkey-Type: RSA\nSubkey-Length: 2048\nName-Real: bench\nName-Email: bench@example.invalid\nExpire-Date: 0\n%no-protection\n%commit\n';
  execFileSync('gpg', ['--batch', '--gen-key'], {
    input: parameters,
    env,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-keys', 'bench@example.invalid'], {
    env,
  }).toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fingerprint) throw new BenchFailure('no key generated');
  return { home, fingerprint };
}

async function runCase(wal: WalCache, compression: string, key: Key | null, bin: string): Promise<number> {
  const dir = await makeTempDir('bench-encryption');
  try {
    const home = join(dir, 'home');
    const incoming = join(home, SERVER, 'incoming');
    await mkdir(incoming, { recursive: true });
    const lines = [
      '[barman]',
      'barman_user = root',
      `barman_home = ${home}`,
      `log_file = ${join(dir, 'barman.log')}`,
      ...(compression === 'none' ? [] : [`compression = ${compression}`]),
      `[${SERVER}]`,
      'conninfo = host=127.0.0.1 port=1 user=postgres dbname=postgres',
      'backup_method = postgres',
      'backup_compression = gzip',
      'backup_compression_format = tar',
      'archiver = on',
      ...(key ? ['encryption = gpg', `encryption_key_id = ${key.fingerprint}`] : []),
    ];
    const config = join(dir, 'barman.conf');
    await writeFile(config, `${lines.join('\n')}\n`);
    for (const name of wal.names) await copyFile(join(wal.directory, name), join(incoming, name));
    dropCaches();
    const previous = process.env.GNUPGHOME;
    if (key) process.env.GNUPGHOME = key.home;
    const run = await timeRun(null, process.execPath, [bin, '-c', config, 'archive-wal', SERVER]);
    if (previous === undefined) delete process.env.GNUPGHOME;
    else process.env.GNUPGHOME = previous;
    assertSucceeded(run, `archive-wal (${compression}${key ? ', gpg' : ''})`);
    const xlogDb = (await readFile(join(home, SERVER, 'wals', 'xlog.db'), 'utf8')).trim().split('\n');
    if (xlogDb.length !== wal.names.length) throw new BenchFailure(`xlog.db has ${xlogDb.length} lines`);
    if (key && !xlogDb.every((line) => line.endsWith('\tgpg')))
      throw new BenchFailure('not every archived segment is catalogued as encrypted');
    if ((await readdir(incoming)).length > 0) throw new BenchFailure('files left in incoming/');
    return run.ms;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One `barman backup` (postgres method, gzip tar) of `pg`, encrypted to `key` or not; its time. */
async function runBackupCase(pg: PostgresServer, key: Key | null, bin: string): Promise<number> {
  const dir = await makeTempDir('bench-encryption-backup');
  try {
    const home = join(dir, 'home');
    const lines = [
      '[barman]',
      'barman_user = root',
      `barman_home = ${home}`,
      `log_file = ${join(dir, 'barman.log')}`,
      `[${SERVER}]`,
      `conninfo = ${pg.conninfo}`,
      `streaming_conninfo = ${pg.conninfo}`,
      'backup_method = postgres',
      'backup_compression = gzip',
      'backup_compression_format = tar',
      'immediate_checkpoint = on',
      'archiver = on',
      `path_prefix = ${PG15_BIN}`,
      ...(key ? ['encryption = gpg', `encryption_key_id = ${key.fingerprint}`] : []),
    ];
    const config = join(dir, 'barman.conf');
    await writeFile(config, `${lines.join('\n')}\n`);
    dropCaches();
    const previous = process.env.GNUPGHOME;
    if (key) process.env.GNUPGHOME = key.home;
    // Without --wait: the copy is what is compared (the WAL it needs is not archived here).
    const run = await timeRun(null, process.execPath, [bin, '-c', config, 'backup', SERVER]);
    if (previous === undefined) delete process.env.GNUPGHOME;
    else process.env.GNUPGHOME = previous;
    assertSucceeded(run, `backup (gzip${key ? ', gpg' : ''})`);
    const base = join(home, SERVER, 'base');
    const [id] = await readdir(base);
    const stored = await readdir(join(base, id!, 'data'));
    const wanted = key ? 'base.tar.gz.gpg' : 'base.tar.gz';
    if (!stored.includes(wanted)) throw new BenchFailure(`no ${wanted} in the backup: ${stored.join(' ')}`);
    return run.ms;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchBackups(key: Key, bin: string): Promise<string[]> {
  const { pg } = await startPgbenchCluster({
    cacheDir: BACKUP_CACHE_DIR,
    scale: BACKUP_SCALE,
    archiveCommand: '/bin/true',
    log: (line) => console.log(line),
  });
  try {
    const plain: number[] = [];
    const encrypted: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      plain.push(await runBackupCase(pg, null, bin));
      encrypted.push(await runBackupCase(pg, key, bin));
    }
    const ratio = median(encrypted) / median(plain);
    return [
      `backup, pgbench -s ${BACKUP_SCALE} (gzip tar)`,
      formatMs(median(plain)),
      formatMs(median(encrypted)),
      formatRatio(ratio),
    ];
  } finally {
    await pg.stop();
  }
}

async function main(): Promise<void> {
  const wal = PARTS.includes('wal') ? await ensureWalCache() : null;
  const barmanTs = await snapshotBarmanTs();
  const keyDir = await makeTempDir('bench-gpg');
  const key = generateKey(keyDir);
  const rows: string[][] = [];
  let missed = false;
  try {
    for (const compression of wal ? ['gzip', 'none'] : []) {
      const plain: number[] = [];
      const encrypted: number[] = [];
      for (let run = 0; run < RUNS; run += 1) {
        plain.push(await runCase(wal!, compression, null, barmanTs.bin));
        encrypted.push(await runCase(wal!, compression, key, barmanTs.bin));
      }
      const ratio = median(encrypted) / median(plain);
      if (ratio > TARGET) missed = true;
      rows.push([
        `archive-wal of ${wal!.names.length} segments, ${compression}`,
        formatMs(median(plain)),
        formatMs(median(encrypted)),
        formatRatio(ratio),
      ]);
    }
    if (PARTS.includes('backup')) {
      const row = await benchBackups(key, barmanTs.bin);
      if (Number.parseFloat(row[3]!) > TARGET) missed = true;
      rows.push(row);
    }
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
  console.log(
    `\nencryption = gpg against plaintext, cold cache, ${RUNS === 1 ? '1 run' : `median of ${RUNS} runs`} (${environmentLine()})`,
  );
  console.log(`${barmanTs.description}\n`);
  printTable(['<case', 'plain', 'encrypted (gpg)', 'encrypted / plain'], rows);
  console.log(
    `\ntarget: encrypted <= ${TARGET.toFixed(2)}x plain at the same compression -> ${missed ? 'MISSED' : 'MET'}`,
  );
}

runMain(main);
