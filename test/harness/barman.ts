/** Runs the built `barman` CLI as a child process, the way operators and cron run it. */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
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

export interface ProgressLine {
  percent: number;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number | null;
  filesTotal: number | null;
  /** The last line of a copy (`in 3s` instead of an ETA). */
  final: boolean;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/**
 * The plain progress lines a backup printed for one copy, parsed:
 * `PGDATA:  45% 1.0 GiB/2.2 GiB, 400/984 files, 120.0 MiB/s, ETA 10s` (sizes to one decimal).
 */
export function progressLines(output: string, label: string): ProgressLine[] {
  const size = String.raw`(\d+(?:\.\d)?) (B|KiB|MiB|GiB|TiB)`;
  const pattern = new RegExp(
    String.raw`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: +(\d+)% ${size}/${size}(?:, (\d+)/(\d+) files)?, ${size}/s, (ETA|in) \S+$`,
    'gm',
  );
  return [...output.matchAll(pattern)].map((match) => ({
    percent: Number(match[1]),
    bytesDone: Number(match[2]) * UNITS[match[3]!]!,
    bytesTotal: Number(match[4]) * UNITS[match[5]!]!,
    filesDone: match[6] === undefined ? null : Number(match[6]),
    filesTotal: match[7] === undefined ? null : Number(match[7]),
    final: match[10] === 'in',
  }));
}

/** Regular files under `roots` and their total size, leaving out `skip` (paths relative to a root). */
export function sumTrees(roots: string[], skip: string[] = []): { files: number; bytes: number } {
  const total = { files: 0, bytes: 0 };
  for (const root of roots) {
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!entry.isFile() || skip.includes(relative(root, path))) continue;
      total.files += 1;
      total.bytes += statSync(path).size;
    }
  }
  return total;
}

/** A backup.info's lines as raw `key → value` text (values as written: Python literals unparsed). */
export function readBackupInfoFields(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}
