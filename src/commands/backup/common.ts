/** What the local and the cloud backup flows share. */
import type { ServerEntry } from '../../config/index.js';
import type { CommandContext } from '../definition.js';
import { InfoRedirectingReporter } from '../../output/reporter.js';
import type { CheckResult } from '../shared/checks/results.js';
import { isCritical } from '../shared/checks/results.js';
import { runServerChecks } from '../shared/checks/server-checks.js';

export interface BackupOutcome {
  server: string;
  backupId: string | null;
  status: string;
  error: string | null;
}

/** A backup id from the local time: YYYYMMDDTHHMMSS. */
export function backupIdNow(): string {
  const now = new Date();
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}T${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
}

/**
 * Barman's silent pre-backup check: critical failures stop the backup before anything is
 * written. Unlike Barman, `WAL archive` (an empty archive) does not block: the backup switches
 * WAL itself and stays WAITING_FOR_WALS, loudly, until its WAL arrives, so the first backup of a
 * new server needs no `switch-wal --archive` dance.
 */
export async function preBackupCheck(ctx: CommandContext, server: ServerEntry): Promise<CheckResult[]> {
  const report = await runServerChecks(server, {
    log: ctx.log,
    report: new InfoRedirectingReporter(ctx.report, (message) => ctx.log.info(message)),
    timeoutSeconds: server.config.check_timeout,
  });
  return report.results.filter((result) => isCritical(result) && result.name !== 'WAL archive');
}
