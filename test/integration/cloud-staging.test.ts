/**
 * Bounded local staging of streamed uploads to object storage (WriteOptions.staging, the S3
 * driver's staging.ts) against s3rver: a 40 MiB stream goes up through part files never more
 * than the limit on disk (sampled every few milliseconds, and more than nothing: staging was
 * used), private (0600 files, a 0700 directory), read back byte for byte, the directory empty
 * afterwards; a stream aborted or broken mid-upload leaves no staged file and no open multipart
 * upload; a limit smaller than one part is refused, naming the option; files a dead process
 * left are removed at the next upload, those of a live one kept; posix ignores staging.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/index.js';
import { BarmanError } from '../../src/errors/index.js';
import type { CloudStaging, Storage } from '../../src/storage/index.js';
import { storageFor } from '../../src/storage/index.js';
import type { MultipartListener, S3Storage } from '../../src/storage/s3/index.js';
import type { S3Server } from '../harness/index.js';
import { makeTempDir, startS3Server, storageTestConfig } from '../harness/index.js';

const BUCKET = 'staging';
const MiB = 1024 * 1024;
const LOCATION: Location = { kind: 's3', bucket: BUCKET, prefix: 'staged', url: `s3://${BUCKET}/staged` };

/** `total` bytes of `data` in chunks of `chunk`, optionally failing after `failAfter` bytes. */
function streamOf(
  data: Buffer,
  options: { chunk?: number; failAfter?: number; pauseMs?: number } = {},
): Readable {
  const chunk = options.chunk ?? 256 * 1024;
  return Readable.from(
    (async function* () {
      for (let offset = 0; offset < data.length; offset += chunk) {
        if (options.failAfter !== undefined && offset >= options.failAfter)
          throw new Error('the source broke');
        if (options.pauseMs) await sleep(options.pauseMs);
        yield data.subarray(offset, offset + chunk);
      }
    })(),
  );
}

/** Samples the bytes and modes of the files in `directory` every 2 ms while `work` runs. */
async function watchDirectory<T>(
  directory: string,
  work: () => Promise<T>,
): Promise<{ result: PromiseSettledResult<T>; peak: number; fileModes: Set<number>; dirModes: Set<number> }> {
  let peak = 0;
  const fileModes = new Set<number>();
  const dirModes = new Set<number>();
  const sample = () => {
    if (!existsSync(directory)) return;
    try {
      dirModes.add(statSync(directory).mode & 0o777);
      let bytes = 0;
      for (const name of readdirSync(directory)) {
        const info = statSync(join(directory, name), { throwIfNoEntry: false });
        if (!info) continue;
        bytes += info.size;
        fileModes.add(info.mode & 0o777);
      }
      peak = Math.max(peak, bytes);
    } catch {
      // A file removed between the listing and its stat.
    }
  };
  const timer = setInterval(sample, 2);
  const [result] = await Promise.allSettled([work()]);
  clearInterval(timer);
  sample();
  return { result, peak, fileModes, dirModes };
}

