/**
 * show-backup as Barman 3.11+ shows it (checked against Barman 3.13), for servers whose
 * catalogue holds block-level incremental chains: Barman 3.4 cannot read such a catalogue at
 * all (the 3.11+ keys stop it), so its layout has nothing to stay compatible with there. Adds
 * the cluster size, the server's checksum and WAL summarizer settings, the backup method and
 * type, the backup and WAL sizes, the resources an incremental (or rsync) backup saved, and the
 * chain: root, parent, chain size and children.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { statusOf } from '../../catalog/backups.js';
import type { BackupType } from '../../catalog/chain.js';
import { backupType, deduplicationRatio, estimatedSavedBytes } from '../../catalog/chain.js';
import { prettySize } from '../../output/format.js';
import { humanDuration } from '../../output/time.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import {
  describeRetention,
  nextBackup,
  previousBackup,
  requiredWal,
  walAfter,
  walsPerSecond,
} from '../shared/backup-catalog.js';

export const row = (label: string, value: string | number | null | undefined) =>
  `  ${label.padEnd(23)}: ${value ?? 'None'}`;
export const nested = (label: string, value: string | number | null | undefined) =>
  `    ${label.padEnd(21)}: ${value ?? 'None'}`;
export const percent = (ratio: number) => `${(ratio * 100).toFixed(2)}%`;

export function copyStat(info: BackupInfo, key: string): number | null {
  const value = info.copy_stats?.get(key);
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : null;
}

/** What both renderings show, computed once as Barman's `get_backup_ext_info` does. */
interface ChainView {
  info: BackupInfo;
  type: BackupType;
  backupSize: number;
  walSize: number;
  walNum: number;
  walCompression: number;
  saved: number;
  savedRatio: number;
  copyTime: number;
  analysisTime: number;
  throughput: number;
  workers: number;
  afterCount: number;
  afterBytes: number;
  afterCompression: number;
  walsPerSecond: number;
  walLast: string | null;
  retention: string;
  previous: string;
  next: string;
  root: string;
  parent: string | null;
  chainSize: number;
}

function viewOf(catalog: ServerCatalog, backup: CatalogBackup, info: BackupInfo): ChainView {
  const required = requiredWal(catalog, info);
  const after = walAfter(catalog, backup);
  const segment = info.xlog_segment_size;
  const backupSize = info.deduplicated_size ?? 0;
  const copyTime = copyStat(info, 'copy_time') ?? 0;
  const workers = copyStat(info, 'number_of_workers') ?? 1;
  const chain = catalog.chains.chainOf(backup.id);
  const previous = previousBackup(catalog, backup);
  const next = nextBackup(catalog, backup);
  return {
    info,
    type: backupType(info),
    backupSize,
    walSize: required.bytes,
    walNum: required.count,
    walCompression: required.count > 0 ? 1 - required.bytes / (required.count * segment) : 0,
    saved: estimatedSavedBytes(info),
    savedRatio: deduplicationRatio(info),
    copyTime,
    analysisTime: copyStat(info, 'analysis_time') ?? 0,
    throughput: copyTime > 0 ? backupSize / copyTime : 0,
    workers: workers > 1 ? workers : 1,
    afterCount: after.count,
    afterBytes: after.bytes,
    afterCompression: after.count > 0 ? 1 - after.bytes / (after.count * segment) : 0,
    walsPerSecond: walsPerSecond(info, required, after),
    walLast: after.lastSegment ?? required.lastSegment,
    retention: describeRetention(catalog, backup.id),
    previous: previous ? previous.id : '- (this is the oldest base backup)',
    next: next ? next.id : '- (this is the latest base backup)',
    root: chain.at(-1)?.id ?? backup.id,
    parent: info.parent_backup_id,
    chainSize: chain.length,
  };
}

const copyDone = (backup: CatalogBackup) => ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup));
const savesResources = (type: BackupType) => type === 'rsync' || type === 'incremental';
const children = (info: BackupInfo) =>
  info.children_backup_ids?.length ? info.children_backup_ids.join(',') : null;

