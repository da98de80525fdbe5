/**
 * The upload worker of `cloud-wal-archive --async`: one process per server (it holds the
 * server's `cloud-wal-upload` lock) uploads the spooled WAL files `jobs` at a time and removes
 * each from the spool only after S3 has stored a verified copy. It exits after `idleMs` with an
 * empty spool; the next enqueue (or cron) starts a new one.
 *
 * No lost wake-up: an enqueuer writes its file durably *before* it looks at the lock, and the
 * worker, after releasing the lock, lists the spool once more and takes over again when a file
 * arrived. So either the enqueuer sees the lock free and starts a worker, or the worker that held
 * it sees the file.
 */
import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, isBarmanError } from '../errors/index.js';
import { tryAcquireLock } from '../locks/index.js';
import type { HeldLock } from '../locks/index.js';
import type { Logger } from '../log/index.js';
import { fsyncDirectory } from '../storage/durable-files.js';
import type { CloudWalTarget } from './cloud-archive.js';
import { archiveWalToCloud } from './cloud-archive.js';
import { CompressionPool } from '../transfer/compression/index.js';
import { spooledWals } from './cloud-spool.js';
import { isProcessAlive } from '../util/process-alive.js';

export interface SpoolUploaderOptions {
  spoolDirectory: string;
  errorsDirectory: string;
  lockPath: string;
  /** Uploads at the same time. */
  jobs: number;
  /** Exit after the spool stayed empty this long (0: as soon as it is empty). */
  idleMs: number;
  log: Logger;
  /**
   * Where failed attempts are reported (default: the log). A worker run by hand passes its
   * console reporter, so an operator sees why nothing is uploaded instead of a silent retry loop.
   */
  onProblem?: (message: string) => void;
  /** Stop as soon as the current uploads end (SIGTERM). */
  signal?: AbortSignal;
}

export interface SpoolUploaderResult {
  /** False when another worker holds the lock. */
  ran: boolean;
  uploaded: string[];
  rejected: string[];
  failures: number;
}

const POLL_MS = 20;
const MAX_RETRY_DELAY_MS = 30_000;

export async function runSpoolUploader(
  target: CloudWalTarget,
  options: SpoolUploaderOptions,
): Promise<SpoolUploaderResult> {
  const result: SpoolUploaderResult = { ran: false, uploaded: [], rejected: [], failures: 0 };
  await mkdir(options.spoolDirectory, { recursive: true });
  let lock: HeldLock | null = tryAcquireLock(options.lockPath);
  if (!lock) return result;
  result.ran = true;
  await removeAbandonedTemps(options.spoolDirectory, options.log);
  // gzip on every core while the main thread uploads (`jobs` files in flight). Only gzip: it is
  // one native zlib call per segment there, while the JavaScript and WebAssembly codecs left so
  // much garbage in each thread that the worker passed 230-330 MB; they stream on the main thread.
  const pool = target.compression === 'gzip' ? new CompressionPool() : undefined;
  const inProgress = new Set<string>();
  const running = new Set<Promise<void>>();
  let idleSince = Date.now();
  let retryDelay = 0;
  let lastFailureAt = 0;
  const problem = options.onProblem ?? ((message: string) => options.log.error(message));

  const uploadOne = async (name: string): Promise<void> => {
    const path = join(options.spoolDirectory, name);
    try {
      const outcome = await archiveWalToCloud(target, path, pool ? { pool } : {});
      await unlink(path);
      result.uploaded.push(name);
      retryDelay = 0;
      if (outcome.replaced.length > 0)
        options.log.warning(
          `replaced damaged leftovers of an interrupted upload: ${outcome.replaced.join(', ')}`,
        );
      options.log.info(
        outcome.status === 'uploaded'
          ? `uploaded ${name} to ${target.archive.location}/${outcome.path}`
          : `${name} was already archived with the same content`,
      );
    } catch (error) {
      if (isBarmanError(error) && (error.code === 'wal-duplicate-differs' || error.code === 'bad-wal-name')) {
        const moved = await moveToErrors(options, path, name);
        result.rejected.push(name);
        problem(`${describeError(error)}; the spooled copy is kept as ${moved}`);
        return;
      }
      result.failures += 1;
      const now = Date.now();
      // Uploads that fail together (one outage) double the delay once, not once each: with
      // four jobs the delay reached 16 s after a single round, and a worker slept through the
      // end of a short outage for up to 30 s.
      if (now - lastFailureAt >= retryDelay)
        retryDelay = Math.min(MAX_RETRY_DELAY_MS, Math.max(1000, retryDelay * 2));
      lastFailureAt = now;
      problem(`cannot upload ${name} (will retry in ${retryDelay} ms): ${describeError(error)}`);
    } finally {
      inProgress.delete(name);
    }
  };

  try {
    for (;;) {
      if (options.signal?.aborted) break;
      // Every job busy, or backing off after a failure: wait, without listing the spool again.
      if (running.size >= options.jobs) {
        await Promise.race(running);
        continue;
      }
      const backoffLeft = retryDelay > 0 ? lastFailureAt + retryDelay - Date.now() : 0;
      if (backoffLeft > 0) {
        await Promise.race([...running, delay(backoffLeft, options.signal)]);
        continue;
      }
      const waiting = (await spooledWals(options.spoolDirectory)).filter((name) => !inProgress.has(name));
      if (waiting.length > 0) {
        idleSince = Date.now();
        for (const name of waiting) {
          if (running.size >= options.jobs) break;
          inProgress.add(name);
          const task = uploadOne(name);
          running.add(task);
          void task.finally(() => running.delete(task));
        }
      }
      if (running.size > 0) {
        await Promise.race([...running, delay(POLL_MS)]);
        continue;
      }
      if (waiting.length === 0 && Date.now() - idleSince >= options.idleMs) {
        lock.release();
        lock = null;
        // Files queued while we held the lock: their enqueuer did not start a worker.
        if ((await spooledWals(options.spoolDirectory)).length === 0) break;
        lock = tryAcquireLock(options.lockPath);
        if (!lock) break;
        idleSince = Date.now();
        continue;
      }
      await delay(POLL_MS);
    }
    await Promise.all(running);
  } finally {
    await pool?.close();
    await fsyncDirectory(options.spoolDirectory).catch(() => {});
    lock?.release();
  }
  return result;
}

/**
 * Dot-temp files of enqueuers that died before linking their copy (never acknowledged: the WAL
 * is still in pg_wal and PostgreSQL retries). Removed when their process is gone.
 */
async function removeAbandonedTemps(spoolDirectory: string, log: Logger): Promise<void> {
  for (const name of await readdir(spoolDirectory)) {
    const match = /^\.[0-9A-Za-z.]+\.(\d+)-[0-9a-f]+\.tmp$/.exec(name);
    if (!match || isProcessAlive(Number(match[1]))) continue;
    await unlink(join(spoolDirectory, name)).catch(() => {});
    log.info(`removed ${name}, left in the spool by an enqueuer that died`);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (a SIGTERM never waits out a backoff). */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

async function moveToErrors(options: SpoolUploaderOptions, path: string, name: string): Promise<string> {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  await mkdir(options.errorsDirectory, { recursive: true });
  const target = join(options.errorsDirectory, `${name}.${stamp}.duplicate`);
  await rename(path, target);
  await fsyncDirectory(options.errorsDirectory);
  await fsyncDirectory(options.spoolDirectory);
  return target;
}
