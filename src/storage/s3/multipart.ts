/** A multipart upload of the s3 driver: bounded parts in flight, checked ETags, abort on failure. */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { BarmanError } from '../../errors/index.js';
import { callS3 } from './errors.js';
import type { S3Storage, UploadResult } from './index.js';
import { confirmObjectLock, objectLockParameters } from './object-lock.js';

/** One multipart upload: parts go up `partConcurrency` at a time, in order of their numbers. */
export class MultipartUpload {
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