export function renderChainConsole(
  catalog: ServerCatalog,
  backup: CatalogBackup,
  info: BackupInfo,
): string[] {
  const lines = [`Backup ${backup.id}:`];
  if (info.backup_name) lines.push(row('Backup Name', info.backup_name));
  lines.push(row('Server Name', info.server_name ?? catalog.config.name));
  if (info.systemid) lines.push(row('System Id', info.systemid));
  lines.push(row('Status', info.status));
  const done = copyDone(backup);
  if (done) {
    lines.push(row('PostgreSQL Version', info.version), row('PGDATA directory', info.pgdata));
    if (info.cluster_size) lines.push(row('Estimated Cluster Size', prettySize(info.cluster_size)));
  }
  lines.push('');
  if (info.data_checksums || info.summarize_wal) {
    lines.push('  Server information:');
    if (info.data_checksums) lines.push(nested('Checksums', info.data_checksums));
    if (info.summarize_wal) lines.push(nested('WAL summarizer', info.summarize_wal));
    lines.push('');
  }
  if (!done) {
    if (info.error) lines.push(row('Error', info.error));
    return lines;
  }
  const view = viewOf(catalog, backup, info);
  if (info.tablespaces?.length) {
    lines.push('  Tablespaces:');
    for (const { name, location, oid } of info.tablespaces)
      lines.push(nested(name, `${location} (oid: ${oid})`));
    lines.push('');
  }
  lines.push('  Base backup information:');
  if (info.mode) lines.push(nested('Backup Method', info.mode));
  // Barman 3.14+ shows it only when set; older Barman never does.
  if (info.encryption) lines.push(nested('Encryption', info.encryption));
  if (info.mode === 'postgres') lines.push(nested('Backup Type', view.type));
  if (view.backupSize) {
    const withWals = view.walSize ? ` (${prettySize(view.backupSize + view.walSize)} with WALs)` : '';
    lines.push(nested('Backup Size', `${prettySize(view.backupSize)}${withWals}`));
  }
  if (view.walSize) lines.push(nested('WAL Size', prettySize(view.walSize)));
  if (savesResources(view.type))
    lines.push(nested('Resources saved', `${prettySize(view.saved)} (${percent(view.savedRatio)})`));
  lines.push(
    nested('Timeline', info.timeline),
    nested('Begin WAL', info.begin_wal),
    nested('End WAL', info.end_wal),
  );
  if (view.walNum) lines.push(nested('WAL number', view.walNum));
  if (view.walCompression > 0) lines.push(nested('WAL compression ratio', percent(view.walCompression)));
  lines.push(nested('Begin time', info.begin_time?.text), nested('End time', info.end_time?.text));
  if (view.copyTime) {
    const startup = view.analysisTime >= 1 ? ` + ${humanDuration(view.analysisTime)} startup` : '';
    lines.push(nested('Copy time', `${humanDuration(view.copyTime)}${startup}`));
    if (view.throughput) {
      const jobs = view.workers > 1 ? ` (${view.workers} jobs)` : '';
      lines.push(nested('Estimated throughput', `${prettySize(view.throughput)}/s${jobs}`));
    }
  }
  lines.push(
    nested('Begin Offset', info.begin_offset),
    nested('End Offset', info.end_offset),
    nested('Begin LSN', info.begin_xlog),
    nested('End LSN', info.end_xlog),
    '',
    '  WAL information:',
    nested('No of files', view.afterCount),
    nested('Disk usage', prettySize(view.afterBytes)),
  );
  if (view.walsPerSecond > 0)
    lines.push(nested('WAL rate', `${(view.walsPerSecond * 3600).toFixed(2)}/hour`));
  if (view.afterCompression > 0) lines.push(nested('Compression ratio', percent(view.afterCompression)));
  lines.push(
    nested('Last available', view.walLast),
    '',
    '  Catalog information:',
    nested('Retention Policy', view.retention),
    nested('Previous Backup', view.previous),
    nested('Next Backup', view.next),
  );
  if (view.type === 'incremental') {
    lines.push(
      nested('Root Backup', view.root),
      nested('Parent Backup', view.parent),
      nested('Backup chain size', view.chainSize),
    );
  }
  const childIds = children(info);
  if (info.mode === 'postgres' && childIds !== null) lines.push(nested('Children Backup(s)', childIds));
  return lines;
}

