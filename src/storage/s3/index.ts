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
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BarmanError } from '../../errors/index.js';
import type {
  CloudStaging,
  Storage,
  StorageEntry,
  StorageFeatures,
  StorageObject,
  StorageStat,
  WriteOptions,
} from '../index.js';
import type { ImmutableEntry, ImmutableProbeOptions } from '../immutable.js';
import {
  confirmObjectLock,
  findLockedObjects,
  objectLockParameters,
  objectLockStatus,
  removeObjectVersions,
} from './object-lock.js';
import { PartAssembler, partSizeAt } from './parts.js';
import type { S3Settings } from './settings.js';
import type { StagedPart } from './staging.js';
import { StagingArea } from './staging.js';

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

/** First retry delay of a request; it doubles at each attempt (with jitter), up to RETRY_MAX_DELAY_MS. */
const RETRY_BASE_DELAY_MS = 500;
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
function backoffRetry(maxAttempts: number, baseDelayMs: number): RetryStrategyV2 {
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

  private pathOf(key: string): string {
    return this.settings.prefix ? key.slice(this.settings.prefix.length + 1) : key;
  }

  /** Runs one SDK call, turning its failures into errors an operator can act on. */
  private async call<T>(what: string, work: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    try {
      return await work(this.signal);
    } catch (error) {
      throw describeS3Error(error, what, this);
    }
  }

  destroy(): void {
    this.client.destroy();
  }

  /** The bucket exists and these credentials may use it. */
  async checkBucket(): Promise<void> {
    await this.call(`access bucket '${this.settings.bucket}'`, (abortSignal) =>
      this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }), { abortSignal }),
    );
  }

  async stat(path: string): Promise<StorageStat | null> {
    const key = this.key(path);
    const head = await this.headObject(path);
    if (head) return { size: head.size, mtimeMs: head.mtimeMs, kind: 'file' };
    const listing = await this.call(`list ${this.location}/${path}`, (abortSignal) =>
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

  async list(path: string): Promise<StorageEntry[]> {
    const base = this.key(path);
    const prefix = base ? `${base}/` : '';
    const entries: StorageEntry[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`list ${this.location}/${path}`, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: prefix,
            Delimiter: '/',
            ContinuationToken: token,
          }),
          { abortSignal },
        ),
      );
      for (const common of page.CommonPrefixes ?? []) {
        const name = (common.Prefix ?? '').slice(prefix.length).replace(/\/$/, '');
        if (name) entries.push({ name, kind: 'directory' });
      }
      for (const object of page.Contents ?? []) {
        const name = (object.Key ?? '').slice(prefix.length);
        if (name) entries.push({ name, kind: 'file' });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return entries;
  }

  /** Every object whose key starts with the key of `path` (not only under it as a directory). */
  async listObjects(path: string, options: { asDirectory?: boolean } = {}): Promise<S3ObjectInfo[]> {
    const base = this.key(path);
    const prefix = options.asDirectory !== false && base ? `${base}/` : base;
    const objects: S3ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(`list ${this.location}/${path}`, (abortSignal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
          { abortSignal },
        ),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        objects.push({
          key: object.Key,
          path: this.pathOf(object.Key),
          size: object.Size ?? 0,
          mtimeMs: object.LastModified?.getTime() ?? 0,
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
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
    const response = await this.call(`read ${this.location}/${path}`, (abortSignal) =>
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
   * every byte with matching checksums. Readable sources shorter than one part go up as one
   * PutObject; longer ones as a multipart upload, aborted when anything fails.
   */
  async upload(
    path: string,
    data: Buffer | string | Readable,
    options: S3WriteOptions = {},
  ): Promise<UploadResult> {
    const partSize = options.partSize ?? Math.max(this.settings.partSize, options.minPartSize ?? 0);
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      const body = typeof data === 'string' ? Buffer.from(data) : data;
      return this.putObject(path, body, options.metadata);
    }
    if (options.staging) return this.uploadStaged(path, data, options, options.staging, partSize);
    // Released part buffers are reused: the parts in flight plus the one being filled.
    const assembler = new PartAssembler(
      (index) => partSizeAt(partSize, index),
      this.settings.partConcurrency + 1,
    );
    let multipart: MultipartUpload | undefined;
    try {
      for await (const chunk of data) {
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        for (const part of assembler.push(buffer)) {
          if (!multipart) {
            multipart = await MultipartUpload.start(this, path, options.metadata);
            await options.multipartListener?.started(multipart.key, multipart.uploadId);
          }
          await multipart.addPart(part, () => assembler.release(part));
        }
      }
      const rest = assembler.rest();
      if (!multipart) return await this.putObject(path, rest, options.metadata);
      if (rest.length > 0) await multipart.addPart(rest);
      const result = await multipart.complete();
      await options.multipartListener?.ended(multipart.key, multipart.uploadId);
      return result;
    } catch (error) {
      if (multipart && (await multipart.abort()))
        await options.multipartListener?.ended(multipart.key, multipart.uploadId);
      throw error;
    }
  }

  /**
   * `upload` through bounded local staging (staging.ts): the stream is cut into part files as
   * it arrives; each is sent once fewer than partConcurrency parts are in flight, while the
   * stream goes on into the next ones as long as they fit under the staging limit. A stream
   * shorter than one part goes up as one PutObject. Every staged file is gone when this settles.
   */
  private async uploadStaged(
    path: string,
    data: Readable,
    options: S3WriteOptions,
    staging: CloudStaging,
    partSize: number,
  ): Promise<UploadResult> {
    const area = await StagingArea.open(staging, partSizeAt(partSize, 0), this.settings.partConcurrency);
    const whole = createHash('md5');
    const notYet = new Promise<never>(() => {});
    let multipart: MultipartUpload | undefined;
    let part: StagedPart | null = null;
    let parts = 0;
    const send = (staged: StagedPart) =>
      multipart!.queueStagedPart(staged.md5!, staged.size, async (partNumber, md5) => {
        const body = await area.read(staged);
        await multipart!.uploadPart(partNumber, body, md5);
        await area.remove(staged, body);
      });
    try {
      for await (const chunk of data) {
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        whole.update(buffer);
        for (let offset = 0; offset < buffer.length;) {
          if (!part) {
            multipart?.throwIfFailed();
            part = await area.create(partSizeAt(partSize, parts), multipart?.failed ?? notYet);
          }
          const take = Math.min(part.room, buffer.length - offset);
          await area.write(part, buffer.subarray(offset, offset + take));
          offset += take;
          if (part.room > 0) continue;
          const full: StagedPart = part;
          part = null;
          parts += 1;
          await full.close();
          if (!multipart) {
            multipart = await MultipartUpload.start(this, path, options.metadata);
            await options.multipartListener?.started(multipart.key, multipart.uploadId);
          }
          send(full);
        }
      }
      if (!multipart) {
        const rest: StagedPart | null = part;
        if (rest) await rest.close();
        return await this.putObject(path, rest ? await area.read(rest) : Buffer.alloc(0), options.metadata);
      }
      if (part) {
        await part.close();
        send(part);
        part = null;
      }
      const result = await multipart.complete(whole.digest('hex'));
      await options.multipartListener?.ended(multipart.key, multipart.uploadId);
      return result;
    } catch (error) {
      if (multipart && (await multipart.abort()))
        await options.multipartListener?.ended(multipart.key, multipart.uploadId);
      throw error;
    } finally {
      await area.close();
    }
  }

  private async putObject(
    path: string,
    body: Buffer,
    metadata?: Record<string, string>,
  ): Promise<UploadResult> {
    const md5 = createHash('md5').update(body).digest();
    const response = await this.call(`upload ${this.location}/${path}`, (abortSignal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(path),
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5.toString('base64'),
          Metadata: metadata,
          ...this.encryption(),
          ...objectLockParameters(this.settings),
        }),
        { abortSignal },
      ),
    );
    this.verifyEtag(path, response.ETag, [md5.toString('hex')]);
    return { size: body.length, md5: md5.toString('hex'), parts: 1 };
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
    await this.call(`delete ${this.location}/${path}`, (abortSignal) =>
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
      const response = await this.call(`delete objects in ${this.location}`, (abortSignal) =>
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
    await this.call(`copy ${this.location}/${from} to ${to}`, (abortSignal) =>
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
    const response = await this.call(`list multipart uploads in ${this.location}/${path}`, (abortSignal) =>
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

/** One multipart upload: parts go up `partConcurrency` at a time, in order of their numbers. */
class MultipartUpload {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly etags: string[] = [];
  private readonly partMd5s: Buffer[] = [];
  private readonly wholeMd5 = createHash('md5');
  private failure: Error | undefined;
  private size = 0;
  private partCount = 0;
  /** Staged parts waiting for a free upload slot, in order (never rejects). */
  private queue: Promise<void> = Promise.resolve();
  private reject: (error: Error) => void = () => {};
  /** Rejects with the first failed part: a caller waiting on something else stops then. */
  readonly failed = new Promise<never>((_, reject) => {
    this.reject = reject;
  });

  private constructor(
    private readonly storage: S3Storage,
    private readonly path: string,
    readonly key: string,
    readonly uploadId: string,
  ) {
    this.failed.catch(() => undefined);
  }

  static async start(
    storage: S3Storage,
    path: string,
    metadata?: Record<string, string>,
  ): Promise<MultipartUpload> {
    const key = storage.key(path);
    const response = await callS3(storage, `start the upload of ${storage.location}/${path}`, (abortSignal) =>
      storage.client.send(
        new CreateMultipartUploadCommand({
          Bucket: storage.settings.bucket,
          Key: key,
          Metadata: metadata,
          ...storage.encryption(),
          ...objectLockParameters(storage.settings),
        }),
        { abortSignal },
      ),
    );
    if (!response.UploadId) throw new Error(`S3 returned no upload id for ${storage.location}/${path}`);
    return new MultipartUpload(storage, path, key, response.UploadId);
  }

  /**
   * Uploads a part once fewer than `partConcurrency` are in flight, so the caller fills (and
   * this hashes) the next part while the others upload: at most `partConcurrency + 1` part
   * buffers. `done` runs once the part is stored and its buffer no longer needed.
   */
  async addPart(body: Buffer, done?: () => void): Promise<void> {
    this.throwIfFailed();
    const md5 = createHash('md5').update(body).digest();
    const partNumber = this.numberPart(md5, body.length);
    this.wholeMd5.update(body);
    await this.freeSlot();
    this.throwIfFailed();
    this.launch(() => this.uploadPart(partNumber, body, md5).then(done));
  }

  /**
   * Queues a staged part of `size` bytes (its MD5 computed as it was staged) without making
   * the caller wait: `send` runs once fewer than `partConcurrency` parts are in flight, and is
   * not run after a failure. The caller gives complete() the MD5 of the whole stream.
   */
  queueStagedPart(md5: Buffer, size: number, send: (partNumber: number, md5: Buffer) => Promise<void>): void {
    const partNumber = this.numberPart(md5, size);
    this.queue = this.queue.then(async () => {
      await this.freeSlot();
      if (this.failure === undefined) this.launch(() => send(partNumber, md5));
    });
  }

  private numberPart(md5: Buffer, size: number): number {
    const partNumber = ++this.partCount;
    this.partMd5s[partNumber - 1] = md5;
    this.size += size;
    return partNumber;
  }

  private async freeSlot(): Promise<void> {
    while (this.inFlight.size >= this.storage.settings.partConcurrency) await Promise.race(this.inFlight);
  }

  /** Runs an upload in the background; its failure fails the whole upload. */
  private launch(upload: () => Promise<void>): void {
    const task = upload().catch((error: unknown) => {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
      this.reject(this.failure);
    });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** A method, so TypeScript does not narrow `failure` across the awaits that may set it. */
  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  async uploadPart(partNumber: number, body: Buffer, md5: Buffer): Promise<void> {
    const response = await callS3(
      this.storage,
      `upload part ${partNumber} of ${this.storage.location}/${this.path}`,
      (abortSignal) =>
        this.storage.client.send(
          new UploadPartCommand({
            Bucket: this.storage.settings.bucket,
            Key: this.key,
            UploadId: this.uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
            ContentMD5: md5.toString('base64'),
          }),
          { abortSignal },
        ),
    );
    this.storage.verifyEtag(`${this.path} (part ${partNumber})`, response.ETag, [md5.toString('hex')]);
    this.etags[partNumber - 1] = (response.ETag ?? '').replace(/"/g, '');
  }

  /** `whole`: the MD5 of the whole stream, when the parts were not given to addPart. */
  async complete(whole?: string): Promise<UploadResult> {
    await this.queue;
    await Promise.all(this.inFlight);
    this.throwIfFailed();
    const response = await callS3(
      this.storage,
      `complete the upload of ${this.storage.location}/${this.path}`,
      (abortSignal) =>
        this.storage.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.storage.settings.bucket,
            Key: this.key,
            UploadId: this.uploadId,
            MultipartUpload: { Parts: this.etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
          }),
          { abortSignal },
        ),
    );
    // AWS reports md5(part md5s)-N; some compatible stores the MD5 of the whole object.
    whole ??= this.wholeMd5.digest('hex');
    const ofParts = `${createHash('md5').update(Buffer.concat(this.partMd5s)).digest('hex')}-${this.partCount}`;
    this.storage.verifyEtag(this.path, response.ETag, [ofParts, whole]);
    const head = await this.storage.headObject(this.path);
    if (head?.size !== this.size) {
      throw new BarmanError(
        's3-size-mismatch',
        `${this.storage.location}/${this.path} holds ${head?.size ?? 'no'} bytes after the upload of ${this.size}`,
      );
    }
    await confirmObjectLock(this.storage, this.key, response.VersionId);
    return { size: this.size, md5: whole, parts: this.partCount };
  }

  /** False when S3 could not be reached (the caller's original error reports the failure). */
  async abort(): Promise<boolean> {
    // Parts still queued are not sent.
    this.failure ??= new Error('the upload was abandoned');
    await this.queue;
    await Promise.allSettled(this.inFlight);
    return this.storage.tryAbortUpload(this.key, this.uploadId);
  }
}

function callS3<T>(
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

function isNotFound(error: unknown): boolean {
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
