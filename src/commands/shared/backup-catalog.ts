/**
 * Everything listings need about one server's backups, loaded once: the backups, xlog.db, WAL
 * usage per backup, and retention statuses.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { loadBackups, statusOf } from '../../catalog/backups.js';
import type { ServerLayout } from '../../catalog/layout.js';
import { serverLayout } from '../../catalog/layout.js';
import { WalUsage } from '../../catalog/wal-usage.js';
import type { WalRangeStats } from '../../catalog/wal-usage.js';
import type { ServerConfig } from '../../config/index.js';
import type { Reporter } from '../../output/reporter.js';
import type { RetentionStatus } from '../../retention/policy.js';
import { evaluateRetention } from '../../retention/policy.js';
import type { XlogDbEntry } from '../../wal/xlogdb.js';
import { XlogDbFile } from '../../wal/xlogdb-file.js';

export interface ServerCatalog {
  config: ServerConfig;
  layout: ServerLayout;
  backups: CatalogBackup[];
  xlog: XlogDbEntry[];
  usage: WalUsage;
  retention: Map<string, RetentionStatus>;
}

/**
 * The server's catalogue wherever it lives: the local backup directory, or object storage when
 * basebackups_directory is an s3:// URL (the SDK loads only then).
 */
export async function loadAnyServerCatalog(
  config: ServerConfig,
  report: Reporter,
  nowMs = Date.now(),
): Promise<ServerCatalog> {
  if (config.basebackups_directory.kind !== 's3') return loadServerCatalog(config, report, nowMs);
  const { loadCloudServerCatalog } = await import('./cloud-catalog.js');
  return loadCloudServerCatalog(config, report, nowMs);
}

export async function loadServerCatalog(
  config: ServerConfig,
  report: Reporter,
  nowMs = Date.now(),
): Promise<ServerCatalog> {
  const layout = serverLayout(config);
  const backups = await loadBackups(layout);
  for (const backup of backups) {
    if (backup.unreadable)
      report.warning(`backup ${backup.id} of server ${config.name} is unreadable: ${backup.unreadable}`);
  }
  const xlogDb = await new XlogDbFile(layout.xlogDbFile).read();
  for (const problem of xlogDb.problems) {
    report.warning(`${layout.xlogDbFile} line ${problem.line}: ${problem.message}: '${problem.content}'`);
  }
  const retention = evaluateRetention(
    backups.map((backup) => ({
      id: backup.id,
      status: statusOf(backup),
      endTimeMs: backup.info?.end_time?.epochMs ?? null,
      keep: backup.keep,
    })),
    config.retention_policy,
    config.minimum_redundancy,
    nowMs,
  );
  return { config, layout, backups, xlog: xlogDb.entries, usage: new WalUsage(xlogDb.entries), retention };
}

/** WAL a backup needs to be consistent: begin_wal..end_wal. */
export function requiredWal(catalog: ServerCatalog, info: BackupInfo): WalRangeStats {
  if (!info.begin_wal || !info.end_wal) return EMPTY_RANGE;
  return catalog.usage.range(info.begin_wal, info.end_wal);
}

/** WAL archived after a backup's end_wal up to the next backup's end_wal (same timeline). */
export function walAfter(catalog: ServerCatalog, backup: CatalogBackup): WalRangeStats {
  const info = backup.info;
  if (!info?.end_wal) return EMPTY_RANGE;
  const next = nextBackup(catalog, backup);
  const nextEnd = next?.info?.end_wal ?? null;
  return catalog.usage.range(
    info.end_wal,
    nextEnd !== null && nextEnd.slice(0, 8) === info.end_wal.slice(0, 8) ? nextEnd : null,
    true,
  );
}

const EMPTY_RANGE: WalRangeStats = {
  count: 0,
  bytes: 0,
  firstMtime: null,
  lastMtime: null,
  lastSegment: null,
};

const LISTED = new Set(['DONE', 'WAITING_FOR_WALS']);

export function previousBackup(catalog: ServerCatalog, backup: CatalogBackup): CatalogBackup | undefined {
  return catalog.backups.filter((other) => other.id < backup.id && LISTED.has(statusOf(other))).at(-1);
}

export function nextBackup(catalog: ServerCatalog, backup: CatalogBackup): CatalogBackup | undefined {
  return catalog.backups.find((other) => other.id > backup.id && LISTED.has(statusOf(other)));
}
