/**
 * A plain restore of a barman-ts backup for tests (not `barman recover`): copy the backup's
 * data and tablespaces to a new place as the cluster's OS user, point the tablespaces there,
 * and start PostgreSQL in archive recovery with `barman get-wal` as restore_command. The server
 * accepts read-only queries before recovery ends: use waitForEndOfRecovery to see all the WAL.
 */
import { cp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BARMAN_BIN } from './barman.js';
import type { PostgresServer, PostgresVersion } from './postgres.js';
import { startPostgres } from './postgres.js';
import { chownTo, makeTempDir, waitFor } from './tmp.js';

export async function restoreAndStart(options: {
  backupDirectory: string;
  config: string;
  server: string;
  osUser?: string;
  version?: PostgresVersion;
  /** More settings, e.g. a recovery target. */
  settings?: Record<string, string>;
  /**
   * restore_command; default: `barman get-wal` run by the cluster's OS user, which must then be
   * barman_user (the catalogue is private to it), e.g. over ssh as the barman user.
   */
  restoreCommand?: string;
}): Promise<PostgresServer> {
  const osUser = options.osUser ?? 'postgres';
  const target = await makeTempDir('restore', { owner: osUser });
  const data = join(target, 'data');
  await cp(join(options.backupDirectory, 'data'), data, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
  });
  const entries = await readdir(options.backupDirectory);
  const map: string[] = [];
  for (const oid of entries.filter((name) => /^\d+$/.test(name))) {
    const location = join(target, `tbs_${oid}`);
    await cp(join(options.backupDirectory, oid), location, { recursive: true, preserveTimestamps: true });
    const link = join(data, 'pg_tblspc', oid);
    // pg_basebackup leaves a symlink into the backup; file-level backups leave a tablespace_map.
    const existing = await readlink(link).catch(() => null);
    if (existing !== null) await rm(link);
    await symlink(location, link).catch(() => undefined);
    map.push(`${oid} ${location}`);
  }
  const mapFile = join(data, 'tablespace_map');
  const hasMap = await readFile(mapFile, 'utf8').then(
    () => true,
    () => false,
  );
  if (hasMap) {
    await writeFile(mapFile, `${map.join('\n')}\n`);
    for (const oid of entries.filter((name) => /^\d+$/.test(name)))
      await rm(join(data, 'pg_tblspc', oid), { force: true });
  }
  // A backup of a standby may carry its standby.signal (pg_basebackup keeps it): this restore is
  // an archive recovery that ends with the archive.
  await rm(join(data, 'standby.signal'), { force: true });
  await chownTo(target, osUser);
  const { execFileSync } = await import('node:child_process');
  execFileSync('chown', ['-R', `${osUser}:`, target]);
  return startPostgres({
    version: options.version ?? 15,
    existingDataDir: data,
    restoreCommand:
      options.restoreCommand ??
      `${process.execPath} ${BARMAN_BIN} -c ${options.config} -q get-wal ${options.server} %f > %p`,
    settings: { recovery_target_timeline: 'latest', ...options.settings },
  });
}

/** Waits until a restored server has replayed the whole archive and left recovery. */
export async function waitForEndOfRecovery(server: PostgresServer, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `the restored server on port ${server.port} to finish recovery`,
    async () => !(await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r,
    { timeoutMs, intervalMs: 200 },
  );
}

/**
 * Starts PostgreSQL on a directory `barman recover` prepared (another port) and waits until it
 * has left recovery, so that queries see the recovered data.
 */
export async function startRecoveredCopy(
  dataDir: string,
  options: {
    version?: PostgresVersion;
    user?: string;
    settings?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<PostgresServer> {
  const server = await startPostgres({
    version: options.version ?? 15,
    existingDataDir: dataDir,
    ...(options.user ? { user: options.user } : {}),
    ...(options.settings ? { settings: options.settings } : {}),
  });
  try {
    await waitForEndOfRecovery(server, options.timeoutMs ?? 90_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
