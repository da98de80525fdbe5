/**
 * Bounded local staging of backups streamed to object storage (`cloud_staging_directory`,
 * `cloud_staging_max_size`, `--cloud-staging-directory`, `--cloud-staging-max-size`): which
 * backups stage, where, and how much; and the smallest limit that works (one upload part).
 *
 * A `postgres`-method backup to an s3:// basebackups_directory always stages (Barman's
 * streaming backups to the cloud). A `local-to-cloud` backup reads PGDATA, which is already on
 * disk, and keeps its parts in memory as barman-cloud-backup does; it stages only when the
 * operator asks for it by setting one of the options (in a file or on the command line), so
 * existing local-to-cloud servers neither write under their backup_directory nor slow down.
 */
import { prettySize } from '../output/format.js';
import type { ServerConfig, ServerEntry } from './types.js';

/** S3's smallest part of a multipart upload (every part but the last). */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;

export const CLOUD_STAGING_OPTIONS = ['cloud_staging_directory', 'cloud_staging_max_size'] as const;

/** The part size of a server's multipart uploads: cloud_upload_min_chunk_size, at least S3's minimum. */
export function uploadPartSize(minChunkSize: number): number {
  return Math.max(S3_MIN_PART_SIZE, minChunkSize);
}

/**
 * Why `maxBytes` cannot stage a part of `partSize` bytes (a part is staged whole before its
 * upload), or null when it can.
 */
export function stagingLimitProblem(maxBytes: number, partSize: number): string | null {
  if (maxBytes >= partSize) return null;
  return (
    `the cloud staging limit (cloud_staging_max_size, or --cloud-staging-max-size) of ${prettySize(maxBytes)} ` +
    `is smaller than one upload part (${prettySize(partSize)}, cloud_upload_min_chunk_size and at least 5 MiB): ` +
    `set it to ${prettySize(partSize)} or more (a few parts let the backup run ahead of the uploads)`
  );
}

/**
 * Where the backups of a server stage their uploads and how many bytes at most, or null when
 * they do not stage (a local basebackups_directory; a local-to-cloud server that did not ask).
 * `config` is the run's (command-line values applied), `overrides` those command-line values.
 */
export function cloudStagingOf(
  config: ServerConfig,
  sources: ServerEntry['sources'],
  overrides: Readonly<Record<string, unknown>> = {},
): { directory: string; maxBytes: number } | null {
  if (config.basebackups_directory.kind !== 's3') return null;
  const asked = CLOUD_STAGING_OPTIONS.some(
    (key) => overrides[key] !== undefined || sources[key]?.kind === 'file',
  );
  if (config.backup_method === 'local-to-cloud' && !asked) return null;
  return { directory: config.cloud_staging_directory, maxBytes: config.cloud_staging_max_size };
}
