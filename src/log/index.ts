/**
 * The only importer of pino. Log lines are JSON, one per line, written synchronously so that a
 * crash or kill never loses the line that explains it. Secrets are redacted before pino sees them.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isOpenMode, privateMode } from '../util/private-files.js';
import { redactSecrets, redactValue } from '../util/redact.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warning(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `fields` (e.g. the server name). */
  child(fields: Record<string, unknown>): Logger;
}

export interface FileLogger extends Logger {
  readonly file: string;
  /** Writes anything buffered; call before the process exits. */
  flush(): void;
}

const PINO_LEVELS = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
} as const;

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/**
 * The log names hosts, users, paths and WAL files: a log file others can read (made by an older
 * version, or a logrotate `create 0640`) is made barman_user's alone, as a new one is.
 */
function keepPrivate(file: string): void {
  try {
    const { mode } = statSync(file);
    if (isOpenMode(mode)) chmodSync(file, privateMode(mode));
  } catch {
    // Not ours to change (another owner): logging goes on.
  }
}

/** Loads pino ahead of time (e.g. before dropping privileges). */
export async function preloadFileLogger(): Promise<void> {
  await import('pino');
}

/**
 * Opens `file` for appending (creating its directory when it can). pino is imported here, lazily,
 * so commands that never log to a file do not pay for loading it.
 */
export async function openFileLogger(
  file: string,
  level: LogLevel,
  bindings: Record<string, unknown> = {},
): Promise<FileLogger> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // The default export is pino itself both from node_modules and in the esbuild bundle.
  const { default: pino } = await import('pino');
  const destination = pino.destination({ dest: file, sync: true, append: true });
  const root = pino(
    {
      level: PINO_LEVELS[level],
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  // pino opens the file lazily on the first write; touch it now so errors surface here.
  destination.write('');
  keepPrivate(file);

  const wrap = (instance: typeof root): Logger => {
    const emit =
      (method: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) =>
        fields === undefined
          ? instance[method](redactSecrets(message))
          : instance[method](redactValue(fields), redactSecrets(message));
    return {
      debug: emit('debug'),
      info: emit('info'),
      warning: emit('warn'),
      error: emit('error'),
      child: (fields) => wrap(instance.child(redactValue(fields))),
    };
  };
  return {
    ...wrap(root),
    file,
    flush: () => destination.flushSync(),
  };
}
