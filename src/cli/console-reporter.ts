import type { Logger } from '../log/index.js';
import { paint, prettySize } from '../output/format.js';
import type { ProgressUpdate, Reporter } from '../output/reporter.js';
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

  private progressStarted = new Map<string, number>();
  private lastProgressLog = 0;

  progress(update: ProgressUpdate): void {
    if (this.options.quiet) return;
    const now = Date.now();
    const started = this.progressStarted.get(update.label) ?? now;
    this.progressStarted.set(update.label, started);
    const seconds = Math.max((now - started) / 1000, 0.001);
    const rate = update.bytesDone / seconds;
    const fraction = update.bytesTotal > 0 ? update.bytesDone / update.bytesTotal : 1;
    const eta = rate > 0 ? Math.max(0, (update.bytesTotal - update.bytesDone) / rate) : 0;
    const text =
      `${update.label}: ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${prettySize(update.bytesDone)}/${prettySize(update.bytesTotal)} ` +
      `${update.filesDone}/${update.filesTotal} files ${prettySize(rate)}/s ETA ${Math.ceil(eta)}s`;
    if (process.stderr.isTTY) {
      const width = Math.max(20, (process.stderr.columns ?? 80) - 1);
      const filled = Math.round(fraction * 20);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${text}`.slice(0, width).padEnd(width),
      );
      if (update.final) process.stderr.write('\n');
    } else if (update.final || now - this.lastProgressLog >= 10_000) {
      this.lastProgressLog = now;
      this.options.log().info(text);
    }
  }

  debug(message: string): void {
    const text = redactSecrets(message);
    this.options.log().debug(text);
    if (this.options.debug) process.stderr.write(`DEBUG: ${text}\n`);
  }
}
