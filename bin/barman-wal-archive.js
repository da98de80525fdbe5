#!/usr/bin/env node
// The `barman-wal-archive` command: runs the bundle built by `npm run build` (dist/bundle/).
import { run } from '../dist/bundle/barman-wal-archive.js';

const exitCode = await run(process.argv.slice(2));
// Writes to a pipe are asynchronous: exiting before they are flushed would truncate the output.
await Promise.all(
  [process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))),
);
process.exit(exitCode);
