/**
 * The s3 driver's uploads: one PutObject for what fits in a part, multipart uploads with bounded
 * memory or bounded local staging (staging.ts) for streams.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CloudStaging } from '../index.js';
import { callS3 } from './errors.js';
import type { S3Storage, S3WriteOptions, UploadResult } from './index.js';
import { MultipartUpload } from './multipart.js';
import { objectLockParameters } from './object-lock.js';
import { PartAssembler, partSizeAt } from './parts.js';
import type { StagedPart } from './staging.js';
import { StagingArea } from './staging.js';

/**
 * Uploads `data` as the object at `path` and resolves once S3 has stored and acknowledged
 * every byte with matching checksums. Readable sources shorter than one part go up as one
 * PutObject; longer ones as a multipart upload, aborted when anything fails.
 */
export async function uploadObject(
  storage: S3Storage,
  path: string,
  data: Buffer | string | Readable,
  options: S3WriteOptions = {},
): Promise<UploadResult> {
  const partSize = options.partSize ?? Math.max(storage.settings.partSize, options.minPartSize ?? 0);
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    return putObject(storage, path, body, options.metadata);
  }
  if (options.staging) return uploadStaged(storage, path, data, options, options.staging, partSize);
  // Released part buffers are reused: the parts in flight plus the one being filled.
  const assembler = new PartAssembler(
    (index) => partSizeAt(partSize, index),
    storage.settings.partConcurrency + 1,
  );
  let multipart: MultipartUpload | undefined;
  try {
    for await (const chunk of data) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      for (const part of assembler.push(buffer)) {
        if (!multipart) {
          multipart = await MultipartUpload.start(storage, path, options.metadata);
          await options.multipartListener?.started(multipart.key, multipart.uploadId);
        }
        await multipart.addPart(part, () => assembler.release(part));
      }
    }
    const rest = assembler.rest();
    if (!multipart) return await putObject(storage, path, rest, options.metadata);
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
async function uploadStaged(
  storage: S3Storage,
  path: string,
  data: Readable,
  options: S3WriteOptions,
  staging: CloudStaging,
  partSize: number,
): Promise<UploadResult> {
  const area = await StagingArea.open(staging, partSizeAt(partSize, 0), storage.settings.partConcurrency);
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
          multipart = await MultipartUpload.start(storage, path, options.metadata);
          await options.multipartListener?.started(multipart.key, multipart.uploadId);
        }
        send(full);
      }
    }
    if (!multipart) {
      const rest: StagedPart | null = part;
      if (rest) await rest.close();
      return await putObject(storage, path, rest ? await area.read(rest) : Buffer.alloc(0), options.metadata);
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

async function putObject(
  storage: S3Storage,
  path: string,
  body: Buffer,
  metadata?: Record<string, string>,
): Promise<UploadResult> {
  const md5 = createHash('md5').update(body).digest();
  const response = await callS3(storage, `upload ${storage.location}/${path}`, (abortSignal) =>
    storage.client.send(
      new PutObjectCommand({
        Bucket: storage.settings.bucket,
        Key: storage.key(path),
        Body: body,
        ContentLength: body.length,
        ContentMD5: md5.toString('base64'),
        Metadata: metadata,
        ...storage.encryption(),
        ...objectLockParameters(storage.settings),
      }),
      { abortSignal },
    ),
  );
  storage.verifyEtag(path, response.ETag, [md5.toString('hex')]);
  return { size: body.length, md5: md5.toString('hex'), parts: 1 };
}
