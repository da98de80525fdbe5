import type { Logger } from '../log/index.js';
import { paint } from '../output/format.js';
import type { Reporter } from '../output/reporter.js';
import { redactSecrets } from '../util/redact.js';

export interface ConsoleReporterOptions {
  quiet: boolean;
  debug: boolean;
  color: boolean;
  /** In JSON mode stdout carries only the JSON document, so info lines go to stderr. */
  infoToStderr: boolean;
  log: () => Logger;
}

/** Barman's console conventions: info on stdout, `WARNING:`/`ERROR:`/`DEBUG:` on stderr, all logged. */
export class ConsoleReporter implements Reporter {
  private errors = 0;

  constructor(private readonly options: ConsoleReporterOptions) {}

  get errorCount(): number {
    return this.errors;
  }

  info(message: string): void {
    const text = redactSecrets(message);
    this.options.log().info(text);
    if (this.options.quiet) return;
    (this.options.infoToStderr ? process.stderr : process.stdout).write(`${text}\n`);
  }

  warning(message: string): void {
    const text = redactSecrets(message);
    this.options.log().warning(text);
    process.stderr.write(`${paint('WARNING', 'yellow', this.options.color)}: ${text}\n`);
  }

  error(message: string): void {
    this.errors += 1;
    const text = redactSecrets(message);
    this.options.log().error(text);
    process.stderr.write(`${paint('ERROR', 'red', this.options.color)}: ${text}\n`);
  }

  debug(message: string): void {
    const text = redactSecrets(message);
    this.options.log().debug(text);
    if (this.options.debug) process.stderr.write(`DEBUG: ${text}\n`);
  }
}
