#!/usr/bin/env node
// Runs the compiled test files with Node's test runner and ends with the line
// `N passed, N failed` that CI reads. `unit` or `integration` narrows the run.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv[2];
const testRoot = join(root, 'dist', 'test');

const files = findTests(testRoot).filter((file) => {
  const suite = relative(testRoot, file).split('/')[0];
  return only === undefined || suite === only;
});
if (files.length === 0) {
  console.error(`run-tests: no test files found under ${testRoot}${only ? `/${only}` : ''}`);
  process.exit(1);
}

// Two cores: run two files at a time; each integration test owns its ports and directories.
const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=900000', '--test-reporter=spec', ...files],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
);

let output = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
  if (output.length > 200_000) output = output.slice(-100_000);
});
child.on('close', (code, signal) => {
  const passed = lastCount('pass');
  const failed = lastCount('fail');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && signal === null && failed === 0 ? 0 : 1);
});

function lastCount(label) {
  const matches = [...output.matchAll(new RegExp(`^ℹ ${label} (\\d+)$`, 'gm'))];
  return matches.length ? Number(matches.at(-1)[1]) : 0;
}

function findTests(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'harness' ? [] : findTests(path);
      return entry.name.endsWith('.test.js') ? [path] : [];
    })
    .sort();
}
