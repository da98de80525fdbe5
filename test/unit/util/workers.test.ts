import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWorkers } from '../../../src/util/workers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('all tasks run, at most `count` at a time', async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await runWorkers(3, [1, 2, 3, 4, 5, 6, 7], async (task) => {
    running += 1;
    peak = Math.max(peak, running);
    await sleep(5);
    seen.push(task);
    running -= 1;
  });
  assert.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(peak, 3);
});

test('after a failure no task starts, running ones finish before the error is thrown', async () => {
  const finished: number[] = [];
  let stillRunning = 0;
  await assert.rejects(
    runWorkers(2, [1, 2, 3, 4, 5], async (task) => {
      stillRunning += 1;
      if (task === 1) {
        stillRunning -= 1;
        throw new Error('disk full');
      }
      await sleep(30);
      finished.push(task);
      stillRunning -= 1;
    }),
    /disk full/,
  );
  assert.equal(stillRunning, 0, 'nothing is still writing when the error arrives');
  assert.deepEqual(finished, [2]);
});
