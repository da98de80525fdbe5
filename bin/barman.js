#!/usr/bin/env node
// The `barman` command: runs the bundle built by `npm run build` (dist/bundle/).
import { run } from '../dist/bundle/barman.js';

process.exit(await run(process.argv.slice(2)));
