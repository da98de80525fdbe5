/**
 * The s3 driver of the Storage interface (AWS SDK v3; src/storage/s3 alone imports @aws-sdk/*).
 * worm_mode's Object Lock retention and version deletions are in object-lock.ts.
 *
 * Integrity: every upload request carries a Content-MD5 that S3 checks before it stores
 * anything, and the ETag returned is compared with the MD5 we computed (when it is an MD5: not
 * with aws:kms), so a write that resolves has been stored byte for byte. Large streams go up as
 * multipart uploads with bounded memory (at most `partConcurrency + 1` parts in memory), or
 * with bounded local staging (WriteOptions.staging, staging.ts: parts in files, at most
 * `partConcurrency` in memory); a failed multipart upload is aborted so no orphan parts are left
 * to pay for.
 * Credentials come from the SDK's standard chain (environment, shared files with `aws_profile`,
 * SSO, container and instance metadata); they are never logged or printed.
 */
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { BarmanError } from '../../errors/index.js';
import type {
  Storage,
  StorageEntry,
  StorageFeatures,
  StorageObject,
  StorageStat,
  WriteOptions,
} from '../index.js';
import type { ImmutableEntry, ImmutableProbeOptions } from '../immutable.js';
import {
  findLockedObjects,
  objectLockParameters,
  objectLockStatus,
  removeObjectVersions,
} from './object-lock.js';
import { callS3, describeS3Error, isNotFound } from './errors.js';
import type { S3Settings } from './settings.js';
import { listEntries, listObjectInfos } from './listing.js';
import { backoffRetry, RETRY_BASE_DELAY_MS } from './retry.js';
import { uploadObject } from './uploads.js';

export { describeS3Error } from './errors.js';
export type { S3Settings } from './settings.js';

export interface S3WriteOptions extends WriteOptions {
  /** User metadata stored with the object (x-amz-meta-*). */
  metadata?: Record<string, string>;
  /** Overrides the multipart part size for this write (minPartSize is a floor instead). */
  partSize?: number;
  /** Told when a multipart upload starts, and when S3 has completed or aborted it. */
  multipartListener?: MultipartListener;
}

/** Keeps track of multipart uploads that may need an abort later (see backup's upload journal). */
export interface MultipartListener {
  started(key: string, uploadId: string): Promise<void>;
  ended(key: string, uploadId: string): Promise<void>;
}

export interface S3ObjectInfo {
  key: string;
  /** Path relative to the storage root. */
  path: string;
  size: number;
  mtimeMs: number;
}

export interface UploadResult {
  size: number;
  md5: string;
  parts: number;
}

/** The largest object one CopyObject request copies. */
const MAX_COPY_OBJECT_SIZE = 5 * 1024 ** 3;

export class S3Storage implements Storage {
  readonly location: string;
  readonly features: StorageFeatures = {
    atomicRename: false,
    hardLink: false,
    localFiles: false,
    append: false,
    stagedCommit: false,
  };
  readonly client: S3Client;
  readonly signal: AbortSignal | undefined;

