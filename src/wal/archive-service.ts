/**
 * Runs archive-wal for one server: locks, identity, the WAL archive (with its xlog.db in a
 * directory; an object archive has none, its listing is the index) and the compression pool
 * wired together.
 */
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { readIdentity, writeIdentity } from '../catalog/identity.js';
import { catalogLayout, serverLayout } from '../catalog/layout.js';
import type { HeldLock } from '../locks/index.js';
import {
  acquireLock,
  ensureLockDirectory,
  serverLockPath,
  tryAcquireLock,
  withLock,
} from '../locks/index.js';
import type { Reporter } from '../output/reporter.js';
import { BarmanError } from '../errors/index.js';
import { isSystemError, systemErrorHint, systemErrorMessage } from '../errors/system.js';
import type { WalArchive } from './archive.js';
import { openWalArchive } from './archive.js';
import type { ArchiveHooks, ArchiveOutcome, ArchiverEnvironment, WalSource } from './archiver.js';
import { archiveWal } from './archiver.js';
import { createSourceDirectories, sourcesWaiting } from './archive-sources.js';
import { CompressionPool } from '../transfer/compression/index.js';
import { CLOUD_UPLOAD_LOCK_TASK } from './cloud-spool.js';
import { XlogDbFile } from './xlogdb-file.js';

/** How long a writer waits for another process holding xlog.db (rebuild, delete). */
export const XLOGDB_LOCK_WAIT_MS = 60_000;

/**
 * `options.hooks`: the server's pre/post_archive scripts (src/hooks archiveHooks), when
 * configured; `options.sources`: only these sources (cron leaves an object archive's incoming/,
 * the spool of cloud-wal-archive --async, to the upload worker it starts).
 */
export async function runArchiveWal(
  config: ServerConfig,
  report: Reporter,
  log: Logger,
  options: { hooks?: ArchiveHooks; sources?: readonly WalSource[] } = {},
): Promise<ArchiveOutcome> {
  const layout = await catalogLayout(config);
  await ensureLockDirectory(layout.lockDirectory);
  const archiveLock = await acquireLock(serverLockPath(layout.lockDirectory, config.name, 'archive-wal'), {
    busyMessage: `Another archive-wal process is already running on server ${config.name}`,
  });
  const pool = new CompressionPool();
  let archive: WalArchive | null = null;
  let uploadLock: HeldLock | null = null;
  try {
    const local = config.wals_directory.kind === 'posix';
    await createSourceDirectories([layout.incomingDirectory, layout.errorsDirectory]);
    archive = await openWalArchive(config);
    // A directory archive's root (object stores have no directories).
    await archive.storage.mkdir('');
    let sources = options.sources;
    if (!local && config.archiver && (sources?.includes('incoming') ?? true)) {
      // incoming/ is also the spool of cloud-wal-archive --async: one process at a time uploads it.
      uploadLock = tryAcquireLock(serverLockPath(layout.lockDirectory, config.name, CLOUD_UPLOAD_LOCK_TASK));
      if (!uploadLock) {
        log.info('the cloud WAL upload worker is uploading incoming/: archiving streaming/ only');
        sources = ['streaming'];
      }
    }
    const identity = await readIdentity(layout.identityFile);
    const common = {
      config,
      archive,
      paths: layout,
      ...(sources ? { sources } : {}),
      report,
      log,
      pool,
      systemIdentifier: identity?.systemid ?? null,
      async onIdentityLearned(systemid: string, majorVersion: string | null) {
        await writeIdentity(layout.identityFile, { systemid, version: majorVersion });
        log.info(`recorded the cluster identity of server ${config.name}: system identifier ${systemid}`);
      },
      hooks: options.hooks,
    };
    return await archiveWal(
      local
        ? { ...common, ...(await xlogDbCatalogue(config)) }
        : { ...common, catalogued: new Set<string>(), commitToCatalogue: (_lines, publish) => publish() },
    );
  } catch (error) {
    throw asStorageError(error, config.name);
  } finally {
    archive?.close();
    uploadLock?.release();
    await pool.close();
    archiveLock.release();
  }
}

/** A directory archive's catalogue: xlog.db, appended under its lock after each publication. */
async function xlogDbCatalogue(
  config: ServerConfig,
): Promise<Pick<ArchiverEnvironment, 'catalogued' | 'commitToCatalogue'>> {
  const layout = await serverLayout(config);
  const xlogDb = XlogDbFile.at(layout.xlogDbFile);
  const xlogLock = serverLockPath(layout.lockDirectory, config.name, 'xlogdb');
  const current = await xlogDb.read();
  const columns = current.columns === 5 ? 5 : 4;
  // Once per run, under the lock: what a rewrite of xlog.db killed halfway left.
  let tempsRemoved = false;
  return {
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
  };
}

/**
 * Whether incoming/ or streaming/ (those enabled) may hold something for archive-wal: false only
 * when each exists and is empty. Commands that archive on the side (recover) skip the run, its
 * lock file and its directories then, so that a refused request leaves barman_home untouched.
 */
export async function walWaiting(config: ServerConfig): Promise<boolean> {
  const layout = await catalogLayout(config);
  const sources = [
    ...(config.archiver ? [layout.incomingDirectory] : []),
    ...(config.streaming_archiver ? [layout.streamingDirectory] : []),
  ];
  return sourcesWaiting(sources);
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
