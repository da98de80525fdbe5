/** SDK failures of the s3 driver as BarmanErrors an operator can act on. */
import { BarmanError } from '../../errors/index.js';
import type { S3Storage } from './index.js';

/** Runs one SDK call of `storage`, turning its failures into errors an operator can act on. */
export function callS3<T>(
  storage: S3Storage,
  what: string,
  work: (abortSignal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  return work(storage.signal).catch((error: unknown) => {
    throw describeS3Error(error, what, storage);
  });
}

const NETWORK_ERROR_CODES =
  /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/** An SDK failure as a BarmanError saying what could not be done and the likely reason. */
export function describeS3Error(error: unknown, what: string, storage: S3Storage): BarmanError {
  if (error instanceof BarmanError) return error;
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number; attempts?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? 'Error';
  const endpoint = storage.settings.endpointUrl ?? 'AWS S3';
  let reason: string;
  let hint: string | undefined;
  let code = 's3-failed';
  // The SDK names a reset connection a TimeoutError too: the network code says what happened.
  const network = e.code && NETWORK_ERROR_CODES.test(e.code) ? e.code : null;
  if (network === 'ECONNRESET' || network === 'EPIPE') {
    code = 's3-connection-lost';
    reason = `the connection to ${endpoint} was cut (${network})`;
  } else if (network) {
    code = 's3-unreachable';
    reason = `cannot reach ${endpoint} (${network})`;
  } else if (name === 'AbortError' || name === 'TimeoutError') {
    code = 's3-timeout';
    reason =
      name === 'TimeoutError'
        ? `no answer from ${endpoint} within ${storage.settings.readTimeoutMs / 1000} s (aws_read_timeout)`
        : 'timed out';
    hint = `check that ${endpoint} is reachable`;
  } else if (name === 'NoSuchBucket') {
    code = 's3-no-bucket';
    reason = `bucket '${storage.settings.bucket}' does not exist`;
  } else if (
    ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'ExpiredToken'].includes(
      name,
    ) ||
    status === 403
  ) {
    code = 's3-access-denied';
    // HEAD answers have no body, so the SDK cannot name the error: show the status instead.
    reason = `access denied (${name === 'Unknown' || name === 'Forbidden' ? `HTTP ${status ?? 403}` : name})`;
    hint = 'check the AWS credentials (environment, aws_profile) and the bucket policy';
  } else if (name === 'CredentialsProviderError') {
    code = 's3-no-credentials';
    reason = 'no AWS credentials found';
    hint =
      'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or aws_profile, or run where an instance role applies';
  } else if (status === 404 && what.startsWith('access bucket')) {
    code = 's3-no-bucket';
    reason = `bucket '${storage.settings.bucket}' does not exist`;
  } else {
    reason = `${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(error)}`;
  }
  // Retried transient failures: say so, the operator then knows it was not a single blip.
  const attempts = e.$metadata?.attempts;
  if (attempts !== undefined && attempts > 1 && code !== 's3-failed') reason += ` after ${attempts} attempts`;
  return new BarmanError(code, `cannot ${what}: ${reason}`, { hint, cause: error });
}
