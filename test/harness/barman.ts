/** Runs the built `barman` CLI as a child process, the way operators and cron run it. */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CompletedRun, RunOptions } from './tmp.js';
import { childEnv, runCompletely } from './tmp.js';

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

export interface RunningBarman {
  child: ChildProcess;
  exited: Promise<CompletedRun>;
}

/** Starts the CLI without waiting (as the current user), so a test can kill it mid-work. */
export function startBarman(args: readonly string[]): RunningBarman {
  const child = spawn(process.execPath, [BARMAN_BIN, ...args], {
    env: childEnv({ BARMAN_CONFIG_FILE: undefined }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<CompletedRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        exitCode: code,
        signal,
        timedOut: false,
        display: `barman ${args.join(' ')}`,
      }),
    );
  });
  return { child, exited };
}
