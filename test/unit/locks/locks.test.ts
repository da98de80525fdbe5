import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { lockHolder, tryAcquireLock, tryAcquireSharedLock } from '../../../src/locks/index.js';

// flock() locks belong to open file descriptions, so two opens in one process conflict like two
// processes would.
describe('lock files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-locks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('an exclusive lock excludes everyone and records its pid', () => {
    const path = join(dir, '.main-backup.lock');
    const held = tryAcquireLock(path);
    assert.ok(held);
    assert.equal(tryAcquireLock(path), null);
    assert.equal(tryAcquireSharedLock(path), null);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.equal(lockHolder(path), process.pid);
    held.release();
    held.release();
    assert.equal(lockHolder(path), null);
  });

  test('shared holds coexist and keep an exclusive lock out until the last is released', () => {
    const path = join(dir, '.main-20260101T000000.lock');
    const first = tryAcquireSharedLock(path);
    const second = tryAcquireSharedLock(path);
    assert.ok(first && second);
    assert.equal(tryAcquireLock(path), null);
    first.release();
    assert.equal(tryAcquireLock(path), null);
    second.release();
    const exclusive = tryAcquireLock(path);
    assert.ok(exclusive);
    exclusive.release();
  });
});
