/**
 * Bandwidth limits (`bandwidth_limit`, `--bwlimit`, in KB/s): a token bucket shared by every
 * copy of one operation, and a stream stage that paces what flows through it; and the pace at
 * which parallel copy workers start (`parallel_jobs_start_batch_*`).
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';

/** Waits so that the average rate stays under `kbps` (abortable); a no-op without a limit. */
export type RateLimiter = (bytes: number) => Promise<void>;

export function createRateLimiter(kbps: number | null, signal?: AbortSignal): RateLimiter {
  if (!kbps) return () => Promise.resolve();
  const bytesPerMs = (kbps * 1024) / 1000;
  let availableAt = Date.now();
  return async (bytes) => {
    const now = Date.now();
    const start = Math.max(now, availableAt);
    availableAt = start + bytes / bytesPerMs;
    if (start > now) await pause(start - now, signal);
  };
}

/** tablespace_bandwidth_limit: a named tablespace's own limit, else the overall one (KB/s; null: none). */
export function bandwidthFor(
  overall: number | null,
  perTablespace: Readonly<Record<string, number>> | null,
  tablespace: string | null,
): number | null {
  const own = tablespace === null ? undefined : perTablespace?.[tablespace];
  return (own ?? overall) || null;
}

/** Waits `ms`, or less when `signal` aborts (then throws its reason). */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake);
  });
  signal?.throwIfAborted();
}

/** Resolves when the next copy worker (an rsync process, a copy loop) may start. */
export type StartLimiter = () => Promise<void>;

/**
 * parallel_jobs_start_batch_size / _period: at most `size` workers start within any
 * `periodSeconds` window (a sliding window, as Barman's), so that many parallel jobs do not
 * open their SSH connections all at once (sshd's MaxStartups). Callers queue in order.
 */
export function createStartLimiter(
  batch: { size: number; periodSeconds: number },
  signal?: AbortSignal,
): StartLimiter {
  const periodMs = batch.periodSeconds * 1000;
  const starts: number[] = [];
  let queue: Promise<void> = Promise.resolve();
  return () => {
    const turn = queue.then(async () => {
      // Checked again after each pause: a timer may fire a millisecond early, which would leave
      // the oldest start inside the window and let two starts through within one period.
      for (;;) {
        const windowStart = Date.now() - periodMs;
        while (starts.length > 0 && starts[0]! <= windowStart) starts.shift();
        if (starts.length < batch.size) break;
        await pause(Math.max(1, starts[0]! - windowStart), signal);
      }
      starts.push(Date.now());
    });
    queue = turn.catch(() => undefined);
    return turn;
  };
}

/** A pass-through stage that holds each chunk back until the limiter lets it go. */
export function throttledStream(limiter: RateLimiter): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      limiter(chunk.length).then(
        () => callback(null, chunk),
        (error: unknown) => callback(error as Error),
      );
    },
  });
}

/**
 * `source` read through a pacing stage: an error of the source fails the stage, and the source
 * is released when the stage is closed early (its reader failed).
 */
export function pacedReadable(source: Readable, limiter: RateLimiter): Readable {
  const stage = throttledStream(limiter);
  source.on('error', (error) => stage.destroy(error));
  stage.on('close', () => source.destroy());
  return source.pipe(stage);
}
