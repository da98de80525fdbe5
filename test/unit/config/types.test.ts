import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerConfig } from '../../../src/config/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const check = <T extends true>(_: T) => _;

test('resolved option types follow the option table (defaults make values non-null)', () => {
  assert.equal(check<Equal<ServerConfig['parallel_jobs'], number>>(true), true);
  assert.equal(check<Equal<ServerConfig['conninfo'], string>>(true), true);
  assert.equal(check<Equal<ServerConfig['ssh_command'], string | null>>(true), true);
  assert.equal(check<Equal<ServerConfig['archiver'], boolean>>(true), true);
  assert.equal(check<Equal<ServerConfig['reuse_backup'], 'off' | 'copy' | 'link' | null>>(true), true);
});
