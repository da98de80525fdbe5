/**
 * How to reach an S3 location, derived from a server's configuration. Kept apart from the
 * driver so that code deciding *whether* to talk to S3 (the async spool, cron) does not load
 * the AWS SDK.
 */
import type { ServerConfig } from '../../config/index.js';
import { uploadPartSize } from '../../config/index.js';
import type { Location } from '../../config/index.js';

export interface S3Settings {
  bucket: string;
  /** Key prefix without leading or trailing '/', '' for the bucket root. */
  prefix: string;
  region: string | null;
  profile: string | null;
  endpointUrl: string | null;
  encryption: 'AES256' | 'aws:kms' | null;
  kmsKeyId: string | null;
  /** A request without a response for this long is abandoned (and retried by the SDK). */
  readTimeoutMs: number;
  connectTimeoutMs: number;
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** First delay between attempts (doubling after each); the driver's default when absent. */
  retryBaseDelayMs?: number;
  /** Size of multipart upload parts (S3 accepts 5 MiB at least, except for the last part). */
  partSize: number;
  /** Parts uploaded at the same time by one multipart upload. */
  partConcurrency: number;
  deleteBatchSize: number;
  /**
   * worm_mode: S3 Object Lock retention put on every object written (s3/object-lock.ts); absent
   * writes objects without one (a bucket's default retention may still apply).
   */
  objectLock?: ObjectLockSettings | null;
}

export interface ObjectLockSettings {
  mode: 'COMPLIANCE' | 'GOVERNANCE';
  /** Each object is locked until its write time plus this. */
  retentionSeconds: number;
}

/** The settings of `location` (an s3:// location of `config`). */
export function s3SettingsFor(
  config: ServerConfig,
  location: Extract<Location, { kind: 's3' }>,
  overrides: Partial<S3Settings> = {},
): S3Settings {
  return {
    bucket: location.bucket,
    prefix: location.prefix.replace(/^\/+|\/+$/g, ''),
    region: config.aws_region,
    profile: config.aws_profile,
    endpointUrl: config.aws_endpoint_url,
    encryption: config.aws_encryption,
    kmsKeyId: config.aws_sse_kms_key_id,
    readTimeoutMs: config.aws_read_timeout * 1000,
    connectTimeoutMs: 5000,
    maxAttempts: 5,
    partSize: uploadPartSize(config.cloud_upload_min_chunk_size),
    partConcurrency: Math.max(1, config.parallel_jobs),
    deleteBatchSize: config.cloud_delete_batch_size,
    objectLock:
      config.worm_mode && config.worm_object_lock_retention
        ? {
            mode: config.worm_object_lock_mode === 'governance' ? 'GOVERNANCE' : 'COMPLIANCE',
            retentionSeconds: config.worm_object_lock_retention,
          }
        : null,
    ...overrides,
  };
}
