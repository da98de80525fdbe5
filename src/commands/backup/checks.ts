/**
 * Phase 1 of a backup, checks: what refuses a backup before anything is written — command-line
 * flags the method or the location cannot honour, and Barman's silent pre-backup check.
 */
import type { ServerConfig, ServerEntry } from '../../config/index.js';
import { CLOUD_STAGING_OPTIONS, stagingLimitProblem, uploadPartSize } from '../../config/index.js';
import { InfoRedirectingReporter } from '../../output/reporter.js';
import type { SharedConnection } from '../../postgres/index.js';
import { catalogueAreas } from '../../recovery/protected-paths.js';
import type { CommandContext } from '../definition.js';
import type { CheckResult } from '../shared/checks/results.js';
import { isCritical } from '../shared/checks/results.js';
import { runServerChecks } from '../shared/checks/server-checks.js';

/**
 * Command-line flags a method cannot honour: pg_basebackup and local-to-cloud copy no file by
 * file, so `--reuse-backup copy|link` is refused (as `reuse_backup` is in the configuration);
 * pg_basebackup streams over one connection, so `--jobs` has no effect there. The refusal, or null.
 */
export function refuseCopyFlags(
  ctx: CommandContext,
  method: string,
  overrides: Readonly<Record<string, unknown>>,
): string | null {
  if (method !== 'postgres' && method !== 'local-to-cloud') return null;
  if (overrides.reuse_backup === 'copy' || overrides.reuse_backup === 'link') {
    const message = `--reuse-backup ${String(overrides.reuse_backup)} is not supported with backup_method = ${method}: only rsync and local-rsync backups reuse the files of the previous one`;
    ctx.report.error(message);
    return message;
  }
  if (method === 'postgres') {
    for (const [key, flag] of [
      ['parallel_jobs', '--jobs'],
      ['parallel_jobs_start_batch_size', '--jobs-start-batch-size'],
      ['parallel_jobs_start_batch_period', '--jobs-start-batch-period'],
    ] as const) {
      if (overrides[key] !== undefined)
        ctx.report.warning(
          `${flag} has no effect with backup_method = postgres: pg_basebackup copies over one connection`,
        );
    }
  }
  return null;
}

/**
 * The `--cloud-staging-*` flags: without effect (a warning) when the server's
 * basebackups_directory is local; a `--cloud-staging-max-size` smaller than one upload part is
 * refused before anything starts. The refusal, or null.
 */
export function refuseStagingFlags(
  ctx: CommandContext,
  config: ServerConfig,
  overrides: Readonly<Record<string, unknown>>,
): string | null {
  const given = CLOUD_STAGING_OPTIONS.filter((key) => overrides[key] !== undefined);
  if (given.length === 0) return null;
  if (config.basebackups_directory.kind !== 's3') {
    for (const key of given)
      ctx.report.warning(
        `--${key.replaceAll('_', '-')} has no effect: only backups to an s3:// basebackups_directory stage their uploads (server ${config.name})`,
      );
    return null;
  }
  const problem = stagingLimitProblem(
    config.cloud_staging_max_size,
    uploadPartSize(config.cloud_upload_min_chunk_size),
  );
  if (!problem) return null;
  ctx.report.error(problem);
  return problem;
}

/**
 * Barman's silent pre-backup check: critical failures stop the backup before anything is
 * written, reported here; true when the backup may go on. Unlike Barman, `WAL archive` (an
 * empty archive) does not block: the backup switches WAL itself and stays WAITING_FOR_WALS,
 * loudly, until its WAL arrives, so the first backup of a new server needs no
 * `switch-wal --archive` dance.
 */
export async function passesPreBackupCheck(
  ctx: CommandContext,
  server: ServerEntry,
  connection: SharedConnection,
  incremental = false,
): Promise<boolean> {
  const report = await runServerChecks(server, {
    connection,
    log: ctx.log,
    report: new InfoRedirectingReporter(ctx.report, (message) => ctx.log.info(message)),
    timeoutSeconds: server.config.check_timeout,
    catalogueAreas: catalogueAreas(ctx.config),
    incrementalBackup: incremental,
  });
  const blocking = report.results.filter((result) => isCritical(result) && result.name !== 'WAL archive');
  if (blocking.length === 0) return true;
  const described = (result: CheckResult) => `${result.name}${result.hint ? ` (${result.hint})` : ''}`;
  for (const result of blocking) ctx.log.warning(`check failed before backup: ${described(result)}`);
  ctx.report.error(
    `Impossible to start the backup: ${blocking.map(described).join(', ')}. ` +
      `Run 'barman check ${server.config.name}' for details`,
  );
  return false;
}