export function renderChainJson(
  catalog: ServerCatalog,
  backup: CatalogBackup,
  info: BackupInfo,
): Record<string, unknown> {
  const output: Record<string, unknown> = { backup_id: backup.id, status: info.status };
  if (info.backup_name) output.backup_name = info.backup_name;
  if (info.systemid) output.system_id = info.systemid;
  output.server_information = { data_checksums: info.data_checksums, summarize_wal: info.summarize_wal };
  if (!copyDone(backup)) {
    if (info.error) output.error = info.error;
    return { [catalog.config.name]: output };
  }
  const view = viewOf(catalog, backup, info);
  output.backup_type = view.type;
  if (info.cluster_size) {
    output.cluster_size = prettySize(info.cluster_size);
    output.cluster_size_bytes = info.cluster_size;
  }
  output.postgresql_version = info.version;
  output.pgdata_directory = info.pgdata;
  output.tablespaces = info.tablespaces?.map(({ name, location, oid }) => ({ location, name, oid })) ?? [];
  const seconds = (timestamp: BackupInfo['end_time']) =>
    timestamp ? String(Math.floor(timestamp.epochMs / 1000)) : null;
  const base: Record<string, unknown> = {
    backup_method: info.mode,
    backup_size: prettySize(view.backupSize),
    backup_size_bytes: view.backupSize,
    backup_size_with_wals: prettySize(view.backupSize + view.walSize),
    backup_size_with_wals_bytes: view.backupSize + view.walSize,
    wal_size: prettySize(view.walSize),
    wal_size_bytes: view.walSize,
    timeline: info.timeline,
    begin_wal: info.begin_wal,
    end_wal: info.end_wal,
    wal_num: view.walNum,
    begin_time_timestamp: seconds(info.begin_time),
    begin_time: info.begin_time?.text ?? null,
    end_time_timestamp: seconds(info.end_time),
    end_time: info.end_time?.text ?? null,
    begin_offset: info.begin_offset,
    end_offset: info.end_offset,
    begin_lsn: info.begin_xlog,
    end_lsn: info.end_xlog,
  };
  // Barman 3.14+ always has the key (null when plain); only an encrypted backup gets it here, so
  // that a plain backup's document stays the one Barman 3.4 and 3.13 print.
  if (info.encryption) base.encryption = info.encryption;
  if (savesResources(view.type)) {
    base.resources_saved = prettySize(view.saved);
    base.resources_saved_bytes = Math.trunc(view.saved);
    base.resources_saved_percentage = percent(view.savedRatio);
  }
  if (view.walCompression > 0) base.wal_compression_ratio = percent(view.walCompression);
  if (view.copyTime) {
    base.copy_time = humanDuration(view.copyTime);
    base.copy_time_seconds = view.copyTime;
    if (view.analysisTime >= 1) {
      base.analysis_time = humanDuration(view.analysisTime);
      base.analysis_time_seconds = view.analysisTime;
    }
    base.throughput = `${prettySize(view.throughput)}/s`;
    base.throughput_bytes = Math.trunc(view.throughput);
    base.number_of_workers = view.workers;
  }
  output.base_backup_information = base;
  const catalogInformation: Record<string, unknown> = {
    retention_policy: view.retention,
    previous_backup: view.previous,
    next_backup: view.next,
  };
  if (view.type === 'incremental') {
    catalogInformation.root_backup_id = view.root;
    catalogInformation.parent_backup_id = view.parent;
    catalogInformation.chain_size = view.chainSize;
  }
  if (info.mode === 'postgres') catalogInformation.children_backup_ids = info.children_backup_ids ?? null;
  output.catalog_information = catalogInformation;
  output.wal_information = {
    no_of_files: view.afterCount,
    disk_usage: prettySize(view.afterBytes),
    disk_usage_bytes: view.afterBytes,
    wal_rate: view.walsPerSecond > 0 ? `${(view.walsPerSecond * 3600).toFixed(2)}/hour` : 0,
    wal_rate_per_second: view.walsPerSecond,
    compression_ratio: view.afterCompression > 0 ? percent(view.afterCompression) : 0,
    last_available: view.walLast,
    timelines: [],
  };
  return { [catalog.config.name]: output };
}
