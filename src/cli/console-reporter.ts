import type { Logger } from '../log/index.js';
import { paint, prettySize } from '../output/format.js';
import type { JsonMessageLevel, JsonMessages } from '../output/json.js';
import type { ProgressUpdate, Reporter } from '../output/reporter.js';
import { redactSecrets } from '../util/redact.js';

export interface ConsoleReporterOptions {
  quiet: boolean;
  debug: boolean;
  color: boolean;
  /**
   * `-f json`: stdout carries only the JSON document, so messages are collected for it (Barman's
   * `_INFO`, `_WARNING`, `_ERROR`, `_DEBUG` lists); warnings and errors still go to stderr too,
   * progress lines only there.
   */
  json: boolean;
  log: () => Logger;
}

const BAR_REDRAW_INTERVAL_MS = 250;
const PLAIN_PROGRESS_INTERVAL_MS = 10_000;

function progressFraction(update: ProgressUpdate): number {
  return update.bytesTotal > 0 ? Math.min(1, update.bytesDone / update.bytesTotal) : 1;
}

/** `PGDATA: 45% 1.0 GiB/2.2 GiB, 400/984 files, 120.0 MiB/s, ETA 10s` (`in 18s` once done). */
function progressText(update: ProgressUpdate, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? update.bytesDone / elapsedSeconds : 0;
  const remaining = Math.max(0, update.bytesTotal - update.bytesDone);
  const parts = [
    `${update.label}: ${(progressFraction(update) * 100).toFixed(0).padStart(3)}% ` +
      `${prettySize(update.bytesDone)}/${prettySize(update.bytesTotal)}`,
    ...(update.filesDone !== undefined && update.filesTotal !== undefined
      ? [`${update.filesDone}/${update.filesTotal} files`]
      : []),
    `${prettySize(rate)}/s`,
    update.final
      ? `in ${shortDuration(elapsedSeconds)}`
      : `ETA ${rate > 0 ? shortDuration(remaining / rate) : '?'}`,
  ];
  return parts.join(', ');
}

function shortDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.ceil(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  return minutes > 0 ? `${minutes}m${String(rest).padStart(2, '0')}s` : `${rest}s`;
}

/** Barman's console conventions: info on stdout, `WARNING:`/`ERROR:`/`DEBUG:` on stderr, all logged. */
export class ConsoleReporter implements Reporter {
  private errors = 0;
  private readonly collected: JsonMessages = {};

  constructor(private readonly options: ConsoleReporterOptions) {}

  get errorCount(): number {
    return this.errors;
  }

  /** The messages of a `-f json` run, for the JSON document. */
  get jsonMessages(): JsonMessages {
    return this.collected;
  }

  private collect(level: JsonMessageLevel, text: string): void {
    (this.collected[level] ??= []).push(text);
  }

  info(message: string): void {
    const text = redactSecrets(message);
    this.options.log().info(text);
    if (this.options.quiet) return;
    if (this.options.json) this.collect('_INFO', text);
    else process.stdout.write(`${text}\n`);
  }

  warning(message: string): void {
    const text = redactSecrets(message);
    this.options.log().warning(text);
    if (this.options.json) this.collect('_WARNING', text);
    process.stderr.write(`${paint('WARNING', 'yellow', this.options.color)}: ${text}\n`);
  }

  error(message: string): void {
    this.errors += 1;
    const text = redactSecrets(message);
    this.options.log().error(text);
    if (this.options.json) this.collect('_ERROR', text);
    process.stderr.write(`${paint('ERROR', 'red', this.options.color)}: ${text}\n`);
  }

  private progressStates = new Map<string, { started: number; drawn: number; printed: number }>();

  /**
   * A bar redrawn on stderr when it is a terminal; otherwise a plain line when a copy starts, every
   * PLAIN_PROGRESS_INTERVAL_MS and at its end, printed like info lines. Those lines are logged even
   * with -q, which only silences the console. Cheap when called often: most calls return early.
   */
  progress(update: ProgressUpdate): void {
    const now = Date.now();
    let state = this.progressStates.get(update.label);
    const first = state === undefined;
    state ??= { started: now, drawn: 0, printed: now };
    this.progressStates.set(update.label, state);
    if (update.final) this.progressStates.delete(update.label);
    const terminal = !this.options.quiet && process.stderr.isTTY;
    const print = first || update.final || now - state.printed >= PLAIN_PROGRESS_INTERVAL_MS;
    const draw = terminal && (update.final || now - state.drawn >= BAR_REDRAW_INTERVAL_MS);
    if (!print && !draw) return;
    const text = progressText(update, (now - state.started) / 1000);
    if (draw) {
      state.drawn = now;
      const width = Math.max(20, (process.stderr.columns || 80) - 1);
      const filled = Math.round(progressFraction(update) * 10);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(10 - filled)}] ${text}`.slice(0, width).padEnd(width),
      );
      if (update.final) process.stderr.write('\n');
    }
    if (print) {
      state.printed = now;
      this.options.log().info(text);
      if (!this.options.quiet && !terminal) {
        (this.options.json ? process.stderr : process.stdout).write(`${text}\n`);
      }
    }
  }

  debug(message: string): void {
    const text = redactSecrets(message);
    this.options.log().debug(text);
    if (!this.options.debug) return;
    if (this.options.json) this.collect('_DEBUG', text);
    process.stderr.write(`DEBUG: ${text}\n`);
  }
}
