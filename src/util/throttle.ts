/**
 * Bandwidth limits (`bandwidth_limit`, `--bwlimit`, in KB/s): a token bucket shared by every
 * copy of one operation, and a stream stage that paces what flows through it.
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
    if (start > now) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, start - now);
        signal?.addEventListener('abort', wake);
      });
      signal?.throwIfAborted();
    }
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
