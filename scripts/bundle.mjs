#!/usr/bin/env node
// Bundles the compiled CLI entry points into dist/bundle/ with esbuild (code splitting keeps each
// command lazily loaded). One file to parse instead of hundreds of modules makes every start
// faster, which matters for archive_command. Native and worker-based modules stay external.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// Stale chunks of earlier builds would otherwise pile up next to the new ones.
rmSync(join(root, 'dist/bundle'), { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: {
    barman: 'dist/src/cli/entry-barman.js',
    'barman-wal-archive': 'dist/src/cli/entry-wal-archive.js',
    'barman-wal-restore': 'dist/src/cli/entry-wal-restore.js',
    // Loaded by CompressionPool as new URL('./worker.js', import.meta.url), next to the chunks.
    worker: 'dist/src/wal/compression/worker.js',
  },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Native addon, pino's worker-thread transports, and our compression worker load files at run time.
  external: ['fs-ext', 'pino', './worker.js'],
  define: { __BARMAN_TS_VERSION__: JSON.stringify(version) },
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
writeFileSync(join(root, 'dist/bundle-meta.json'), JSON.stringify(result.metafile));
