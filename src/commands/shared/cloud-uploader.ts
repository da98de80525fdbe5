/**
 * Starting the background upload worker of a server's cloud WAL spool (cloud-wal-archive
 * --async, cron). Cheap on purpose: no AWS SDK, one flock probe and, when no worker runs, one
 * detached `barman cloud-wal-upload` process.
 */
import { setPriority } from 'node:os';
import type { ServerConfig } from '../../config/index.js';
import { ensureLockDirectory, serverLockPath, tryAcquireLock } from '../../locks/index.js';
import { spawnDetached } from '../../process/supervise.js';
import { CLOUD_UPLOAD_LOCK_TASK } from '../../wal/cloud-spool.js';

export { CLOUD_UPLOAD_LOCK_TASK };

/** Niceness of the background worker. */
const WORKER_NICENESS = 10;

/** Seconds a background worker waits for more files before it exits. */
const WORKER_IDLE_SECONDS = 5;

export function cloudUploadLockPath(config: ServerConfig): string {
  return serverLockPath(config.barman_lock_directory, config.name, CLOUD_UPLOAD_LOCK_TASK);
}

/** Starts a worker unless one holds the lock; returns its pid, or null when one is running. */
export async function startCloudUploader(config: ServerConfig, configFile: string): Promise<number | null> {
  await ensureLockDirectory(config.barman_lock_directory);
  const probe = tryAcquireLock(cloudUploadLockPath(config));
  if (!probe) return null;
  probe.release();
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which barman script is running');
  const pid = spawnDetached(process.execPath, [
    script,
    '-c',
    configFile,
    '-q',
    'cloud-wal-upload',
    '--wait-idle',
    String(WORKER_IDLE_SECONDS),
    config.name,
  ]);
  try {
    // The next archive_command (PostgreSQL waits for it) goes before background compression.
    setPriority(pid, WORKER_NICENESS);
  } catch {
    // Not allowed or already gone: the worker just runs at normal priority.
  }
  return pid;
}
