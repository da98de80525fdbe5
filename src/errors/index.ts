/**
 * One error type for everything barman-ts reports on purpose. Anything else that reaches the
 * CLI boundary is an internal error: one line on stderr naming the log file, the stack in the log.
 */

/** Every exit code barman-ts uses; docs/exit-codes.md is generated from this table. */
export const EXIT_CODES = {
  success: { code: 0, meaning: 'Success, including "nothing to do" and skipped inactive servers.' },
  failure: {
    code: 1,
    meaning:
      'An error was reported: unknown server or backup, disabled server, failed check or backup, ' +
      'refused operation, lock held by another process, internal error.',
  },
  usage: {
    code: 2,
    meaning:
      'Command-line usage error (unknown command or option, bad argument); also `check --nagios` CRITICAL.',
  },
  badWalName: {
    code: 3,
    meaning: '`get-wal`: the WAL name is not valid, or the output file cannot be written.',
  },
} as const;

export type ExitCodeName = keyof typeof EXIT_CODES;

export interface BarmanErrorOptions {
  /** A short next step for the operator, printed as `HINT: ...`. */
  hint?: string;
  exit?: ExitCodeName;
  cause?: unknown;
}

export class BarmanError extends Error {
  /** Stable machine-readable identifier, e.g. `config-not-found`; shown in JSON output and logs. */
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: BarmanErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BarmanError';
    this.code = code;
    this.exitCode = EXIT_CODES[options.exit ?? 'failure'].code;
    this.hint = options.hint;
  }
}

/** A command-line usage error (exit 2). */
export class UsageError extends BarmanError {
  constructor(message: string, hint?: string) {
    super('usage', message, { exit: 'usage', hint });
    this.name = 'UsageError';
  }
}

export function isBarmanError(error: unknown): error is BarmanError {
  return error instanceof BarmanError;
}

/**
 * The message of anything thrown, for places that must not crash while reporting. A failed
 * system call whose message lacks its path (reads and writes on an open file do) ends with the
 * path recorded on it afterwards (withPath in ./system.ts).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, path } = error as { code?: unknown; path?: unknown };
  const systemError = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
  if (systemError && typeof path === 'string' && !error.message.includes(path))
    return `${error.message} '${path}'`;
  return error.message;
}
