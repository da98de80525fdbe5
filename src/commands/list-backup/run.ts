import { statusOf } from '../../catalog/backups.js';
import type { BackupType } from '../../catalog/chain.js';
import { backupType } from '../../catalog/chain.js';
import { prettySize } from '../../output/format.js';
import { ctimeOfWallTime } from '../../output/time.js';
import type { RetentionStatus } from '../../retention/policy.js';
import { retentionLabel } from '../../retention/policy.js';
import { defineCommandModule } from '../definition.js';
import {
  loadAnyServerCatalog,
  readOnlyByBarman313,
  requiredWal,
  retentionEnforced,
  walAfter,
} from '../shared/backup-catalog.js';
import { selectServers } from '../shared/select-servers.js';

interface ListedBackup {
  server: string;
  backup_id: string;
  backup_name: string | null;
  status: string;
  end_time: string | null;
  end_time_timestamp: string | null;
  size_bytes: number | null;
  wal_size_bytes: number | null;
  tablespaces: Array<{ location: string; name: string }> | null;
  retention_status: RetentionStatus;
  /** With retention_gfs only: why the backup is kept (`daily 2026-12-05, weekly 2026-W49`), '' when it is not. */
  retention_reason: string | null;
  unreadable: string | null;
  /** Set when the server's catalogue holds incremental chains: listed as Barman 3.11+ does. */
  backup_type: BackupType | null;
}

interface Result {
  minimal: boolean;
  servers: Array<{ name: string; backups: ListedBackup[] }>;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const servers = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    });
    const result: Result = { minimal: input.options.minimal === true, servers: [] };
    for (const server of servers) {
      const catalog = await loadAnyServerCatalog(server.config, ctx.report);
      // Barman 3.4 cannot read a catalogue with chains or meta/ at all: such a server is listed as 3.13 does.
      const typed = readOnlyByBarman313(catalog);
      const backups: ListedBackup[] = [...catalog.backups].reverse().map((backup) => {
        const info = backup.info;
        const status = statusOf(backup);
        const complete = status === 'DONE' || status === 'WAITING_FOR_WALS';
        const end = info?.end_time ?? null;
        return {
          server: server.name,
          backup_id: backup.id,
          backup_name: info?.backup_name ?? null,
          status,
          end_time: complete && end ? ctimeOfWallTime(end.epochMs, end.utcOffsetMinutes) : null,
          end_time_timestamp: complete && end ? String(Math.floor(end.epochMs / 1000)) : null,
          size_bytes: complete && info ? (info.size ?? 0) + requiredWal(catalog, info).bytes : null,
          wal_size_bytes: complete ? walAfter(catalog, backup).bytes : null,
          tablespaces: info?.tablespaces?.map(({ name, location }) => ({ location, name })) ?? null,
          retention_status: retentionEnforced(catalog.config)
            ? (catalog.retention.get(backup.id) ?? '-')
            : '-',
          retention_reason:
            catalog.config.retention_gfs && status === 'DONE'
              ? (catalog.retentionReasons.get(backup.id) ?? []).join(', ')
              : null,
          unreadable: backup.unreadable,
          backup_type: typed && info ? backupType(info) : null,
        };
      });
      result.servers.push({ name: server.name, backups });
    }
    return result;
  },

  renderConsole({ minimal, servers }) {
    return servers.flatMap(({ backups }) =>
      backups.map((backup) => {
        if (minimal) return backup.backup_id;
        const type = backup.backup_type ? ` - ${backup.backup_type[0]!.toUpperCase()}` : '';
        const id = `${backup.server} ${backup.backup_id}${backup.backup_name ? ` '${backup.backup_name}'` : ''}${type}`;
        if (backup.end_time === null) {
          return `${id} - ${backup.unreadable ? `UNREADABLE (${backup.unreadable})` : backup.status}`;
        }
        let line = `${id} - ${backup.end_time} - Size: ${prettySize(backup.size_bytes ?? 0)} - WAL Size: ${prettySize(backup.wal_size_bytes ?? 0)}`;
        // Barman 3.11+ no longer lists tablespaces.
        if (backup.tablespaces?.length && !backup.backup_type) {
          line += ` (tablespaces: ${backup.tablespaces.map((t) => `${t.name}:${t.location}`).join(', ')})`;
        }
        if (backup.status === 'WAITING_FOR_WALS') line += ' - WAITING_FOR_WALS';
        if (backup.retention_reason) {
          // GFS: the status with its reasons, also for VALID (Barman prints nothing for VALID).
          line += ` - ${retentionLabel(backup.retention_status)} (${backup.retention_reason})`;
        } else if (backup.retention_status !== '-' && backup.retention_status !== 'VALID') {
          line += ` - ${retentionLabel(backup.retention_status)}`;
        }
        return line;
      }),
    );
  },

  renderJson({ minimal, servers }) {
    return Object.fromEntries(
      servers.map(({ name, backups }) => [
        name,
        minimal
          ? backups.map((backup) => backup.backup_id)
          : backups.map((backup) =>
              backup.end_time === null
                ? {
                    backup_id: backup.backup_id,
                    ...(backup.backup_type ? { backup_type: backup.backup_type } : {}),
                    status: backup.status,
                    ...(backup.unreadable ? { error: backup.unreadable } : {}),
                  }
                : {
                    backup_id: backup.backup_id,
                    ...(backup.backup_name ? { backup_name: backup.backup_name } : {}),
                    ...(backup.backup_type ? { backup_type: backup.backup_type } : {}),
                    end_time: backup.end_time,
                    end_time_timestamp: backup.end_time_timestamp,
                    retention_status:
                      backup.retention_status === 'VALID' ? '-' : retentionLabel(backup.retention_status),
                    ...(backup.retention_reason === null
                      ? {}
                      : { retention_reason: backup.retention_reason }),
                    size: prettySize(backup.size_bytes ?? 0),
                    size_bytes: backup.size_bytes,
                    status: backup.status,
                    // Barman 3.4 writes an empty list for a backup without tablespaces; 3.11+ none.
                    ...(backup.backup_type ? {} : { tablespaces: backup.tablespaces ?? [] }),
                    wal_size: prettySize(backup.wal_size_bytes ?? 0),
                    wal_size_bytes: backup.wal_size_bytes,
                  },
            ),
      ]),
    );
  },
});
