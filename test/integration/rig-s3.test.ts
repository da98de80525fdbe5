// Proves the S3 part of the test rig: s3rver takes a streamed multipart upload from the AWS SDK
// and serves the same bytes back.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startS3Server, type S3Server } from '../harness/index.js';

const MiB = 1024 * 1024;
const OBJECT_SIZE = 40 * MiB;
const PART_SIZE = 8 * MiB;
const BUCKET = 'test';
const KEY = 'rig/stream-40MiB.bin';

describe('rig: s3rver', () => {
  let s3: S3Server;
  let client: S3Client;
  let uploadedSha256: string;

  before(
    async () => {
      s3 = await startS3Server({ buckets: [BUCKET] });
      client = new S3Client(s3.clientConfig);
    },
    { timeout: 30_000 },
  );
  after(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('takes a streamed multipart upload', { timeout: 120_000 }, async () => {
    const source = pseudoRandomStream(OBJECT_SIZE);
    const upload = new Upload({
      client,
      params: { Bucket: BUCKET, Key: KEY, Body: source.stream },
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const parts = new Set<number>();
    upload.on('httpUploadProgress', ({ part }) => {
      if (part !== undefined) parts.add(part);
    });
    await upload.done();
    uploadedSha256 = source.sha256();
    assert.equal(parts.size, OBJECT_SIZE / PART_SIZE, 'one progress event per part');
  });

  it('reports the object size in HeadObject', { timeout: 10_000 }, async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }));
    assert.equal(head.ContentLength, OBJECT_SIZE);
  });

  it('lists the object with ListObjectsV2', { timeout: 10_000 }, async () => {
    const listing = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'rig/' }));
    assert.deepEqual(
      listing.Contents?.map(({ Key, Size }) => ({ Key, Size })),
      [{ Key: KEY, Size: OBJECT_SIZE }],
    );
  });

  it('serves the same bytes back with GetObject', { timeout: 60_000 }, async () => {
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    assert.ok(object.Body instanceof Readable, 'GetObject body is a Node stream');
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of object.Body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    assert.equal(size, OBJECT_SIZE);
    assert.equal(hash.digest('hex'), uploadedSha256);
  });
});

/** `size` bytes of deterministic noise (an AES-CTR keystream), hashed as they are read. */
function pseudoRandomStream(size: number): { stream: Readable; sha256: () => string } {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(MiB);
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const chunk = cipher.update(zeros.subarray(0, Math.min(MiB, size - produced)));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}
