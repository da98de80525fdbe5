#!/usr/bin/env node
// The `barman-wal-archive` command: runs the bundle built by `npm run build` (dist/bundle/).
import { run } from '../dist/bundle/barman-wal-archive.js';

process.exit(await run(process.argv.slice(2)));
