/**
 * The dependency direction of docs/architecture.md, checked on the compiled import graph:
 * bin -> cli -> commands -> {executors, recovery, retention, hooks} -> {catalog, wal, postgres,
 * process, ssh, locks} -> storage -> {errors, log, util}; config and output are leaves.
 * Folders of one group may import each other (catalog uses wal math).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';

const srcRoot = new URL('../../../src/', import.meta.url).pathname;

const RANK: Record<string, number> = {
  cli: 1,
  scheduler: 2,
  commands: 3,
  executors: 4,
  recovery: 4,
  retention: 4,
  hooks: 4,
  catalog: 5,
  wal: 5,
  postgres: 5,
  process: 5,
  ssh: 5,
  locks: 5,
  transfer: 6,
  storage: 6,
  errors: 7,
  log: 7,
  util: 7,
};
/** Leaves: importable from anywhere; they import only errors and util. */
const LEAVES = new Set(['config', 'output']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  return relative(srcRoot, path).split(sep)[0]!;
}

test('every folder of src/ has a place in the dependency order', () => {
  const folders = new Set(sourceFiles(srcRoot).map(folderOf));
  for (const folder of folders) {
    assert.ok(folder in RANK || LEAVES.has(folder), `src/${folder} is not in the architecture`);
  }
});

test('imports point downward only', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const from = folderOf(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = folderOf(join(file, '..', match[1]!));
      if (target === from || target.endsWith('.js') || target.endsWith('.ts')) continue;
      const allowed = LEAVES.has(from)
        ? target === 'errors' || target === 'util' || LEAVES.has(target)
        : LEAVES.has(target) || (RANK[target] ?? 0) >= (RANK[from] ?? 0);
      if (!allowed) violations.push(`${relative(srcRoot, file)} imports src/${target}`);
    }
  }
  assert.deepEqual(violations, []);
});
