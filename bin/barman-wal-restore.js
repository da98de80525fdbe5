#!/usr/bin/env node
// The `barman-wal-restore` command: runs the bundle built by `npm run build` (dist/bundle/).
import { run } from '../dist/bundle/barman-wal-restore.js';

process.exit(await run(process.argv.slice(2)));
