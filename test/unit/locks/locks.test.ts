import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  lockHolder,
  removeUnusedLockFiles,
  tryAcquireLock,
  tryAcquireSharedLock,
} from '../../../src/locks/index.js';

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

  test('a lock file this user cannot open is a clear error, not a crash', () => {
    const path = join(dir, '.main-cron.lock');
    writeFileSync(path, '');
    chmodSync(path, 0o400);
    // Others may enter the directory: the lock file's own mode is what refuses them.
    chmodSync(dir, 0o711);
    try {
      // root ignores file modes: drop to an unprivileged uid for the probe when we are root.
      if (process.getuid?.() === 0) {
        const probe = spawnSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `import { tryAcquireLock } from ${JSON.stringify(new URL('../../../src/locks/index.js', import.meta.url).href)};
             try { tryAcquireLock(${JSON.stringify(path)}); console.log('locked'); }
             catch (error) { console.log(error.code + ': ' + error.message); }`,
          ],
          { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' },
        );
        assert.match(
          probe.stdout,
          /^lock-unwritable: cannot open the lock file .*\.main-cron\.lock \(EACCES\)/,
        );
      } else {
        assert.throws(() => tryAcquireLock(path), /cannot open the lock file .* \(EACCES\)/);
      }
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  test('removeUnusedLockFiles removes free lock files only, never a held one', () => {
    const locks = join(dir, 'cleanup');
    mkdirSync(locks);
    const held = tryAcquireLock(join(locks, '.main-backup.lock'))!;
    const shared = tryAcquireSharedLock(join(locks, '.main-20260101T000000.lock'))!;
    tryAcquireLock(join(locks, '.main-cron.lock'))!.release();
    writeFileSync(join(locks, '.other-archive-wal.lock'), '1\n');
    writeFileSync(join(locks, 'main.conf'), '');
    assert.deepEqual(removeUnusedLockFiles(locks), [
      join(locks, '.main-cron.lock'),
      join(locks, '.other-archive-wal.lock'),
    ]);
    assert.deepEqual(readdirSync(locks).sort(), [
      '.main-20260101T000000.lock',
      '.main-backup.lock',
      'main.conf',
    ]);
    assert.equal(lockHolder(join(locks, '.main-backup.lock')), process.pid);
    held.release();
    shared.release();
    assert.equal(removeUnusedLockFiles(locks).length, 2);
    assert.deepEqual(removeUnusedLockFiles(join(dir, 'missing')), []);
    // A lock taken after the cleanup works on a new file.
    const again = tryAcquireLock(join(locks, '.main-backup.lock'));
    assert.ok(again);
    assert.equal(tryAcquireLock(join(locks, '.main-backup.lock')), null);
    again.release();
  });

  test('removeAndRelease removes the file while holding it; a lock taken after works on a new file', () => {
    const path = join(dir, '.main-20260202T000000.lock');
    const lock = tryAcquireLock(path)!;
    lock.removeAndRelease();
    assert.equal(readdirSync(dir).includes('.main-20260202T000000.lock'), false);
    lock.removeAndRelease(); // twice: nothing more to do
    const next = tryAcquireLock(path)!;
    assert.equal(lockHolder(path), process.pid);
    // A file that replaced ours under the same name is not ours to remove.
    rmSync(path);
    const other = tryAcquireLock(path)!;
    next.removeAndRelease();
    assert.equal(lockHolder(path), process.pid);
    other.release();
  });
});
