/**
 * Everything listings need about one server's backups, loaded once: the backups, the WAL index
 * (xlog.db, or the listing of an object WAL archive), WAL usage per backup, and retention
 * statuses; in Barman's posix layout or barman-cloud's object layout alike (catalog/store.ts).
 * A catalogue knows what it could not read: listings show it, and nothing that deletes backups
 * or WAL files acts on it (requireCompleteCatalog).
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { loadBackups, statusOf } from '../../catalog/backups.js';
import { BackupChains } from '../../catalog/chain.js';
import type { CatalogLayoutKind, ServerLayout } from '../../catalog/layout.js';
import { catalogLayout, catalogLayoutKind } from '../../catalog/layout.js';
import { withBackupStore } from '../../catalog/store.js';
import { readWalIndex } from '../../wal/wal-index.js';
import { WalUsage } from '../../catalog/wal-usage.js';
import type { WalRangeStats } from '../../catalog/wal-usage.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import type { Reporter } from '../../output/reporter.js';
import type { RetentionStatus } from '../../retention/policy.js';
import { decideRetention, retentionLabel } from '../../retention/policy.js';
import { isSegmentName } from '../../wal/names.js';
import type { XlogDbEntry, XlogDbProblem } from '../../wal/xlogdb.js';

export interface ServerCatalog {
  config: ServerConfig;
  /** Barman's posix layout or barman-cloud's object layout (chosen by basebackups_directory). */
  kind: CatalogLayoutKind;
  /** The catalogue's directories (s3:// ones by their URL, for messages). */
  layout: ServerLayout;
  backups: CatalogBackup[];
  xlog: XlogDbEntry[];
  usage: WalUsage;
  retention: Map<string, RetentionStatus>;
  /** With retention_gfs only: why each backup is kept (retention/policy.ts decideRetention). */
  retentionReasons: Map<string, string[]>;
  /** Block-level incremental chains: parents, children, roots (catalog/chain.ts). */
  chains: BackupChains;
  /** What the loader could not read (a backup.info, an xlog.db line): the catalogue is incomplete. */
  unreadable: UnreadablePart[];
}

export interface UnreadablePart {
  /** The file (or object URL) and what is wrong with it. */
  detail: string;
  /** What the operator can do about it. */
  fix: string;
}

/**
 * Retention, deletions and WAL clean-up decide from the whole catalogue: a backup whose
 * backup.info cannot be read still needs its WAL, and an xlog.db line that cannot be parsed
 * names a WAL file a rewrite would forget. So they refuse (nothing deleted) until it is repaired.
 */
export function requireCompleteCatalog(catalog: ServerCatalog, refused: string): void {
  requireCompleteParts(catalog.unreadable, refused);
}

/** requireCompleteCatalog for parts found unreadable by the caller (a file read again under its lock). */
export function requireCompleteParts(unreadable: readonly UnreadablePart[], refused: string): void {
  const [first, ...more] = unreadable;
  if (!first) return;
  throw new BarmanError(
    'catalog-incomplete',
    `${refused}: the catalogue could not be read completely: ${first.detail}` +
      (more.length > 0 ? ` (and ${more.length} more unreadable part${more.length > 1 ? 's' : ''})` : ''),
    { hint: `Nothing is deleted while the catalogue is incomplete: ${first.fix}` },
  );
}

/** xlog.db lines that could not be parsed, as parts of the catalogue. */
export function unreadableXlogLines(
  file: string,
  problems: readonly XlogDbProblem[],
  server: string,
): UnreadablePart[] {
  return problems.map((problem) => ({
    detail: `${file} line ${problem.line}: ${problem.message}: '${problem.content}'`,
    fix: `repair that line of ${file}, or rebuild the file from the archive with 'barman rebuild-xlogdb ${server}'`,
  }));
}

/**
 * The backups whose backup.info says too little to decide what WAL they need: unreadable, or
 * DONE/WAITING_FOR_WALS without a begin and end WAL file (a truncated file parses). `fix` says
 * what to do about one (the catalogue's own words: a directory, or objects in a bucket).
 */
export function backupInfoGaps(
  backups: readonly CatalogBackup[],
  fix: (backup: CatalogBackup) => string,
): UnreadablePart[] {
  return backups.flatMap((backup): UnreadablePart[] => {
    const reason = backup.unreadable ?? missingWal(backup);
    if (reason === null) return [];
    return [
      {
        detail: reason.includes(backup.infoFile) ? reason : `${backup.infoFile}: ${reason}`,
        fix: fix(backup),
      },
    ];
  });
}

function missingWal(backup: CatalogBackup): string | null {
  const info = backup.info;
  if (!info || !['DONE', 'WAITING_FOR_WALS'].includes(info.status ?? '')) return null;
  const bad = (['begin_wal', 'end_wal'] as const).filter((key) => !isSegmentName(info[key] ?? ''));
  return bad.length === 0
    ? null
    : `status ${info.status} without a valid ${bad.join(' and ')} (a truncated or damaged file?)`;
}

/** Whether a server's backups are in barman-cloud's object layout (an s3:// basebackups_directory). */
export function hasCloudCatalog(config: ServerConfig): boolean {
  return catalogLayoutKind(config) === 'barman-cloud';
}

