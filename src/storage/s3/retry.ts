/** The retry strategy of the s3 driver's client: backoff spread over seconds, not 0.3 s. */
import type { S3ClientConfig } from '@aws-sdk/client-s3';

/** First retry delay of a request; it doubles at each attempt (with jitter), up to RETRY_MAX_DELAY_MS. */
export const RETRY_BASE_DELAY_MS = 500;
const RETRY_MAX_DELAY_MS = 8000;

type RetryStrategyV2 = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { recordSuccess: unknown }>;
type RetryToken = Awaited<ReturnType<RetryStrategyV2['acquireInitialRetryToken']>> & {
  getRetryDelay(): number;
};

/**
 * The SDK's standard strategy retries within about 0.3 s (three attempts, 100 ms base), so a
 * network blip of a second would fail an hours-long backup. This one spreads the attempts over
 * seconds (0.5, 1, 2, 4… s, half of it random): with the default 5 attempts a request survives
 * an outage of about 6 s, and fails cleanly after one of about 10 s. Only errors the SDK
 * classes as transient (resets, timeouts, 5xx) or throttling are retried; every request body
 * is a Buffer, so a retry resends it whole.
 */
export function backoffRetry(maxAttempts: number, baseDelayMs: number): RetryStrategyV2 {
  const token = (count: number, delay: number): RetryToken => ({
    getRetryCount: () => count,
    getRetryDelay: () => delay,
  });
  return {
    acquireInitialRetryToken: () => Promise.resolve(token(0, 0)),
    refreshRetryTokenForRetry: (previous, info) => {
      const next = previous.getRetryCount() + 1;
      if (next >= maxAttempts || (info.errorType !== 'TRANSIENT' && info.errorType !== 'THROTTLING'))
        return Promise.reject(new Error('no retry left'));
      const ceiling = Math.min(RETRY_MAX_DELAY_MS, baseDelayMs * 2 ** (next - 1));
      return Promise.resolve(token(next, ceiling / 2 + Math.random() * (ceiling / 2)));
    },
    recordSuccess: () => {},
  };
}
