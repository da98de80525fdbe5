import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { resolveBackup, statusOf } from '../../catalog/backups.js';
import type { DrillResult } from '../../catalog/drills.js';
import { describeDrill, loadDrillResults } from '../../catalog/drills.js';
import type { PageChecksumResult } from '../../catalog/page-verification.js';
import {
  describeCorruptPage,
  loadPageChecksumResult,
  summarisePageChecksums,
} from '../../catalog/page-verification.js';
import { prettySize } from '../../output/format.js';
import { humanDuration } from '../../output/time.js';
import { defineCommandModule } from '../definition.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import { readOnlyByBarman313 } from '../shared/backup-catalog.js';
import {
  describeRetention,
  loadAnyServerCatalog,
  nextBackup,
  previousBackup,
  requiredWal,
  walAfter,
  walsPerSecond,
} from '../shared/backup-catalog.js';
import { selectServers } from '../shared/select-servers.js';
import { copyStat, nested, percent, renderChainConsole, renderChainJson, row } from './chain-layout.js';

/** Null when the server could not be selected (the error is already reported). */
type Result = {
  catalog: ServerCatalog;
  backup: CatalogBackup;
  /** The newest restore drill of this backup (verify-restore), or why the results are unreadable. */
  drill: { last: DrillResult | null; error: string | null };
  /** The data page checksum verification of the backup, when it had one. */
  pages: { result: PageChecksumResult | null; error: string | null };
} | null;

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const catalog = await loadAnyServerCatalog(server.config, ctx.report);
    const backup = resolveBackup(catalog.backups, server.name, input.args.backup_id as string);
    const drills = await loadDrillResults(server.config);
    const last = drills.results.find((result) => result.backup_id === backup.id) ?? null;
    const pages = await loadPageChecksumResult(server.config, backup.id);
    return { catalog, backup, drill: { last, error: drills.error }, pages };
  },

  renderConsole(result) {
    if (!result) return [];
    const { last, error } = result.drill;
    const drill = error ? `unreadable: ${error}` : last ? describeDrill(last) : null;
    const lines = [...backupView.renderConsole(result), ...pageChecksumLines(result.pages)];
    return drill ? [...lines, '', '  Restore drill:', nested('Last drill', drill)] : lines;
  },

  renderJson(result) {
    if (!result) return {};
    const document = backupView.renderJson(result);
    const server = document[result.catalog.config.name] as Record<string, unknown> | undefined;
    if (server && (result.drill.last || result.drill.error))
      server.restore_drill = result.drill.error ? { error: result.drill.error } : result.drill.last;
    if (server && (result.pages.result || result.pages.error))
      server.page_checksums = result.pages.error ? { error: result.pages.error } : result.pages.result;
    return document;
  },
});

/** The data page checksums verified as the backup was taken (none for a backup not verified). */
function pageChecksumLines(pages: NonNullable<Result>['pages']): string[] {
  if (pages.error) return ['', '  Data page checksums:', nested('Result', `unreadable: ${pages.error}`)];
  if (!pages.result) return [];
  return [
    '',
    '  Data page checksums:',
    nested('Result', summarisePageChecksums(pages.result)),
    ...pages.result.corrupt_pages.map((page) => nested('Corrupt page', describeCorruptPage(page))),
    ...(pages.result.note ? [nested('Note', pages.result.note)] : []),
  ];
}

