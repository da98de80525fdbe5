/**
 * How commands tell the operator what is happening without printing themselves: the CLI
 * supplies an implementation that writes Barman-style lines and logs every message.
 */
export interface Reporter {
  /** Progress and results: stdout (suppressed by --quiet). */
  info(message: string): void;
  /** `WARNING: ...` on stderr. */
  warning(message: string): void;
  /** `ERROR: ...` on stderr; makes the command exit non-zero. */
  error(message: string): void;
  /** `DEBUG: ...` on stderr with --debug. */
  debug(message: string): void;
  /** Number of error() calls so far. */
  readonly errorCount: number;
  /** Progress of a long copy: a bar on a terminal, periodic log lines otherwise, nothing with -q. */
  progress?(update: ProgressUpdate): void;
}

export interface ProgressUpdate {
  label: string;
  bytesDone: number;
  bytesTotal: number;
  /** Absent when the copier does not tell (pg_basebackup). */
  filesDone?: number;
  filesTotal?: number;
  /** True on the last update of this label. */
  final: boolean;
}

/** A Reporter that keeps messages in memory (tests, nested runs). */
export class MemoryReporter implements Reporter {
  readonly lines: Array<{ level: 'info' | 'warning' | 'error' | 'debug'; message: string }> = [];

  get errorCount(): number {
    return this.lines.filter((line) => line.level === 'error').length;
  }

  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }

  warning(message: string): void {
    this.lines.push({ level: 'warning', message });
  }

  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }

  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
}

/** Forwards warnings, errors and debug lines; sends info lines to `info` instead (e.g. the log). */
export class InfoRedirectingReporter implements Reporter {
  constructor(
    private readonly target: Reporter,
    private readonly redirect: (message: string) => void,
  ) {}

  get errorCount(): number {
    return this.target.errorCount;
  }

  info(message: string): void {
    this.redirect(message);
  }

  warning(message: string): void {
    this.target.warning(message);
  }

  error(message: string): void {
    this.target.error(message);
  }

  debug(message: string): void {
    this.target.debug(message);
  }

  progress(update: ProgressUpdate): void {
    this.target.progress?.(update);
  }
}
