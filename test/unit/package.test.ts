/**
 * The published package holds what its commands need: every file bin/*.js imports is inside a
 * directory of package.json's `files` (npm pack of a package without dist/bundle/ installed a
 * `barman` that failed with ERR_MODULE_NOT_FOUND).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('package.json files cover every module the bin/ entry points import', () => {
  const { files, bin } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    files: string[];
    bin: Record<string, string>;
  };
  const included = (path: string) => files.some((entry) => path === entry || path.startsWith(entry));
  const entries = readdirSync(join(ROOT, 'bin')).filter((name) => name.endsWith('.js'));
  assert.deepEqual(
    Object.values(bin)
      .map((path) => path.replace(/^bin\//, ''))
      .sort(),
    entries.sort(),
  );
  for (const entry of entries) {
    const source = readFileSync(join(ROOT, 'bin', entry), 'utf8');
    const imports = [...source.matchAll(/from '(\.\.?\/[^']+)'/g)].map((match) =>
      normalize(join('bin', match[1]!)),
    );
    assert.ok(imports.length > 0, `bin/${entry} imports its implementation`);
    for (const path of imports)
      assert.ok(included(path), `bin/${entry} imports ${path}, which npm pack leaves out`);
  }
});
