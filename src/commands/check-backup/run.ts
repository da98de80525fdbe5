/**
 * check-backup, as Barman runs it after a backup and from cron, on demand: the backup's status
 * follows from the WAL archive (wal/backup-wal-check.ts). Silent when the backup is fine or
 * still waiting; an ERROR and exit 1 when it is FAILED, or already was.
 */
import { loadBackups, resolveBackup, statusOf, updateBackupInfo } from '../../catalog/backups.js';
import { catalogLayout } from '../../catalog/layout.js';
import { withBackupStore } from '../../catalog/store.js';
import { BarmanError } from '../../errors/index.js';
import { CopyProgress } from '../../executors/progress.js';
import { openWalArchive } from '../../wal/archive.js';
import type { BackupWalVerdict } from '../../wal/backup-wal-check.js';
import { checkBackupWal } from '../../wal/backup-wal-check.js';
import { DEFAULT_SEGMENT_SIZE, segmentsBetween } from '../../wal/names.js';
import { readWalIndex } from '../../wal/wal-index.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

/** Segments beyond which check-backup shows its progress. */
const LONG_RANGE = 16;

interface Result {
  server: string;
  backupId: string;
  /** Null when the backup is still being taken (no end_wal): nothing to check. */
  verdict: BackupWalVerdict | null;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const config = server.config;
    return withBackupStore(config, async (store) => {
      const backup = resolveBackup(await loadBackups(store), server.name, input.args.backup_id as string);
      if (statusOf(backup) === 'FAILED') {
        throw new BarmanError('backup-failed', 'The validity of a failed backup cannot be checked');
      }
      const info = backup.info;
      if (!info?.begin_wal || !info.end_wal)
        return { server: server.name, backupId: backup.id, verdict: null };
      const index = await readWalIndex(config, await catalogLayout(config));
      const archive = await openWalArchive(config);
      let verdict: BackupWalVerdict;
      try {
        const segmentSize = info.xlog_segment_size ?? DEFAULT_SEGMENT_SIZE;
        // Silent like Barman's for the usual few segments (cron runs it); progress on long ranges.
        const progress =
          segmentsBetween(info.begin_wal, info.end_wal, segmentSize).length > LONG_RANGE
            ? new CopyProgress(ctx.report, `checking the WAL of backup ${backup.id}`)
            : null;
        verdict = await checkBackupWal(
          archive,
          index.entries.map((entry) => entry.name),
          {
            beginWal: info.begin_wal,
            endWal: info.end_wal,
            segmentSize,
            systemId: info.systemid,
          },
          (checked, total) =>
            progress?.update(
              { bytes: checked * segmentSize, files: checked },
              { bytes: total * segmentSize, files: total },
            ),
        );
        progress?.finish();
      } finally {
        archive.storage.close();
      }
      // Always saved, as Barman does; a backup being deleted (its lock held) is left alone.
      const saved = await updateBackupInfo(store, backup, (current) =>
        current.status === 'FAILED'
          ? null
          : verdict.status === 'FAILED'
            ? { ...current, status: 'FAILED', error: verdict.error }
            : { ...current, status: verdict.status },
      );
      ctx.log.debug(
        `check-backup ${backup.id} of server ${server.name}: ${verdict.status}${saved ? '' : ' (not saved)'}`,
      );
      if (verdict.status === 'FAILED') {
        ctx.report.error(
          `This backup has been marked as FAILED due to the following reason: ${verdict.error}`,
        );
      }
      return { server: server.name, backupId: backup.id, verdict };
    });
  },
  renderConsole: () => [],
  renderJson: (result) =>
    result
      ? {
          [result.server]: {
            backup_id: result.backupId,
            status: result.verdict?.status ?? null,
            ...(result.verdict?.status === 'FAILED' ? { error: result.verdict.error } : {}),
          },
        }
      : null,
});
