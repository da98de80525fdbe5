import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  bandwidthFor,
  createRateLimiter,
  createStartLimiter,
  pacedReadable,
  throttledStream,
} from '../../../src/util/throttle.js';
import { runWorkers } from '../../../src/util/workers.js';

describe('bandwidth limits', () => {
  test('no limit: nothing waits', async () => {
    // Settles before any timer can fire, however loaded the machine (a wall-clock bound flaked).
    const first = await Promise.race([
      createRateLimiter(null)(100 * 1024 * 1024).then(() => 'limiter'),
      new Promise((resolve) => setTimeout(() => resolve('timer'), 0)),
    ]);
    assert.equal(first, 'limiter');
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

describe('parallel_jobs_start_batch_*: the pace at which copy workers start', () => {
  test('at most `size` starts in any window of `periodSeconds`, in order', async () => {
    const limiter = createStartLimiter({ size: 2, periodSeconds: 0.3 });
    const t0 = Date.now();
    const starts = await Promise.all(Array.from({ length: 5 }, () => limiter().then(() => Date.now() - t0)));
    assert.deepEqual(
      [...starts].sort((a, b) => a - b),
      starts,
      'in call order',
    );
    // Relative to the first start: a loaded machine may delay both, not one period apart.
    assert.ok(starts[1]! - starts[0]! < 200, `the first batch starts at once: ${starts.join(', ')}`);
    assert.ok(
      starts[2]! >= 290 && starts[3]! >= 290,
      `the second batch after one period: ${starts.join(', ')}`,
    );
    assert.ok(starts[4]! >= 590, `the third after two: ${starts.join(', ')}`);
    for (let index = 2; index < starts.length; index += 1)
      assert.ok(starts[index]! - starts[index - 2]! >= 290, 'never more than 2 per 0.3 s');
  });

  test('runWorkers starts its workers through the limiter; an abort ends the wait', async () => {
    const limiter = createStartLimiter({ size: 1, periodSeconds: 0.2 });
    const started: number[] = [];
    const t0 = Date.now();
    await runWorkers(
      3,
      [1, 2, 3],
      async () => {
        started.push(Date.now() - t0);
        await new Promise((resolve) => setTimeout(resolve, 450));
      },
      undefined,
      limiter,
    );
    assert.equal(started.length, 3);
    assert.ok(started[1]! >= 190 && started[2]! >= 390, started.join(', '));
    const abort = new AbortController();
    const slow = createStartLimiter({ size: 1, periodSeconds: 60 }, abort.signal);
    await slow();
    const waiting = slow();
    abort.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
  });

  test('bandwidthFor: a named tablespace has its own limit, the others the overall one', () => {
    assert.equal(bandwidthFor(100, { tbs1: 10 }, 'tbs1'), 10);
    assert.equal(bandwidthFor(100, { tbs1: 10 }, 'tbs2'), 100);
    assert.equal(bandwidthFor(100, { tbs1: 10 }, null), 100);
    assert.equal(bandwidthFor(null, { tbs1: 10 }, 'tbs1'), 10);
    assert.equal(bandwidthFor(0, null, 'tbs1'), null);
    assert.equal(bandwidthFor(100, { tbs1: 0 }, 'tbs1'), null, '0: no limit for that tablespace');
  });
});
