/**
 * The only importer of execa: every external program runs from an argument array, never from a
 * string glued into a shell. Shell is used only where the user wrote shell (see runShell).
 */
import { BarmanError } from '../errors/index.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Sees each line of output as it arrives (lines end with \n or \r: progress meters redraw with
   * \r); a line for which it returns false is left out of the result. Errors it throws are ignored.
   */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => boolean;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A program that ran and failed: carries the tail of its stderr for the operator. */
export class CommandFailedError extends BarmanError {
  constructor(
    readonly program: string,
    readonly result: RunResult | undefined,
    reason: string,
  ) {
    super('command-failed', `${program} ${reason}${stderrTail(result)}`);
    this.name = 'CommandFailedError';
  }
}

function stderrTail(result: RunResult | undefined): string {
  const tail = result?.stderr.trim().split('\n').slice(-5).join('\n');
  return tail ? `:\n${tail}` : '';
}

/** Runs `program args...` and returns its output; throws CommandFailedError on a non-zero exit. */
export async function runProgram(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await runProgramUnchecked(program, args, options);
  if (result.exitCode !== 0)
    throw new CommandFailedError(program, result, `exited with code ${result.exitCode}`);
  return result;
}

/** Like runProgram but returns non-zero exits instead of throwing (missing programs still throw). */
export async function runProgramUnchecked(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  // Loaded on first use: a quarter of a megabyte that most runs (a backup, get-wal) never need.
  const { execa } = await import('execa');
  const result = await execa(program, args, {
    reject: false,
    cwd: options.cwd,
    env: options.env,
    extendEnv: options.env === undefined,
    input: options.input,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    stripFinalNewline: false,
    ...(options.onLine
      ? { stdout: lineWatcher(options.onLine, 'stdout'), stderr: lineWatcher(options.onLine, 'stderr') }
      : {}),
  });
  if (result.failed && result.exitCode === undefined) {
    const reason =
      (result as { code?: string }).code === 'ENOENT'
        ? 'is not installed or not in PATH'
        : result.timedOut
          ? `timed out after ${options.timeoutMs} ms`
          : `could not run (${result.shortMessage})`;
    throw new CommandFailedError(program, undefined, reason);
  }
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** An execa transform that splits output on \n and \r and passes each line to `onLine`. */
function lineWatcher(onLine: NonNullable<RunOptions['onLine']>, stream: 'stdout' | 'stderr') {
  const decoder = new TextDecoder();
  let pending = '';
  const keep = (line: string): boolean => {
    try {
      return onLine(line, stream);
    } catch {
      return true;
    }
  };
  return {
    binary: true,
    *transform(chunk: unknown) {
      pending += decoder.decode(chunk as Uint8Array, { stream: true });
      let start = 0;
      for (let index = 0; index < pending.length; index += 1) {
        const character = pending[index];
        if (character !== '\n' && character !== '\r') continue;
        const line = pending.slice(start, index);
        start = index + 1;
        if (keep(line)) yield `${line}\n`;
      }
      pending = pending.slice(start);
    },
    *final() {
      pending += decoder.decode();
      if (pending && keep(pending)) yield pending;
    },
  };
}

/** First line of `program --version`, or null when the program is missing or fails. */
export async function programVersion(
  program: string,
  args: readonly string[] = ['--version'],
): Promise<string | null> {
  try {
    const result = await runProgramUnchecked(program, args, { timeoutMs: 5000 });
    const text = (result.stdout.trim() || result.stderr.trim()).split('\n')[0];
    return result.exitCode === 0 || text ? (text ?? null) : null;
  } catch {
    return null;
  }
}
