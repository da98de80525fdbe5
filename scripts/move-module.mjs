#!/usr/bin/env node
// Moves TypeScript modules (`git mv`) and rewrites every relative import of them, and the moved
// files' own relative imports, in src/, test/, bench/ and scripts/. Re-runnable on a branch that
// still has the old paths (for merges): `node scripts/move-module.mjs OLD NEW [OLD NEW…]`, where
// each pair is a file (`src/a/b.ts`) or a folder (`src/a/c`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const pairs = process.argv.slice(2);
if (pairs.length === 0 || pairs.length % 2 !== 0) {
  console.error('usage: node scripts/move-module.mjs OLD NEW [OLD NEW…]');
  process.exit(2);
}

function sources(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
    return /\.(ts|mts|mjs|js)$/.test(entry.name) ? [path] : [];
  });
}

/** Old absolute .ts path -> new absolute .ts path, for every file moved. */
const moved = new Map();
for (let index = 0; index < pairs.length; index += 2) {
  const from = resolve(root, pairs[index]);
  const to = resolve(root, pairs[index + 1]);
  const files = statSync(from).isDirectory() ? sources(from) : [from];
  for (const file of files)
    moved.set(file, join(to, relative(statSync(from).isDirectory() ? from : file, file)));
}
const newPath = (path) => moved.get(path) ?? path;

const files = ['src', 'test', 'bench', 'scripts'].flatMap((dir) => sources(join(root, dir)));
const rewrites = new Map();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const fileAfter = newPath(file);
  const updated = text.replace(
    /((?:from|import)\s*\(?\s*')(\.{1,2}\/[^']+)(')/g,
    (whole, head, specifier, tail) => {
      const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
      if (!specifier.endsWith('.js') || (!moved.has(target) && !moved.has(file))) return whole;
      let next = relative(dirname(fileAfter), newPath(target)).replace(/\.ts$/, '.js');
      if (!next.startsWith('.')) next = `./${next}`;
      return `${head}${next}${tail}`;
    },
  );
  if (updated !== text) rewrites.set(file, updated);
}
for (const [file, text] of rewrites) writeFileSync(file, text);
for (let index = 0; index < pairs.length; index += 2) {
  execFileSync('mkdir', ['-p', dirname(resolve(root, pairs[index + 1]))]);
  execFileSync('git', ['mv', pairs[index], pairs[index + 1]], { cwd: root, stdio: 'inherit' });
}
console.log(`moved ${moved.size} files, rewrote imports in ${rewrites.size}`);
