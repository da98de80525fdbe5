/**
 * verify-backup: pg_verifybackup's checks on the stored copy, done natively through the backup's
 * Storage (catalog/verify-backup.ts), so a barman-cloud catalogue in a bucket and a server
 * without PostgreSQL's client tools are verified the same way. Barman runs `pg_verifybackup -n`
 * on the backup's data directory; the output keeps its lines.
 */
import { loadBackups, resolveBackup } from '../../catalog/backups.js';
import { withBackupStore } from '../../catalog/store.js';
import type { VerifyOutcome } from '../../catalog/verify-backup.js';
import { verifyBackupContent } from '../../catalog/verify-backup.js';
import { CopyProgress } from '../../executors/progress.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import { storedBackupContent, VERIFY_CONCURRENCY } from '../shared/stored-backup.js';

interface Result {
  server: string;
  backupId: string;
  outcome: VerifyOutcome;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    // As Barman: inactive and disabled servers' backups can be verified too.
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: true,
    });
    if (!server) return null;
    const reference = input.args.backup_id as string;
    return withBackupStore(server.config, async (store) => {
      const backup = resolveBackup(await loadBackups(store), server.name, reference);
      ctx.report.info(`Verifying backup '${reference}' on server ${server.name}`);
      const content = await storedBackupContent(
        store.base,
        server.config.basebackups_directory,
        backup.id,
        backup.info,
      );
      const progress = new CopyProgress(ctx.report, `verifying backup ${backup.id}`);
      const outcome = await verifyBackupContent(store.base, content, {
        concurrency: VERIFY_CONCURRENCY,
        onProgress: (done) =>
          progress.update(
            { bytes: done.bytes, files: done.files },
            { bytes: done.totalBytes, files: done.totalFiles },
          ),
      });
      progress.finish();
      for (const problem of outcome.problems) ctx.report.error(problem);
      if (outcome.problems.length > 0) {
        ctx.report.error(
          `verify backup failure on backup ${backup.id} of server ${server.name}: ` +
            `${outcome.problems.length} problem${outcome.problems.length === 1 ? '' : 's'} found`,
        );
      } else {
        ctx.log.info(
          `backup ${backup.id} of server ${server.name} verified: ${outcome.files} files, ${outcome.bytes} bytes`,
        );
      }
      return { server: server.name, backupId: backup.id, outcome };
    });
  },
  renderConsole: (result) =>
    result && result.outcome.problems.length === 0 ? ['backup successfully verified'] : [],
  renderJson: (result) =>
    result
      ? {
          [result.server]: {
            backup_id: result.backupId,
            verified: result.outcome.problems.length === 0,
            files: result.outcome.files,
            bytes: result.outcome.bytes,
            problems: result.outcome.problems,
          },
        }
      : null,
});
