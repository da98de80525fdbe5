/**
 * PosixStorage.readHead, read on file descriptors (the combine reads ~2,000 INCREMENTAL headers
 * with it): the first bytes of a file, no more than the file has, and a missing file refused
 * with its code and its path.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PosixStorage } from '../../../src/storage/index.js';

const root = mkdtempSync(join(tmpdir(), 'barman-ts-read-head-'));
after(() => rmSync(root, { recursive: true, force: true }));
const storage = new PosixStorage(root);

test('readHead returns the first bytes, and only those the file has', async () => {
  writeFileSync(join(root, 'header'), Buffer.from('INCREMENTAL-HEADER'));
  assert.equal((await storage.readHead('header', 11)).toString(), 'INCREMENTAL');
  assert.equal((await storage.readHead('header', 8192)).toString(), 'INCREMENTAL-HEADER');
  assert.equal((await storage.readHead('header', 0)).length, 0);
});

test('readHead of a missing file rejects with ENOENT naming the file', async () => {
  await assert.rejects(storage.readHead('missing/INCREMENTAL.16384', 12), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.path, join(root, 'missing/INCREMENTAL.16384'));
    return true;
  });
});
