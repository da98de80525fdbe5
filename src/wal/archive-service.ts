/** Runs archive-wal for one server: locks, identity, xlog.db and the compression pool wired together. */
import { mkdir, readdir } from 'node:fs/promises';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { readIdentity, writeIdentity } from '../catalog/identity.js';
import { serverLayout } from '../catalog/layout.js';
import { acquireLock, serverLockPath, withLock } from '../locks/index.js';
import type { Reporter } from '../output/reporter.js';
import { BarmanError } from '../errors/index.js';
import { isSystemError, systemErrorHint, systemErrorMessage } from '../errors/system.js';
import type { ArchiveHooks, ArchiveOutcome } from './archiver.js';
import { archiveWal } from './archiver.js';
import { CompressionPool } from '../transfer/compression/index.js';
import { XlogDbFile } from './xlogdb-file.js';

/** How long a writer waits for another process holding xlog.db (rebuild, delete). */
export const XLOGDB_LOCK_WAIT_MS = 60_000;

/** `options.hooks`: the server's pre/post_archive scripts (src/hooks archiveHooks), when configured. */
export async function runArchiveWal(
  config: ServerConfig,
  report: Reporter,
  log: Logger,
  options: { hooks?: ArchiveHooks } = {},
): Promise<ArchiveOutcome> {
  const layout = serverLayout(config);
  await mkdir(layout.lockDirectory, { recursive: true });
  const archiveLock = await acquireLock(serverLockPath(layout.lockDirectory, config.name, 'archive-wal'), {
    busyMessage: `Another archive-wal process is already running on server ${config.name}`,
  });
  const pool = new CompressionPool();
  try {
    for (const directory of [layout.walsDirectory, layout.incomingDirectory, layout.errorsDirectory]) {
      await mkdir(directory, { recursive: true });
    }
    const xlogDb = new XlogDbFile(layout.xlogDbFile);
    const xlogLock = serverLockPath(layout.lockDirectory, config.name, 'xlogdb');
    const current = await xlogDb.read();
    const columns = current.columns === 5 ? 5 : 4;
    const identity = await readIdentity(layout.identityFile);
    // Once per run, under the lock: what a rewrite of xlog.db killed halfway left.
    let tempsRemoved = false;
    return await archiveWal({
      config,
      paths: layout,
      report,
      log,
      pool,
      systemIdentifier: identity?.systemid ?? null,
      async onIdentityLearned(systemid, majorVersion) {
        await writeIdentity(layout.identityFile, { systemid, version: majorVersion });
        log.info(`recorded the cluster identity of server ${config.name}: system identifier ${systemid}`);
      },
      catalogued: new Set(current.entries.map((entry) => entry.name)),
      commitToCatalogue: ({ published, ifMissing }, publish) =>
        withLock(xlogLock, { waitMs: XLOGDB_LOCK_WAIT_MS }, async () => {
          if (!tempsRemoved) await xlogDb.removeAbandonedTemps();
          tempsRemoved = true;
          await publish();
          let missing = ifMissing;
          if (missing.length > 0) {
            const present = new Set((await xlogDb.read()).entries.map((entry) => entry.name));
            missing = missing.filter((entry) => !present.has(entry.name));
          }
          await xlogDb.append([...published, ...missing], columns);
        }),
      hooks: options.hooks,
    });
  } catch (error) {
    throw asStorageError(error, config.name);
  } finally {
    await pool.close();
    archiveLock.release();
  }
}

/**
 * Whether incoming/ or streaming/ (those enabled) may hold something for archive-wal: false only
 * when each exists and is empty. Commands that archive on the side (recover) skip the run, its
 * lock file and its directories then, so that a refused request leaves barman_home untouched.
 */
export async function walWaiting(config: ServerConfig): Promise<boolean> {
  const layout = serverLayout(config);
  const sources = [
    ...(config.archiver ? [layout.incomingDirectory] : []),
    ...(config.streaming_archiver ? [layout.streamingDirectory] : []),
  ];
  for (const directory of sources) {
    const names = await readdir(directory).catch(() => null);
    if (names === null || names.length > 0) return true;
  }
  return false;
}

/** File-system failures are operator problems, not internal errors: say which and where. */
function asStorageError(error: unknown, server: string): unknown {
  if (error instanceof BarmanError || !isSystemError(error)) return error;
  const hint = systemErrorHint(error);
  return new BarmanError(
    'archive-storage',
    `WAL archiving of server ${server} stopped: ${systemErrorMessage(error)}; files not yet archived stay where they are`,
    { ...(hint ? { hint } : {}), cause: error },
  );
}
