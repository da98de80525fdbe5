import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { createRateLimiter, pacedReadable, throttledStream } from '../../../src/util/throttle.js';

describe('bandwidth limits', () => {
  test('no limit: nothing waits', async () => {
    const started = Date.now();
    await createRateLimiter(null)(100 * 1024 * 1024);
    assert.ok(Date.now() - started < 50);
  });

  test('a stream paced at 1000 KB/s takes about 300 ms for 300 KiB, and keeps every byte', async () => {
    const data = Buffer.alloc(300 * 1024, 7);
    const chunks = Array.from({ length: 30 }, (_, index) =>
      data.subarray(index * 10240, (index + 1) * 10240),
    );
    const started = Date.now();
    const out: Buffer[] = [];
    for await (const chunk of Readable.from(chunks).pipe(throttledStream(createRateLimiter(1000))))
      out.push(chunk as Buffer);
    const elapsed = Date.now() - started;
    assert.ok(Buffer.concat(out).equals(data));
    // 300 KiB at 1000 KiB/s = 300 ms; the first chunk goes at once.
    assert.ok(elapsed >= 250, `paced: ${elapsed} ms`);
    assert.ok(elapsed < 2000, `not stalled: ${elapsed} ms`);
  });

  test('an aborted wait ends at once with the abort reason', async () => {
    const controller = new AbortController();
    const limiter = createRateLimiter(1, controller.signal);
    await limiter(1024); // the first kilobyte is free
    const waiting = limiter(1024 * 1024);
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await assert.rejects(waiting, /stop/);
  });

  test('pacedReadable passes every byte, fails with its source and releases it when read no more', async () => {
    const limiter = createRateLimiter(1024 * 1024);
    const chunks: Buffer[] = [];
    for await (const chunk of pacedReadable(Readable.from([Buffer.from('ab'), Buffer.from('cd')]), limiter))
      chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'abcd');

    const failing = new Readable({ read() {} });
    const paced = pacedReadable(failing, limiter);
    const failure = new Promise((_, reject) => paced.on('error', reject));
    failing.destroy(new Error('disk gone'));
    await assert.rejects(failure, /disk gone/);

    const endless = new Readable({ read() {} });
    const abandoned = pacedReadable(endless, limiter);
    abandoned.destroy();
    await new Promise((resolve) => endless.once('close', resolve));
    assert.ok(endless.destroyed);
  });
});
