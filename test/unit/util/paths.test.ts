import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSameOrInside, physicalPath } from '../../../src/util/paths.js';

describe('physicalPath and isSameOrInside', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'barman-ts-paths-')));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'a/b'), { recursive: true });
  mkdirSync(join(root, 'elsewhere/deep'), { recursive: true });
  symlinkSync(join(root, 'elsewhere/deep'), join(root, 'a/link'));

  it('resolves links, ".", ".." and repeated slashes; ".." after a link leaves its target', () => {
    assert.equal(physicalPath(`${root}/a//./b/`), `${root}/a/b`);
    assert.equal(physicalPath(`${root}/a/link`), `${root}/elsewhere/deep`);
    assert.equal(physicalPath(`${root}/a/link/..`), `${root}/elsewhere`);
  });

  it('resolves the nearest existing ancestor of a path that does not exist yet', () => {
    assert.equal(physicalPath(`${root}/a/link/new/dir`), `${root}/elsewhere/deep/new/dir`);
    assert.equal(physicalPath(`${root}/a/link/new/../x`), `${root}/elsewhere/deep/x`);
    assert.equal(physicalPath('/nonexistent-root-dir/x/../y'), '/nonexistent-root-dir/y');
  });

  it('compares whole path components', () => {
    assert.ok(isSameOrInside('/srv/a', '/srv/a'));
    assert.ok(isSameOrInside('/srv/a/b', '/srv/a'));
    assert.ok(!isSameOrInside('/srv/ab', '/srv/a'));
    assert.ok(!isSameOrInside('/srv', '/srv/a'));
    assert.ok(isSameOrInside('/srv', '/'));
  });
});
