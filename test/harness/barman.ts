/** Runs the built `barman` CLI as a child process, the way operators and cron run it. */
import { fileURLToPath } from 'node:url';
import type { CompletedRun, RunOptions } from './tmp.js';
import { runCompletely } from './tmp.js';

export const BARMAN_BIN = fileURLToPath(new URL('../../../bin/barman.js', import.meta.url));

export interface BarmanRunOptions extends RunOptions {
  /** OS user to run as (root only); default: the current user. */
  user?: string;
}

export function runBarman(args: readonly string[], options: BarmanRunOptions = {}): Promise<CompletedRun> {
  return runCompletely(options.user ?? null, process.execPath, [BARMAN_BIN, ...args], {
    ...options,
    env: { BARMAN_CONFIG_FILE: undefined, ...options.env },
  });
}
