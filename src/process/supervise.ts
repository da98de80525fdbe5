/**
 * Long-running programs: one supervised in the foreground with its output handed over line by
 * line and this process's termination signals passed on (pg_receivewal under receive-wal), and
 * detached background processes that outlive their parent (cron starting receive-wal).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BarmanError } from '../errors/index.js';

export interface SuperviseOptions {
  /** Every line the program writes, on either stream. */
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
  /**
   * Signals this process handles while the program runs: each is passed on to the program as
   * `forwardAs` (default: the same signal) instead of ending this process.
   */
  forwardSignals?: readonly NodeJS.Signals[];
  forwardAs?: NodeJS.Signals;
  env?: NodeJS.ProcessEnv;
}

export interface SupervisedExit {
  /** Exit code, or null when the program was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The first signal this process received and passed on, if any. */
  forwarded: NodeJS.Signals | null;
}

/** Runs `program args...` until it exits; rejects only when it cannot be started. */
export function superviseProgram(
  program: string,
  args: readonly string[],
  options: SuperviseOptions,
): Promise<SupervisedExit> {
  return new Promise<SupervisedExit>((resolve, reject) => {
    let forwarded: NodeJS.Signals | null = null;
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
    const handlers = (options.forwardSignals ?? []).map((signal) => {
      const handler = () => {
        forwarded ??= signal;
        try {
          child.kill(options.forwardAs ?? signal);
        } catch {
          // already gone
        }
      };
      process.on(signal, handler);
      return { signal, handler };
    });
    const cleanUp = () => {
      for (const { signal, handler } of handlers) process.off(signal, handler);
    };
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
        options.onLine(line, name),
      );
    }
    child.on('error', (error) => {
      cleanUp();
      reject(
        new BarmanError('program-failed', `cannot run ${program}: ${error.message}`, {
          cause: error,
        }),
      );
    });
    child.on('close', (code, signal) => {
      cleanUp();
      resolve({ code, signal, forwarded });
    });
  });
}

/**
 * Starts `program args...` in a new session with its standard streams on /dev/null and does not
 * wait for it: this process may exit while it runs. Returns its pid.
 */
export function spawnDetached(
  program: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): number {
  const child = spawn(program, args, { detached: true, stdio: 'ignore', env: options.env });
  // A failure to start is reported through the missing pid below, not as an unhandled event.
  child.on('error', () => {});
  child.unref();
  if (child.pid === undefined) {
    throw new BarmanError('program-failed', `cannot start ${program} in the background`);
  }
  return child.pid;
}
