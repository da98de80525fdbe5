/** Listings of the s3 driver: ListObjectsV2 pages followed to the end. */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { StorageEntry } from '../index.js';
import { callS3 } from './errors.js';
import type { S3ObjectInfo, S3Storage } from './index.js';

/** Every page of a listing of `prefix` (with `/` as delimiter when asked). */
async function* listingPages(
  storage: S3Storage,
  path: string,
  prefix: string,
  delimiter?: string,
): AsyncGenerator<ListObjectsV2CommandOutput> {
  let token: string | undefined;
  do {
    const page = await callS3(storage, `list ${storage.location}/${path}`, (abortSignal) =>
      storage.client.send(
        new ListObjectsV2Command({
          Bucket: storage.settings.bucket,
          Prefix: prefix,
          Delimiter: delimiter,
          ContinuationToken: token,
        }),
        { abortSignal },
      ),
    );
    yield page;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The files and "directories" (common prefixes) directly under `path`. */
export async function listEntries(storage: S3Storage, path: string): Promise<StorageEntry[]> {
  const base = storage.key(path);
  const prefix = base ? `${base}/` : '';
  const entries: StorageEntry[] = [];
  for await (const page of listingPages(storage, path, prefix, '/')) {
    for (const common of page.CommonPrefixes ?? []) {
      const name = (common.Prefix ?? '').slice(prefix.length).replace(/\/$/, '');
      if (name) entries.push({ name, kind: 'directory' });
    }
    for (const object of page.Contents ?? []) {
      const name = (object.Key ?? '').slice(prefix.length);
      if (name) entries.push({ name, kind: 'file' });
    }
  }
  return entries;
}

/** Every object whose key starts with the key of `path` (under it as a directory by default). */
export async function listObjectInfos(
  storage: S3Storage,
  path: string,
  options: { asDirectory?: boolean } = {},
): Promise<S3ObjectInfo[]> {
  const base = storage.key(path);
  const prefix = options.asDirectory !== false && base ? `${base}/` : base;
  const objects: S3ObjectInfo[] = [];
  for await (const page of listingPages(storage, path, prefix)) {
    for (const object of page.Contents ?? []) {
      if (!object.Key) continue;
      objects.push({
        key: object.Key,
        path: storage.pathOf(object.Key),
        size: object.Size ?? 0,
        mtimeMs: object.LastModified?.getTime() ?? 0,
      });
    }
  }
  return objects;
}