/** loadServerCatalog: one loader serves both layouts (the name is kept for its callers). */
export const loadAnyServerCatalog = loadServerCatalog;

/**
 * The server's catalogue wherever it lives: the local backup directory, or object storage when
 * basebackups_directory is an s3:// URL (the SDK loads only then).
 */
export async function loadServerCatalog(
  config: ServerConfig,
  report: Reporter,
  nowMs = Date.now(),
): Promise<ServerCatalog> {
  const kind = catalogLayoutKind(config);
  const layout = await catalogLayout(config);
  const backups = await withBackupStore(config, loadBackups);
  for (const backup of backups) {
    if (backup.unreadable)
      report.warning(`backup ${backup.id} of server ${config.name} is unreadable: ${backup.unreadable}`);
  }
  const walIndex = await readWalIndex(config, layout);
  const unreadable = backupInfoGaps(backups, (backup) =>
    kind === 'barman-cloud'
      ? `repair ${backup.infoFile}, or delete the objects of ${backup.directory}/ if that backup is lost`
      : `repair ${backup.infoFile}, or move ${backup.directory} away if that backup is lost ` +
        `(see 'barman list-backup ${config.name}')`,
  );
  for (const part of unreadableXlogLines(layout.xlogDbFile, walIndex.problems, config.name)) {
    report.warning(part.detail);
    unreadable.push(part);
  }
  const chains = new BackupChains(backups);
  for (const backup of backups) {
    const parent = chains.missingParentOf(backup.id);
    if (parent === null) continue;
    // Barman 3.13 stops with a KeyError on such a catalogue; barman-ts lists it and says why.
    report.warning(
      `backup ${backup.id} of server ${config.name} is incremental, but its parent backup ${parent} ` +
        'is not in the catalogue: it cannot be recovered, and retention policies leave it alone ' +
        `(bring ${parent} back, or remove it with 'barman delete ${config.name} ${backup.id}')`,
    );
  }
  const { statuses: retention, reasons: retentionReasons } = decideRetention(
    backups.map((backup) => ({
      id: backup.id,
      status: statusOf(backup),
      endTimeMs: backup.info?.end_time?.epochMs ?? null,
      keep: backup.keep,
      incremental: (backup.info?.parent_backup_id ?? null) !== null,
      descendants: chains.descendantsOf(backup.id),
    })),
    {
      policy: config.retention_policy,
      gfs: config.retention_gfs,
      minimumRedundancy: config.minimum_redundancy,
      nowMs,
    },
  );
  return {
    config,
    kind,
    layout,
    backups,
    xlog: walIndex.entries,
    usage: new WalUsage(walIndex.entries),
    retention,
    retentionReasons,
    chains,
    unreadable,
  };
}

/** Whether cron applies retention to the server: Barman's retention_policy, barman-ts's retention_gfs, or both. */
export function retentionEnforced(config: Pick<ServerConfig, 'retention_policy' | 'retention_gfs'>): boolean {
  return config.retention_policy !== null || config.retention_gfs !== null;
}

/**
 * show-backup's retention status: Barman's label (`not enforced` without a policy) and, with
 * retention_gfs, why the backup is kept (`VALID (daily 2026-12-05)`).
 */
export function describeRetention(catalog: ServerCatalog, id: string): string {
  if (!retentionEnforced(catalog.config)) return 'not enforced';
  const label = retentionLabel(catalog.retention.get(id) ?? '-');
  const reasons = catalog.config.retention_gfs ? (catalog.retentionReasons.get(id) ?? []) : [];
  return reasons.length > 0 ? `${label} (${reasons.join(', ')})` : label;
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
  firstSegment: null,
  lastSegment: null,
};

/**
 * Barman's WAL rate of a backup (show-backup), in segments per second: the segments it needs
 * and those archived until the next backup, over the time from the archival of its begin WAL
 * file (none without it) to that of the newest of them.
 */
export function walsPerSecond(info: BackupInfo, required: WalRangeStats, after: WalRangeStats): number {
  if (required.firstMtime === null || required.firstSegment !== info.begin_wal) return 0;
  const span = (after.lastMtime ?? required.lastMtime ?? required.firstMtime) - required.firstMtime;
  return span > 0 ? (required.count + after.count) / span : 0;
}

const LISTED = new Set(['DONE', 'WAITING_FOR_WALS']);

export function previousBackup(catalog: ServerCatalog, backup: CatalogBackup): CatalogBackup | undefined {
  return catalog.backups.filter((other) => other.id < backup.id && LISTED.has(statusOf(other))).at(-1);
}

export function nextBackup(catalog: ServerCatalog, backup: CatalogBackup): CatalogBackup | undefined {
  return catalog.backups.find((other) => other.id > backup.id && LISTED.has(statusOf(other)));
}

/**
 * Whether a catalogue is one only Barman 3.13+ reads — incremental chains (3.11+), or a
 * backup.info in meta/ (3.13.2+'s place, where worm_mode and Barman 3.13 write it): listings show
 * it as Barman 3.13 does (backup_type, its show-backup layout), others as Barman 3.4 does.
 */
export function readOnlyByBarman313(catalog: ServerCatalog): boolean {
  return catalog.chains.holdsChains || catalog.backups.some((backup) => backup.inMeta === true);
}
