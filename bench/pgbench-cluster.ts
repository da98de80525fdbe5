/**
 * A PostgreSQL 15 cluster holding a pgbench database (`pgbench -i -s <scale>`), built once and
 * kept in a cache directory of its own (rebuilt when its scale or identity does not match), for
 * the benchmarks that need a real ~2 GB PGDATA (bench:backup, bench:recover),
 * parameterised by the cache directory so that concurrent benchmarks never share one cluster.
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { PostgresServer } from '../test/harness/index.js';
import { createDir, registerExitCleanup, runAs, startPostgres } from '../test/harness/index.js';
import { formatMs, syncAll } from './common.js';

export const PG15_BIN = '/usr/lib/postgresql/15/bin';
const PG_SETTINGS = { shared_buffers: '256MB', max_wal_size: '1GB' };
const RIG_MARKER = '\n# --- barman-ts test rig ---\n';

export interface ClusterManifest {
  scale: number;
  systemIdentifier: string;
  created: string;
  pgbenchInitMs: number;
}

export interface PgbenchCluster {
  dataDir: string;
  manifest: ClusterManifest;
}

export async function controlData(dataDir: string): Promise<Record<string, string>> {
  const { stdout } = await runAs('postgres', join(PG15_BIN, 'pg_controldata'), [dataDir]);
  const fields: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const match = /^([^:]+):\s*(.*)$/.exec(line);
    if (match) fields[match[1]!.trim()] = match[2]!.trim();
  }
  return fields;
}

/** The cached cluster when it was built for `scale` and its identity checks out, else why not. */
async function loadCluster(
  cacheDir: string,
  scale: number,
): Promise<{ cluster: PgbenchCluster | null; why: string }> {
  const dataDir = join(cacheDir, 'data');
  let manifest: ClusterManifest;
  try {
    manifest = JSON.parse(await readFile(join(cacheDir, 'manifest.json'), 'utf8')) as ClusterManifest;
  } catch {
    return { cluster: null, why: 'none cached' };
  }
  if (manifest.scale !== scale) return { cluster: null, why: `the cached one has scale ${manifest.scale}` };
  const version = await readFile(join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '');
  if (version.trim() !== '15')
    return { cluster: null, why: 'the cached data directory is not PostgreSQL 15' };
  const control: Record<string, string> = await controlData(dataDir).catch(() => ({}));
  if (control['Database system identifier'] !== manifest.systemIdentifier)
    return { cluster: null, why: 'the cached data directory does not match its manifest' };
  return { cluster: { dataDir, manifest }, why: '' };
}

/**
 * Removes the settings block the harness appended at the previous start (it appends one at every
 * start of an existing data directory), so that postgresql.conf does not grow run after run.
 */
async function stripRigSettings(dataDir: string): Promise<void> {
  const file = join(dataDir, 'postgresql.conf');
  const text = await readFile(file, 'utf8');
  const at = text.indexOf(RIG_MARKER);
  if (at >= 0) await writeFile(file, text.slice(0, at));
}

async function startCluster(dataDir: string, archiveCommand: string): Promise<PostgresServer> {
  await stripRigSettings(dataDir);
  return startPostgres({ version: 15, existingDataDir: dataDir, archiveCommand, settings: PG_SETTINGS });
}

/** initdb + `pgbench -i -s scale` in a staging dir, stopped cleanly, then renamed to cacheDir. */
async function buildCluster(cacheDir: string, scale: number): Promise<PgbenchCluster> {
  const parent = dirname(cacheDir);
  for (const name of await readdir(parent)) {
    if (name.startsWith(`${basename(cacheDir)}.tmp-`))
      await rm(join(parent, name), { recursive: true, force: true });
  }
  const staging = `${cacheDir}.tmp-${process.pid}`;
  const unregister = registerExitCleanup(() => {
    spawnSync('rm', ['-rf', staging]);
  });
  try {
    await createDir(staging);
    const dataDir = await createDir(join(staging, 'data'), { owner: 'postgres', mode: 0o700 });
    await runAs('postgres', join(PG15_BIN, 'initdb'), [
      ...['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '-k'],
    ]);
    // Nothing to archive while loading: WAL of the load is not part of any benchmark.
    const pg = await startCluster(dataDir, '/bin/true');
    let pgbenchInitMs: number;
    try {
      const started = Date.now();
      await runAs(
        'postgres',
        join(PG15_BIN, 'pgbench'),
        ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-i', '-s', String(scale), '-q', 'postgres'],
        { timeoutMs: 3_600_000 },
      );
      pgbenchInitMs = Date.now() - started;
      await pg.query('CHECKPOINT');
    } finally {
      await pg.stop();
    }
    const control = await controlData(dataDir);
    const manifest: ClusterManifest = {
      scale,
      systemIdentifier: control['Database system identifier']!,
      created: new Date().toISOString(),
      pgbenchInitMs,
    };
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    syncAll();
    await rm(cacheDir, { recursive: true, force: true });
    await rename(staging, cacheDir);
    return { dataDir: join(cacheDir, 'data'), manifest };
  } finally {
    unregister();
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Starts the cluster cached in `cacheDir` (building it first when needed, ~1–3 min at scale 130)
 * with `archiveCommand`, and checks that it holds the pgbench data of `scale`.
 */
export async function startPgbenchCluster(options: {
  cacheDir: string;
  scale: number;
  archiveCommand: string;
  log: (line: string) => void;
}): Promise<{ pg: PostgresServer; cluster: PgbenchCluster }> {
  const { cacheDir, scale, log } = options;
  for (let attempt = 1; ; attempt += 1) {
    const { cluster: cached, why } = await loadCluster(cacheDir, scale);
    let cluster = cached;
    if (cluster) {
      log(`cluster: cached in ${cacheDir} (pgbench -s ${scale}, built ${cluster.manifest.created})`);
    } else {
      log(`cluster: building pgbench -s ${scale} in ${cacheDir} (${why})`);
      cluster = await buildCluster(cacheDir, scale);
      log(`  pgbench -i -s ${scale}: ${formatMs(cluster.manifest.pgbenchInitMs)}`);
    }
    let pg: PostgresServer | null = null;
    try {
      pg = await startCluster(cluster.dataDir, options.archiveCommand);
      const [row] = await pg.query<{ n: string }>('SELECT count(*) AS n FROM pgbench_branches');
      if (Number(row!.n) !== scale) throw new Error(`pgbench_branches has ${row!.n} rows, not ${scale}`);
      return { pg, cluster };
    } catch (error) {
      await pg?.stop();
      if (attempt >= 2) throw error;
      log(`cluster: the cached one is not usable (${(error as Error).message.split('\n')[0]}); rebuilding`);
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
}
