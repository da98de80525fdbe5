/**
 * A light child-process runner for the hot paths (archive_command clients): node's own spawn
 * from an argument array, without loading execa (~80 ms of start-up).
 */
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface PipedChild {
  stdin: Writable;
  stdout: Readable;
  /** Resolves with the exit code (signals map to 128 + n, like a shell). */
  exit: Promise<number>;
}

export function spawnPiped(
  program: string,
  args: readonly string[],
  stderr: 'inherit' | 'ignore' = 'inherit',
): PipedChild {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', stderr] });
  // A child that exits without reading all its input (ssh failing to connect, a remote command
  // refusing early) makes writes fail with EPIPE. Callers see that through their write callbacks
  // and the exit code; without a listener the 'error' event would crash the process instead.
  child.stdin.on('error', () => {});
  const exit = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
  return { stdin: child.stdin, stdout: child.stdout, exit };
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
    SIGPIPE: 13,
  };
  return numbers[signal] ?? 1;
}

/** Quotes one word for a POSIX shell (the remote side of ssh runs a shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