describe('bounded local staging of streamed uploads (s3rver)', { concurrency: 1 }, () => {
  let s3: S3Server;
  let storage: S3Storage;
  let dir: string;

  /** Open uploads no AbortMultipartUpload was sent for (s3rver keeps aborted ones, answering 405). */
  const orphanUploads = (): string[] => {
    const uploads = join(s3.dataDir, BUCKET, '._S3rver_uploads');
    const open = existsSync(uploads) ? readdirSync(uploads) : [];
    const log = readFileSync(join(s3.dataDir, '..', 's3rver.log'), 'utf8');
    const aborted = new Set(
      [...log.matchAll(/uploadId=([0-9a-f]+)[^\n]*AbortMultipartUpload/g)].map((match) => match[1]!),
    );
    return open.filter((id) => !aborted.has(id));
  };
  const listener = () => {
    const events: string[] = [];
    const multipartListener: MultipartListener = {
      started: (_key, uploadId) => Promise.resolve(void events.push(`started ${uploadId}`)),
      ended: (_key, uploadId) => Promise.resolve(void events.push(`ended ${uploadId}`)),
    };
    return { events, multipartListener };
  };
  const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

  before(
    async () => {
      s3 = await startS3Server({ buckets: [BUCKET] });
      Object.assign(process.env, s3.env);
      dir = await makeTempDir('cloud-staging');
      // 5 MiB parts, two in flight.
      storage = (await storageFor(storageTestConfig(s3), LOCATION, { s3: { maxAttempts: 2 } })) as S3Storage;
    },
    { timeout: 60_000 },
  );
  after(async () => {
    storage?.close();
    await s3?.stop();
  });

  it('uploads 40 MiB through part files, never more than the limit on disk, and leaves none', async () => {
    const staging: CloudStaging = { directory: join(dir, 'big', 'staging'), maxBytes: 12 * MiB };
    const data = randomBytes(40 * MiB);
    const { events, multipartListener } = listener();
    const watched = await watchDirectory(staging.directory, () =>
      storage.upload('base/big.tar', streamOf(data), { staging, multipartListener }),
    );
    assert.equal(
      watched.result.status,
      'fulfilled',
      String((watched.result as PromiseRejectedResult).reason),
    );
    const result = (watched.result as PromiseFulfilledResult<{ size: number; parts: number }>).value;
    assert.equal(result.size, data.length);
    assert.equal(result.parts, 8);
    assert.ok(watched.peak > 0, 'parts were staged on disk');
    assert.ok(watched.peak <= staging.maxBytes, `${watched.peak} bytes staged at once, above the limit`);
    assert.deepEqual([...watched.fileModes], [0o600], 'staged files are private');
    assert.deepEqual([...watched.dirModes], [0o700], 'the staging directory is private');
    assert.deepEqual(readdirSync(staging.directory), [], 'no staged file is left');
    assert.equal(md5(await storage.readFile('base/big.tar')), md5(data));
    assert.deepEqual(
      events.map((event) => event.split(' ')[0]),
      ['started', 'ended'],
      'the multipart upload was completed',
    );
  });

  it('an upload aborted mid-stream leaves no staged file and aborts its multipart upload', async () => {
    const staging: CloudStaging = { directory: join(dir, 'abort'), maxBytes: 12 * MiB };
    const controller = new AbortController();
    const aborting = (await storageFor(storageTestConfig(s3), LOCATION, {
      s3: { maxAttempts: 2 },
      signal: controller.signal,
    })) as S3Storage;
    const { events, multipartListener } = listener();
    try {
      const data = randomBytes(60 * MiB);
      const upload = aborting.upload('base/aborted.tar', streamOf(data, { pauseMs: 5 }), {
        staging,
        multipartListener,
      });
      upload.catch(() => undefined);
      // Aborted once the multipart upload has started and parts are staged.
      const deadline = Date.now() + 60_000;
      while (!events.some((event) => event.startsWith('started')) && Date.now() < deadline) await sleep(10);
      assert.ok(
        events.some((event) => event.startsWith('started')),
        'the multipart upload started',
      );
      controller.abort();
      await assert.rejects(upload);
    } finally {
      aborting.close();
    }
    assert.deepEqual(readdirSync(staging.directory), [], 'no staged file is left');
    assert.deepEqual(
      events.map((event) => event.split(' ')[0]),
      ['started', 'ended'],
      'the multipart upload was aborted (S3 answered)',
    );
    assert.deepEqual(orphanUploads(), []);
    assert.equal(await storage.stat('base/aborted.tar'), null);
  });

  it('a source that breaks mid-stream leaves no staged file and aborts its multipart upload', async () => {
    const staging: CloudStaging = { directory: join(dir, 'broken'), maxBytes: 12 * MiB };
    const { events, multipartListener } = listener();
    await assert.rejects(
      storage.upload('base/broken.tar', streamOf(randomBytes(30 * MiB), { failAfter: 17 * MiB }), {
        staging,
        multipartListener,
      }),
      /the source broke/,
    );
    assert.deepEqual(readdirSync(staging.directory), []);
    assert.deepEqual(
      events.map((event) => event.split(' ')[0]),
      ['started', 'ended'],
    );
    assert.deepEqual(orphanUploads(), []);
    assert.equal(await storage.stat('base/broken.tar'), null);
  });

  it('refuses a limit smaller than one part, naming the option, before anything is staged or started', async () => {
    const staging: CloudStaging = { directory: join(dir, 'small'), maxBytes: 4 * MiB };
    const { events, multipartListener } = listener();
    await assert.rejects(
      storage.upload('base/small.tar', streamOf(randomBytes(12 * MiB)), { staging, multipartListener }),
      (error: unknown) => {
        assert.ok(error instanceof BarmanError);
        assert.equal(error.code, 'cloud-staging-too-small');
        assert.match(
          error.message,
          /cloud staging limit \(cloud_staging_max_size, or --cloud-staging-max-size\) of 4\.0 MiB is smaller than one upload part \(5\.0 MiB/,
        );
        return true;
      },
    );
    assert.deepEqual(events, []);
    assert.equal(existsSync(staging.directory), false);
  });

  it('removes the staged files a dead process left, keeps those of a live one, and stages a short stream too', async () => {
    const staging: CloudStaging = { directory: join(dir, 'leftovers'), maxBytes: 12 * MiB };
    const dead = spawnSync('true').pid;
    mkdirSync(staging.directory, { mode: 0o700 });
    const names = [`barman-ts-staged-${dead}-3`, `barman-ts-staged-${process.ppid}-4`, 'unrelated-file'];
    for (const name of names) writeFileSync(join(staging.directory, name), 'x', { mode: 0o600 });
    const data = randomBytes(MiB + 7);
    const watched = await watchDirectory(staging.directory, () =>
      storage.upload('base/short.tar', streamOf(data), { staging }),
    );
    assert.equal(watched.result.status, 'fulfilled');
    assert.equal((watched.result as PromiseFulfilledResult<{ parts: number }>).value.parts, 1);
    assert.deepEqual(readdirSync(staging.directory).sort(), names.slice(1).sort());
    assert.equal(md5(await storage.readFile('base/short.tar')), md5(data));
  });

  it('posix writes ignore staging: they already go to local files', async () => {
    const root = join(dir, 'posix-root');
    const posix: Storage = await storageFor(storageTestConfig(null), { kind: 'posix', path: root });
    const staging: CloudStaging = { directory: join(dir, 'posix-staging'), maxBytes: 12 * MiB };
    const data = randomBytes(6 * MiB);
    await posix.writeFile('base/file', streamOf(data), { staging });
    assert.equal(md5(readFileSync(join(root, 'base', 'file'))), md5(data));
    assert.equal(existsSync(staging.directory), false);
  });
});
