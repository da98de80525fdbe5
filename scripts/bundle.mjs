#!/usr/bin/env node
// Bundles the compiled CLI entry points into dist/bundle/ with esbuild (code splitting keeps each
// command lazily loaded). One file to parse instead of hundreds of modules makes every start
// faster, which matters for archive_command. Native and worker-based modules stay external.
import { build } from 'esbuild';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Built into a fresh directory and swapped in, so a running barman never sees a half-built bundle
// and stale chunks of earlier builds do not pile up.
const building = join(root, `dist/bundle.building-${process.pid}`);
const previous = join(root, `dist/bundle.previous-${process.pid}`);
rmSync(building, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: {
    barman: 'dist/src/cli/entry-barman.js',
    'barman-wal-archive': 'dist/src/cli/entry-wal-archive.js',
    'barman-wal-restore': 'dist/src/cli/entry-wal-restore.js',
    // Loaded by CompressionPool as new URL('./worker.js', import.meta.url), next to the chunks.
    worker: 'dist/src/transfer/compression/worker.js',
    // Loaded by verify-backup as new URL('./digest-worker.js', import.meta.url).
    'digest-worker': 'dist/src/catalog/digest-worker.js',
  },
  outdir: building,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // ESM builds first: the AWS SDK's dist-es tree-shakes (its CommonJS build is one 1 MB chunk).
  mainFields: ['module', 'main'],
  target: 'node20',
  sourcemap: 'linked',
  // The native addon and our two workers load files at run time. pino is bundled: only its
  // synchronous file destination is used, never the worker-thread transports that need its files.
  external: ['fs-ext', './worker.js', './digest-worker.js'],
  define: { __BARMAN_TS_VERSION__: JSON.stringify(version) },
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
writeFileSync(join(root, 'dist/bundle-meta.json'), JSON.stringify(result.metafile));
if (existsSync(join(root, 'dist/bundle'))) renameSync(join(root, 'dist/bundle'), previous);
renameSync(building, join(root, 'dist/bundle'));
rmSync(previous, { recursive: true, force: true });
