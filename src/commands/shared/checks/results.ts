/**
 * Results of `barman check`: one entry per check, in the order the checks ran, with Barman's
 * names and hints. The same list serves the console, JSON and Nagios renderings and the
 * pre-backup check (which ignores the non-critical ones).
 */
import type { Logger } from '../../../log/index.js';

export interface CheckResult {
  /** Barman's check name, e.g. `PostgreSQL`, `wal_level`, `receive-wal running`. */
  name: string;
  ok: boolean;
  hint: string | null;
  /** Nagios performance data in bytes (`backup minimum size`, `wal size`). */
  perfdata?: number;
  /** Extra lines printed under the result (the messages of `configuration`). */
  details?: string[];
}

/**
 * Checks whose failure does not stop a backup (Barman's list); `check` still exits 1 when any of
 * them fails on an active server.
 */
export const NON_CRITICAL_CHECKS: ReadonlySet<string> = new Set([
  'minimum redundancy requirements',
  'backup maximum age',
  'backup minimum size',
  'failed backups',
  'archiver errors',
  'empty incoming directory',
  'empty streaming directory',
  'incoming WALs directory',
  'streaming WALs directory',
  'wal maximum age',
  // barman-ts: a leak to fix, not a reason to stop taking backups.
  'directory permissions',
  // barman-ts: a drill that cannot run is no reason to stop taking the backups it would prove.
  'restore drill',
]);

/** True when a failed check must stop a backup. */
export function isCritical(result: CheckResult): boolean {
  return !result.ok && !NON_CRITICAL_CHECKS.has(result.name);
}

/** Barman's JSON key of a check: lower case, spaces and `-` as `_`, dots removed. */
export function checkJsonKey(name: string): string {
  return name.toLowerCase().replace(/[ -]/g, '_').replace(/\./g, '');
}

/**
 * Collects results while the checks run. Once closed (the check timed out) late results are
 * dropped, so a check still running in the background cannot add lines after `check timeout`.
 */
export class CheckCollector {
  readonly results: CheckResult[] = [];
  /** The check being executed, named in the log when the whole check times out. */
  running: string | null = null;
  private closed = false;

  constructor(
    private readonly server: string,
    private readonly log: Logger,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  start(name: string): void {
    if (this.closed) return;
    this.running = name;
    this.log.debug(`Starting check: '${name}'`);
  }

  add(name: string, ok: boolean, hint: string | null = null, extra: Partial<CheckResult> = {}): void {
    if (this.closed) return;
    this.results.push({ name, ok, hint, ...extra });
    if (ok) this.log.debug(`Check '${name}' succeeded for server '${this.server}'`);
    else if (NON_CRITICAL_CHECKS.has(name))
      this.log.info(`Ignoring failed check '${name}' for server '${this.server}'`);
    else this.log.error(`Check '${name}' failed for server '${this.server}'${hint ? `: ${hint}` : ''}`);
    this.running = null;
  }

  /** Ends the collection with a final result (the timeout) that is always recorded. */
  close(final?: CheckResult): void {
    if (this.closed) return;
    if (final) this.results.push(final);
    this.closed = true;
  }
}
