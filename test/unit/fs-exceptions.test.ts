/**
 * The exception list of the "Storage is the only way to backup and WAL files" lint rule
 * (eslint.fs-exceptions.js) cannot rot: every entry gives a reason and names a file of src/
 * outside src/storage/ that exists and really imports node:fs, and every such file is listed,
 * including through a dynamic import() or require() that the lint rule does not see.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';

interface FsException {
  path: string;
  reason: string;
}

const repoRoot = new URL('../../../', import.meta.url).pathname;
const FS_IMPORT = /(?:\bfrom\s+|\bimport\s+|\bimport\(\s*|\brequire\(\s*)['"](?:node:)?fs(?:\/promises)?['"]/;

async function loadExceptions(): Promise<FsException[]> {
  const module = (await import(new URL('eslint.fs-exceptions.js', `file://${repoRoot}`).href)) as {
    fsExceptions: FsException[];
  };
  return module.fsExceptions;
}

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(repoRoot, path).split(sep).join('/')] : [];
  });
}

const importsFs = (path: string) => FS_IMPORT.test(readFileSync(join(repoRoot, path), 'utf8'));
const outsideStorage = (path: string) => !path.startsWith('src/storage/');

test('every exception names an existing file of src/ outside src/storage/ that imports node:fs, with a reason', async () => {
  const exceptions = await loadExceptions();
  assert.ok(exceptions.length > 0);
  const seen = new Set<string>();
  for (const { path, reason } of exceptions) {
    assert.ok(!seen.has(path), `${path} is listed twice`);
    seen.add(path);
    assert.match(path, /^src\/.+\.ts$/, `${path}: one entry per file of src/`);
    assert.ok(outsideStorage(path), `${path}: src/storage/ needs no exception`);
    assert.ok(typeof reason === 'string' && reason.trim().length >= 15, `${path}: give the reason`);
    assert.ok(existsSync(join(repoRoot, path)), `${path} does not exist: remove its entry`);
    assert.ok(importsFs(path), `${path} no longer imports node:fs: remove its entry`);
  }
});

test('every file of src/ outside src/storage/ that imports node:fs is on the exception list', async () => {
  const listed = new Set((await loadExceptions()).map(({ path }) => path));
  const unlisted = sourceFiles(join(repoRoot, 'src'))
    .filter(outsideStorage)
    .filter((path) => importsFs(path) && !listed.has(path));
  assert.deepEqual(unlisted, [], 'use Storage (storageFor), or list the file with its reason');
});

test('the pattern sees static, dynamic and require imports of fs', () => {
  for (const line of [
    "import { readFile } from 'node:fs/promises';",
    "import type { Stats } from 'fs';",
    "import 'node:fs';",
    "const fs = await import('node:fs');",
    "const fs = require('fs/promises');",
  ])
    assert.ok(FS_IMPORT.test(line), line);
  for (const line of ["import { x } from './fs.js';", "import { y } from 'fs-ext';", "from 'node:fsx'"])
    assert.ok(!FS_IMPORT.test(line), line);
});
