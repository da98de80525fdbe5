import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { isProcessAlive } from '../../../src/util/process-alive.js';

test('isProcessAlive: this process is alive, a finished child is not', () => {
  assert.equal(isProcessAlive(process.pid), true);
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(child.status, 0);
  assert.equal(isProcessAlive(child.pid), false);
});

test('isProcessAlive: init (pid 1) is alive', () => {
  assert.equal(isProcessAlive(1), true);
});

test('isProcessAlive: an unreadable pid is not proof of death', () => {
  for (const pid of [0, -5, Number.NaN, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
    assert.equal(isProcessAlive(pid), true, String(pid));
  }
});
