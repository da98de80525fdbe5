#!/usr/bin/env node
// The `barman` command. The only place that ends the process: everything below returns an exit code.
import { main } from '../dist/src/cli/main.js';

const exitCode = await main(process.argv.slice(2));
process.exit(exitCode);
