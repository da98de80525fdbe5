import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isLockHeld, tryAcquireLock } from '../../../src/locks/index.js';
import {
  flockHolders,
  listServerProcesses,
  stopLockHolder,
  taskOfLockName,
} from '../../../src/locks/processes.js';

describe('the processes of a server, from its lock files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-processes-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('task lock names: exact, so that pg never claims the locks of pg-2', () => {
    assert.equal(taskOfLockName('pg', '.pg-backup.lock'), 'backup');
    assert.equal(taskOfLockName('pg', '.pg-receive-wal.lock'), 'receive-wal');
    assert.equal(taskOfLockName('pg', '.pg-cloud-wal-upload.lock'), 'cloud-wal-upload');
    assert.equal(taskOfLockName('pg', '.pg-20250101T000000-sync-backup.lock'), 'sync-backup');
    assert.equal(taskOfLockName('pg', '.pg-2-backup.lock'), null);
    assert.equal(taskOfLockName('pg-2', '.pg-2-backup.lock'), 'backup');
    assert.equal(taskOfLockName('pg', '.pg-2-20250101T000000-sync-backup.lock'), null);
    assert.equal(taskOfLockName('pg', '.pg-sync-backup.lock'), null);
    // Locks that are not processes: a backup's, the xlogdb's, the WAL removal's.
    assert.equal(taskOfLockName('pg', '.pg-20250101T000000.lock'), null);
    assert.equal(taskOfLockName('pg', '.pg-xlogdb.lock'), null);
    assert.equal(taskOfLockName('pg', '.pg-wal-removal.lock'), null);
  });

  test('only held locks are processes; probing writes nothing', () => {
    const held = tryAcquireLock(join(dir, '.pg-backup.lock'));
    assert.ok(held);
    writeFileSync(join(dir, '.pg-cron.lock'), '999999999\n');
    const listed = listServerProcesses(dir, 'pg');
    assert.deepEqual(listed.processes, [
      { pid: process.pid, task: 'backup', lockFile: join(dir, '.pg-backup.lock') },
    ]);
    assert.equal(
      readFileSync(join(dir, '.pg-cron.lock'), 'utf8'),
      '999999999\n',
      'the free lock left as it was',
    );
    assert.equal(isLockHeld(join(dir, '.pg-missing.lock')), false);
    assert.deepEqual(listServerProcesses(join(dir, 'nowhere'), 'pg'), { processes: [], unreadable: [] });
    held.release();
  });

  test("the kernel's flock table names the holder of a lock file", () => {
    const path = join(dir, '.pg-archive-wal.lock');
    assert.deepEqual(flockHolders(path), null, 'no file: nothing to tell');
    const held = tryAcquireLock(path);
    assert.ok(held);
    assert.deepEqual(flockHolders(path), [process.pid]);
    held.release();
    assert.deepEqual(flockHolders(path), []);
  });

  test('stopping the holder of a free lock signals nobody', async () => {
    const path = join(dir, '.pg-sync-wal.lock');
    writeFileSync(path, `${process.pid}\n`);
    assert.deepEqual(await stopLockHolder(path, { waitMs: 100, task: 'sync-wal' }), { kind: 'ended' });
  });
});
