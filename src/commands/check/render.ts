/**
 * The three renderings of `barman check` (console, JSON, Nagios plugin) and its exit code, as
 * pure functions of the per-server reports.
 */
import { paint } from '../../output/format.js';
import type { ServerCheckReport } from '../shared/checks/server-checks.js';
import { checkJsonKey } from '../shared/checks/results.js';

/** `Server pg:` then `\t<check>: OK|FAILED[ (hint)]`, configuration messages indented below. */
export function renderCheckConsole(reports: readonly ServerCheckReport[], color: boolean): string[] {
  const lines: string[] = [];
  for (const report of reports) {
    const flag = !report.active ? ' (inactive)' : report.disabled ? ' (WARNING: disabled)' : '';
    lines.push(`Server ${report.server}${flag}:`);
    for (const result of report.results) {
      const status = result.ok ? paint('OK', 'green', color) : paint('FAILED', 'red', color);
      lines.push(`\t${result.name}: ${status}${result.hint ? ` (${result.hint})` : ''}`);
      for (const detail of result.details ?? []) lines.push(`\t\t${detail}`);
    }
  }
  return lines;
}

/** `{"pg": {"wal_level": {"hint": "", "status": "OK"}}}`. */
export function renderCheckJson(reports: readonly ServerCheckReport[]): Record<string, unknown> {
  return sortedObject(
    reports.map((report) => [
      report.server,
      sortedObject(
        report.results.map((result) => [
          checkJsonKey(result.name),
          {
            hint: [result.hint, ...(result.details ?? [])].filter(Boolean).join('; '),
            status: result.ok ? 'OK' : 'FAILED',
          },
        ]),
      ),
    ]),
  );
}

/** Barman writes JSON with sorted keys. */
function sortedObject(entries: Array<[string, unknown]>): Record<string, unknown> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A failed check on an active server fails the command (inactive servers are only reported). */
export function hasActiveFailure(reports: readonly ServerCheckReport[]): boolean {
  return reports.some((report) => report.active && report.results.some((result) => !result.ok));
}

export interface NagiosOutput {
  lines: string[];
  /** 0 OK, 2 CRITICAL. */
  exitCode: number;
}

/**
 * The Nagios plugin output: one summary line (`BARMAN OK - ...` or `BARMAN CRITICAL - ...`) with
 * performance data (`<srv>=<last backup size>B <srv>_wals=<wal size>B`), then one line per failed
 * check. Failures of inactive servers alone are OK (`* IGNORING: <srv>`); errors outside the
 * checks (e.g. an unknown server) make it CRITICAL.
 */
export function renderNagios(reports: readonly ServerCheckReport[], otherErrors: boolean): NagiosOutput {
  const servers = reports.map((report) => report.server);
  const issues = reports.filter((report) => report.results.some((result) => !result.ok));
  const perf: string[] = [];
  for (const report of reports) {
    for (const result of report.results) {
      if (result.name === 'backup minimum size')
        perf.push(`${report.server}=${Math.trunc(result.perfdata ?? 0)}B`);
      if (result.name === 'wal size') perf.push(`${report.server}_wals=${Math.trunc(result.perfdata ?? 0)}B`);
    }
  }
  const perfText = perf.length > 0 ? `|${perf.join(' ')}` : '';
  const critical = hasActiveFailure(reports);

  if (issues.length === 0 && otherErrors) {
    return { lines: ['BARMAN CRITICAL - Global configuration errors'], exitCode: 2 };
  }
  if (critical || (issues.length > 0 && otherErrors)) {
    const summary = issues.map(
      (report) =>
        `${report.server} FAILED: ${report.results
          .filter((result) => !result.ok)
          .map((result) => result.name)
          .join(', ')}`,
    );
    const head =
      servers.length === 1
        ? `BARMAN CRITICAL - server ${servers[0]} has issues * ${summary.join(' * ')}${perfText}`
        : `BARMAN CRITICAL - ${issues.length} server out of ${servers.length} have issues * ${summary.join(' * ')}${perfText}`;
    const details = issues.flatMap((report) =>
      report.results
        .filter((result) => !result.ok)
        .map((result) => `${report.server}.${result.name}: FAILED${result.hint ? ` (${result.hint})` : ''}`),
    );
    return { lines: [head, ...details], exitCode: 2 };
  }

  const ignoring = issues.map((report) => ` * IGNORING: ${report.server}`).join('');
  const good = servers.filter((server) => !issues.some((report) => report.server === server));
  let head: string;
  if (good.length === 0) head = `BARMAN OK - No server configured${ignoring}`;
  else if (good.length === 1)
    head = `BARMAN OK - Ready to serve the Espresso backup for ${good[0]}${ignoring}${perfText}`;
  else
    head = `BARMAN OK - Ready to serve the Espresso backup for ${good.length} servers * ${good.join(' * ')}${ignoring}${perfText}`;
  return { lines: [head], exitCode: 0 };
}
