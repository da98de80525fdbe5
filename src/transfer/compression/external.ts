/**
 * A program used as a stream filter: data written to the stream goes to the program's stdin, the
 * program's stdout is the stream's output. Programs always run from an argument array; the only
 * shell is `sh -c <filter>` for the user's own custom filters. A non-zero exit (or death by a
 * signal) fails the stream with the tail of the program's stderr.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { CompressionError } from './types.js';

export interface FilterProgram {
  program: string;
  args: string[];
  /** What the program does, for error messages: "bzip2 compression". */
  description: string;
  /** Shown when the program cannot be started (e.g. which Debian package provides it). */
  missingHint?: string;
}

const STDERR_KEEP = 4096;

export class ExternalFilterStream extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private stdoutEnded = false;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private finished = false;

  constructor(private readonly spec: FilterProgram) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 16 });
    this.child = spawn(spec.program, spec.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child;

    this.child.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ENOENT' ? 'program not found' : error.message;
      this.fail(
        new CompressionError(`${spec.description}: cannot run '${spec.program}': ${reason}`, {
          cause: error,
          hint: spec.missingHint,
        }),
      );
    });
    // EPIPE when the program exits before reading all its input: its exit status tells why.
    stdin.on('error', () => undefined);
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-STDERR_KEEP);
    });
    stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    stdout.on('end', () => {
      this.stdoutEnded = true;
      this.settle();
    });
    this.child.on('close', (code, signal) => {
      this.exit = { code, signal };
      this.settle();
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const { stdin } = this.child;
    if (stdin.destroyed || stdin.writableEnded || this.exit !== null) {
      // The program is gone; its exit status (reported on the readable side) decides.
      callback();
      return;
    }
    if (stdin.write(chunk)) {
      callback();
      return;
    }
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('close', done);
      callback();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const { stdin } = this.child;
    if (stdin.destroyed || stdin.writableEnded) {
      callback();
      return;
    }
    stdin.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.exit === null && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.destroy();
      this.child.stdout.destroy();
      this.child.kill('SIGTERM');
    }
    callback(error);
  }

  private settle(): void {
    if (this.finished || !this.stdoutEnded || this.exit === null) return;
    this.finished = true;
    const { code, signal } = this.exit;
    if (code === 0) {
      this.push(null);
      return;
    }
    const status = signal ? `was killed by ${signal}` : `exited with status ${String(code)}`;
    const tail = this.stderr.trim().split('\n').slice(-5).join('\n');
    this.fail(
      new CompressionError(
        `${this.spec.description} failed: '${this.spec.program}' ${status}${tail ? `: ${tail}` : ''}`,
      ),
    );
  }

  private fail(error: Error): void {
    this.finished = true;
    this.destroy(error);
  }
}

/** `sh -c <filter>`: the user's custom compression or decompression filter. */
export function shellFilter(filter: string, description: string): ExternalFilterStream {
  return new ExternalFilterStream({ program: 'sh', args: ['-c', filter], description });
}
