/**
 * The one way to get a Storage: `storageFor(config, location)` for a server's location, a
 * directory or an `s3://bucket/prefix` URL. The S3 driver (and the AWS SDK) is loaded only for
 * an s3:// location, so the archive_command path to a local archive starts fast.
 */
import type { Location, ServerConfig } from '../config/index.js';
import type { Storage } from './index.js';
import { PosixStorage } from './posix.js';
import type { S3Settings } from './s3/settings.js';

export interface StorageOptions {
  /** Aborts the S3 requests in flight (a command interrupted, a timeout). */
  signal?: AbortSignal;
  /** Settings of the S3 driver that a command changes (part size, attempts). */
  s3?: Partial<S3Settings>;
}

export async function storageFor(
  config: ServerConfig,
  location: Location,
  options: StorageOptions = {},
): Promise<Storage> {
  if (location.kind === 'posix') return new PosixStorage(location.path);
  const [{ S3Storage }, { s3SettingsFor }] = await Promise.all([
    import('./s3/index.js'),
    import('./s3/settings.js'),
  ]);
  return new S3Storage(s3SettingsFor(config, location, options.s3), {
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
