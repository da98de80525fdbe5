/**
 * The dependency direction of docs/architecture.md, checked on the compiled import graph. Each
 * folder of src/ has a rank; a file may import a folder of a higher rank (further down), never
 * one of a lower rank, nor another folder of its own rank unless ALLOWED names the pair, the
 * modules and why. config and output are leaves.
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
  // Speaks to PostgreSQL and names its WAL positions with wal/'s LSN math.
  postgres: 5,
  wal: 6,
  catalog: 7,
  process: 8,
  ssh: 8,
  locks: 8,
  // The machinery backups, recoveries and WAL archiving share: tar, compression, tree copies.
  transfer: 9,
  storage: 10,
  errors: 11,
  // The logger redacts secrets and keeps its file private with util's helpers.
  log: 11,
  util: 12,
};
/** Leaves: importable from anywhere; they import only errors and util. */
const LEAVES = new Set(['config', 'output']);

/**
 * The only imports allowed against the rank (same rank, or upward): each names the folders, the
 * modules imported (paths under src/) and why. Keep it short; a new entry needs a reason.
 */
const ALLOWED: ReadonlyArray<{ from: string; to: string; modules: readonly string[]; why: string }> = [
  {
    from: 'catalog',
    to: 'wal',
    modules: ['wal/names.ts', 'wal/xlogdb.ts'],
    why:
      "backup.info's WAL fields and the WAL usage of a backup need WAL-name math and the xlog.db " +
      'entry type: pure modules that import nothing but each other',
  },
];

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
      const targetPath = join(file, '..', match[1]!);
      const target = folderOf(targetPath);
      if (target === from || target.endsWith('.js') || target.endsWith('.ts')) continue;
      const module = relative(srcRoot, targetPath).replace(/\.js$/, '.ts');
      const allowed = LEAVES.has(from)
        ? target === 'errors' || target === 'util' || LEAVES.has(target)
        : LEAVES.has(target) ||
          (RANK[target] ?? 0) > (RANK[from] ?? 0) ||
          ALLOWED.some(
            (entry) => entry.from === from && entry.to === target && entry.modules.includes(module),
          );
      if (!allowed) violations.push(`${relative(srcRoot, file)} imports src/${module}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the allowed exceptions import only pure modules and make no cycle', () => {
  for (const entry of ALLOWED) {
    assert.ok(entry.why.length > 20, `${entry.from} -> ${entry.to} needs a reason`);
    for (const module of entry.modules) {
      const text = readFileSync(join(srcRoot, module), 'utf8');
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(srcRoot, join(srcRoot, module, '..', match[1]!)).replace(/\.js$/, '.ts');
        // An allowed module importing more would pull the importer into the exception's folder.
        assert.ok(entry.modules.includes(target), `${module} (allowed for ${entry.from}) imports ${target}`);
      }
    }
  }
});