/** Barman's show-backup; the restore drill and page checksums are added above. */
const backupView = {
  renderConsole(result: NonNullable<Result>): string[] {
    const { catalog, backup } = result;
    const info = backup.info;
    const lines = [`Backup ${backup.id}:`];
    if (!info)
      return [
        ...lines,
        row('Server Name', catalog.config.name),
        row('Status', 'UNREADABLE'),
        row('Error', backup.unreadable),
      ];
    // A catalogue only Barman 3.13 reads (chains, meta/) is shown as 3.13 does.
    if (readOnlyByBarman313(catalog)) return renderChainConsole(catalog, backup, info);
    if (info.backup_name) lines.push(row('Backup Name', info.backup_name));
    lines.push(
      row('Server Name', info.server_name ?? catalog.config.name),
      row('System Id', info.systemid),
      row('Status', info.status),
    );
    const status = statusOf(backup);
    if (status !== 'DONE' && status !== 'WAITING_FOR_WALS') {
      lines.push(row('Error', info.error));
      return lines;
    }
    lines.push(row('PostgreSQL Version', info.version), row('PGDATA directory', info.pgdata), '');
    if (info.tablespaces?.length) {
      lines.push('  Tablespaces:');
      for (const tablespace of info.tablespaces) {
        lines.push(nested(tablespace.name, `${tablespace.location} (oid: ${tablespace.oid})`));
      }
      lines.push('');
    }
    const size = info.size ?? 0;
    const required = requiredWal(catalog, info);
    const segmentSize = info.xlog_segment_size;
    const dedup = info.deduplicated_size ?? size;
    lines.push('  Base backup information:');
    // Barman 3.14+ (which shows it below Backup Method); Barman 3.4 has no encrypted backups.
    if (info.encryption) lines.push(nested('Encryption', info.encryption));
    lines.push(
      nested('Disk usage', `${prettySize(size)} (${prettySize(size + required.bytes)} with WALs)`),
      nested('Incremental size', `${prettySize(dedup)} (-${percent(size > 0 ? 1 - dedup / size : 0)})`),
      nested('Timeline', info.timeline),
      nested('Begin WAL', info.begin_wal),
      nested('End WAL', info.end_wal),
      nested('WAL number', required.count),
    );
    const compression = required.count > 0 ? 1 - required.bytes / (required.count * segmentSize) : 0;
    if (compression > 0) lines.push(nested('WAL compression ratio', percent(compression)));
    lines.push(nested('Begin time', info.begin_time?.text), nested('End time', info.end_time?.text));
    const copyTime = copyStat(info, 'copy_time');
    const analysisTime = copyStat(info, 'analysis_time');
    const workers = copyStat(info, 'number_of_workers');
    if (copyTime !== null) {
      lines.push(
        nested(
          'Copy time',
          humanDuration(copyTime) +
            (analysisTime !== null && analysisTime >= 1 ? ` + ${humanDuration(analysisTime)} startup` : ''),
        ),
      );
      if (copyTime > 0) {
        lines.push(
          nested(
            'Estimated throughput',
            `${prettySize(size / copyTime)}/s${workers !== null && workers > 1 ? ` (${workers} jobs)` : ''}`,
          ),
        );
      }
    }
    lines.push(
      nested('Begin Offset', info.begin_offset),
      nested('End Offset', info.end_offset),
      nested('Begin LSN', info.begin_xlog),
      nested('End LSN', info.end_xlog),
      '',
    );
    const after = walAfter(catalog, backup);
    lines.push(
      '  WAL information:',
      nested('No of files', after.count),
      nested('Disk usage', prettySize(after.bytes)),
    );
    const rate = walsPerSecond(info, required, after);
    if (rate > 0) lines.push(nested('WAL rate', `${(rate * 3600).toFixed(2)}/hour`));
    const afterRatio = after.count > 0 ? 1 - after.bytes / (after.count * segmentSize) : 0;
    if (afterRatio > 0) lines.push(nested('Compression ratio', percent(afterRatio)));
    lines.push(nested('Last available', after.lastSegment ?? info.end_wal));
    const retention = describeRetention(catalog, backup.id);
    const previous = previousBackup(catalog, backup);
    const next = nextBackup(catalog, backup);
    lines.push(
      '',
      '  Catalog information:',
      nested('Retention Policy', retention),
      nested('Previous Backup', previous ? previous.id : '- (this is the oldest base backup)'),
      nested('Next Backup', next ? next.id : '- (this is the latest base backup)'),
    );
    return lines;
  },

  renderJson(result: NonNullable<Result>): Record<string, unknown> {
    const { catalog, backup } = result;
    const info = backup.info;
    const server = catalog.config.name;
    if (!info) return { [server]: { backup_id: backup.id, status: 'UNREADABLE', error: backup.unreadable } };
    if (readOnlyByBarman313(catalog)) return renderChainJson(catalog, backup, info);
    const status = statusOf(backup);
    if (status !== 'DONE' && status !== 'WAITING_FOR_WALS') {
      return { [server]: { backup_id: backup.id, error: info.error, status: info.status } };
    }
    // Barman 3.4's JSON layout of show-backup, key for key.
    const size = info.size ?? 0;
    const dedup = info.deduplicated_size ?? size;
    const required = requiredWal(catalog, info);
    const after = walAfter(catalog, backup);
    const copyTime = copyStat(info, 'copy_time') ?? 0;
    const analysisTime = copyStat(info, 'analysis_time') ?? 0;
    const segmentSize = info.xlog_segment_size;
    const ratePerSecond = walsPerSecond(info, required, after);
    const afterRatio = after.count > 0 ? 1 - after.bytes / (after.count * segmentSize) : 0;
    const requiredRatio = required.count > 0 ? 1 - required.bytes / (required.count * segmentSize) : 0;
    const previous = previousBackup(catalog, backup);
    const next = nextBackup(catalog, backup);
    const seconds = (timestamp: BackupInfo['end_time']) =>
      timestamp ? String(Math.floor(timestamp.epochMs / 1000)) : null;
    return {
      [server]: {
        backup_id: backup.id,
        ...(info.backup_name ? { backup_name: info.backup_name } : {}),
        base_backup_information: {
          ...(info.encryption ? { encryption: info.encryption } : {}),
          analysis_time: humanDuration(analysisTime),
          analysis_time_seconds: analysisTime,
          begin_lsn: info.begin_xlog,
          begin_offset: info.begin_offset,
          begin_time: info.begin_time?.text ?? null,
          begin_time_timestamp: seconds(info.begin_time),
          begin_wal: info.begin_wal,
          copy_time: humanDuration(copyTime),
          copy_time_seconds: copyTime,
          disk_usage: prettySize(size),
          disk_usage_bytes: size,
          disk_usage_with_wals: prettySize(size + required.bytes),
          disk_usage_with_wals_bytes: size + required.bytes,
          end_lsn: info.end_xlog,
          end_offset: info.end_offset,
          end_time: info.end_time?.text ?? null,
          end_time_timestamp: seconds(info.end_time),
          end_wal: info.end_wal,
          incremental_size: prettySize(dedup),
          incremental_size_bytes: dedup,
          incremental_size_ratio: `-${percent(size > 0 ? 1 - dedup / size : 0)}`,
          number_of_workers: copyStat(info, 'number_of_workers') ?? 1,
          throughput: `${prettySize(copyTime > 0 ? size / copyTime : 0)}/s`,
          throughput_bytes: copyTime > 0 ? size / copyTime : 0,
          timeline: info.timeline,
          wal_compression_ratio: percent(requiredRatio),
        },
        catalog_information: {
          next_backup: next ? next.id : '- (this is the latest base backup)',
          previous_backup: previous ? previous.id : '- (this is the oldest base backup)',
          retention_policy: describeRetention(catalog, backup.id),
        },
        pgdata_directory: info.pgdata,
        postgresql_version: info.version,
        status: info.status,
        // Barman 3.4 writes an empty list for a backup without tablespaces.
        tablespaces: info.tablespaces?.map(({ location, name, oid }) => ({ location, name, oid })) ?? [],
        wal_information: {
          compression_ratio: percent(afterRatio),
          disk_usage: prettySize(after.bytes),
          disk_usage_bytes: after.bytes,
          last_available: after.lastSegment ?? info.end_wal,
          no_of_files: after.count,
          timelines: [],
          wal_rate: `${(ratePerSecond * 3600).toFixed(2)}/hour`,
          wal_rate_per_second: ratePerSecond,
        },
      },
    };
  },
};