  constructor(
    readonly settings: S3Settings,
    options: { signal?: AbortSignal } = {},
  ) {
    this.location = `s3://${settings.bucket}${settings.prefix ? `/${settings.prefix}` : ''}`;
    this.signal = options.signal;
    // The SDK warns on every start under Node < 22 about its future releases: noise in the
    // PostgreSQL log for each archived segment, and nothing an operator must act on today.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const config: S3ClientConfig = {
      maxAttempts: settings.maxAttempts,
      retryStrategy: backoffRetry(settings.maxAttempts, settings.retryBaseDelayMs ?? RETRY_BASE_DELAY_MS),
      // Content-MD5 is our integrity check; the SDK's trailing CRC checksums need aws-chunked
      // encoding, which some S3-compatible stores do not decode.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: settings.connectTimeoutMs,
        // aws_read_timeout is an inactivity limit (like boto's read_timeout): a request that has
        // sent and received nothing for that long fails and is retried. The SDK's requestTimeout
        // would only print a warning (unless throwOnRequestTimeout) and bound whole transfers.
        socketTimeout: settings.readTimeoutMs,
      },
    };
    if (settings.region) config.region = settings.region;
    else if (!process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION && !settings.profile)
      config.region = 'us-east-1';
    if (settings.profile) config.profile = settings.profile;
    if (settings.endpointUrl) {
      config.endpoint = settings.endpointUrl;
      config.forcePathStyle = true;
    }
    this.client = new S3Client(config);
  }

  /** The object key of a storage path. */
  key(path: string): string {
    const clean = path.replace(/^\/+|\/+$/g, '');
    if (clean.split('/').some((part) => part === '..')) {
      throw new Error(`path '${path}' escapes the storage root ${this.location}`);
    }
    if (!this.settings.prefix) return clean;
    return clean ? `${this.settings.prefix}/${clean}` : this.settings.prefix;
  }

  /** The storage path of an object key. */
  pathOf(key: string): string {
    return this.settings.prefix ? key.slice(this.settings.prefix.length + 1) : key;
  }

  destroy(): void {
    this.client.destroy();
  }

  /** The bucket exists and these credentials may use it. */
  async checkBucket(): Promise<void> {
    await callS3(this, `access bucket '${this.settings.bucket}'`, (abortSignal) =>
      this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }), { abortSignal }),
    );
  }

  async stat(path: string): Promise<StorageStat | null> {
    const key = this.key(path);
    const head = await this.headObject(path);
    if (head) return { size: head.size, mtimeMs: head.mtimeMs, kind: 'file' };
    const listing = await callS3(this, `list ${this.location}/${path}`, (abortSignal) =>
      this.client.send(
        new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${key}/`, MaxKeys: 1 }),
        { abortSignal },
      ),
    );
    return (listing.KeyCount ?? 0) > 0 ? { size: 0, mtimeMs: 0, kind: 'directory' } : null;
  }

  /** HeadObject: size, mtime and user metadata of a file; null when it does not exist. */
  async headObject(
    path: string,
  ): Promise<{ size: number; mtimeMs: number; etag: string; metadata: Record<string, string> } | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path) }),
        { abortSignal: this.signal },
      );
      return {
        size: head.ContentLength ?? 0,
        mtimeMs: head.LastModified?.getTime() ?? 0,
        etag: (head.ETag ?? '').replace(/"/g, ''),
        metadata: head.Metadata ?? {},
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw describeS3Error(error, `read ${this.location}/${path}`, this);
    }
  }

  /** The files and directories directly under `path` (listing.ts). */
  list(path: string): Promise<StorageEntry[]> {
    return listEntries(this, path);
  }

  /** Every object whose key starts with the key of `path` (not only under it as a directory). */
  listObjects(path: string, options: { asDirectory?: boolean } = {}): Promise<S3ObjectInfo[]> {
    return listObjectInfos(this, path, options);
  }

  async listTree(path: string): Promise<StorageObject[]> {
    const objects = await this.listObjects(path.replace(/^\/+|\/+$/g, ''));
    return objects
      .map(({ path: objectPath, size, mtimeMs }) => ({ path: objectPath, size, mtimeMs }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async listPrefix(prefix: string): Promise<StorageObject[]> {
    const clean = prefix.replace(/^\/+/, '');
    const directory = clean.slice(0, clean.lastIndexOf('/') + 1);
    const objects = await this.listObjects(clean, { asDirectory: false });
    return objects
      .filter(({ path }) => path.startsWith(directory) && !path.slice(directory.length).includes('/'))
      .map(({ path, size, mtimeMs }) => ({ path, size, mtimeMs }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async readFile(path: string): Promise<Buffer> {
    const stream = await this.openRead(path);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async readHead(path: string, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    try {
      const stream = await this.openRead(path, `bytes=0-${length - 1}`);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).subarray(0, length);
    } catch (error) {
      // An empty object has no byte 0: S3 answers 416 to any range.
      if ((error as { cause?: { name?: string } }).cause?.name === 'InvalidRange') return Buffer.alloc(0);
      throw error;
    }
  }

  async readChunks(path: string, onChunk: (chunk: Buffer) => void): Promise<void> {
    for await (const chunk of await this.openRead(path)) onChunk(chunk as Buffer);
  }

  async openRead(path: string, range?: string): Promise<Readable> {
    const response = await callS3(this, `read ${this.location}/${path}`, (abortSignal) =>
      this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path), Range: range }),
        {
          abortSignal,
        },
      ),
    );
    const body = response.Body;
    if (!(body instanceof Readable)) throw new Error(`no body in the response for ${this.location}/${path}`);
    return body;
  }

  async writeFile(
    path: string,
    data: Buffer | string | Readable,
    options: S3WriteOptions = {},
  ): Promise<void> {
    await this.upload(path, data, options);
  }

  /**
   * Uploads `data` as the object at `path` and resolves once S3 has stored and acknowledged
   * every byte with matching checksums (uploads.ts).
   */
  upload(
    path: string,
    data: Buffer | string | Readable,
    options: S3WriteOptions = {},
  ): Promise<UploadResult> {
    return uploadObject(this, path, data, options);
  }

  /** Server-side encryption parameters of uploads. */
  encryption(): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
    if (!this.settings.encryption) return {};
    return {
      ServerSideEncryption: this.settings.encryption,
      ...(this.settings.kmsKeyId ? { SSEKMSKeyId: this.settings.kmsKeyId } : {}),
    };
  }

  /** With aws:kms the ETag is not an MD5; otherwise it must be one of `expected`. */
  verifyEtag(path: string, etag: string | undefined, expected: string[]): void {
    if (this.settings.encryption === 'aws:kms') return;
    const actual = (etag ?? '').replace(/"/g, '').toLowerCase();
    if (!expected.includes(actual)) {
      throw new BarmanError(
        's3-checksum-mismatch',
        `the checksum S3 reported for ${this.location}/${path} (${actual || 'none'}) is not the one sent (${expected[0]}): the object may be corrupt`,
      );
    }
  }

  /** An object appears whole or not at all: a killed write leaves no temp file to remove. */
  removeInterruptedWrites(): Promise<void> {
    return Promise.resolve();
  }

  appendLines(path: string): Promise<void> {
    return Promise.reject(
      new BarmanError(
        's3-no-append',
        `cannot append to ${this.location}/${path}: object storage has no append`,
      ),
    );
  }

  async remove(path: string): Promise<void> {
    if (this.settings.objectLock) return this.removeMany([path]);
    await callS3(this, `delete ${this.location}/${path}`, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path) }), {
        abortSignal,
      }),
    );
  }

  /** DeleteObjects, `cloud_delete_batch_size` keys a request. */
  async removeMany(paths: readonly string[]): Promise<void> {
    await this.removeKeys(paths.map((path) => this.key(path)));
  }

  async checkAccess(): Promise<void> {
    await this.checkBucket();
  }

  /** Deletes objects by key, `deleteBatchSize` per request; fails if S3 refuses any. */
  async removeKeys(keys: readonly string[]): Promise<void> {
    if (this.settings.objectLock) return removeObjectVersions(this, keys);
    for (let start = 0; start < keys.length; start += this.settings.deleteBatchSize) {
      const batch = keys.slice(start, start + this.settings.deleteBatchSize);
      const response = await callS3(this, `delete objects in ${this.location}`, (abortSignal) =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.settings.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal },
        ),
      );
      const failed = response.Errors ?? [];
      if (failed.length > 0) {
        throw new BarmanError(
          's3-delete-failed',
          `S3 refused to delete ${failed.length} object(s) in ${this.location}, e.g. ${failed[0]?.Key ?? '?'}: ${failed[0]?.Message ?? failed[0]?.Code ?? 'no reason given'}`,
        );
      }
    }
  }

  async removeTree(path: string): Promise<void> {
    const objects = await this.listObjects(path);
    await this.removeKeys(objects.map((object) => object.key));
  }

  /**
   * A server-side copy; S3 stores the whole object or nothing. CopyObject takes at most 5 GiB:
   * a larger object goes through this process as a (multipart, checksummed) upload.
   */
  async copy(from: string, to: string): Promise<void> {
    const source = await this.stat(from);
    if (source && source.size > MAX_COPY_OBJECT_SIZE) {
      await this.upload(to, await this.openRead(from));
      return;
    }
    await callS3(this, `copy ${this.location}/${from} to ${to}`, (abortSignal) =>
      this.client.send(
        new CopyObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(to),
          CopySource: `${this.settings.bucket}/${this.key(from).split('/').map(encodeURIComponent).join('/')}`,
          ...this.encryption(),
          ...objectLockParameters(this.settings),
        }),
        { abortSignal },
      ),
    );
  }

  /** Copy, then delete: a crash in between leaves both names, never neither. */
  async move(from: string, to: string): Promise<void> {
    await this.copy(from, to);
    await this.remove(from);
  }

  close(): void {
    this.destroy();
  }

  /** Object stores have no directories. */
  mkdir(): Promise<void> {
    return Promise.resolve();
  }

  /** S3 says whether a deletion is allowed only when asked to delete. */
  checkWritable(): Promise<void> {
    return Promise.resolve();
  }

  findImmutable(
    paths: readonly string[],
    limit: number,
    options?: ImmutableProbeOptions,
  ): Promise<ImmutableEntry[]> {
    return findLockedObjects(this, paths, limit, options);
  }

  immutabilityStatus(): Promise<{ enforced: boolean; detail: string }> {
    return objectLockStatus(this);
  }

  /** Multipart uploads in progress under `path` (orphans of killed processes, among others). */
  async listUploads(path: string): Promise<Array<{ key: string; uploadId: string; initiatedMs: number }>> {
    const response = await callS3(this, `list multipart uploads in ${this.location}/${path}`, (abortSignal) =>
      this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: this.key(path) }),
        {
          abortSignal,
        },
      ),
    );
    return (response.Uploads ?? []).map((upload) => ({
      key: upload.Key ?? '',
      uploadId: upload.UploadId ?? '',
      initiatedMs: upload.Initiated?.getTime() ?? 0,
    }));
  }

  /**
   * Aborts a multipart upload; true once S3 has answered (an error status too: NoSuchUpload is
   * an upload already gone, and s3rver answers 405), false when it could not be reached.
   */
  async tryAbortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.abortUpload(key, uploadId);
      return true;
    } catch (error) {
      return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== undefined;
    }
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    // Not tied to this storage's signal: cleaning up must work after a timeout aborted the upload.
    await this.client.send(
      new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: key, UploadId: uploadId }),
    );
  }
}
