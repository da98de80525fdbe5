import type { KeepTarget } from '../../catalog/backups.js';
import { loadBackups, releaseKeep, resolveBackup, statusOf, writeKeep } from '../../catalog/backups.js';
import { withBackupStore } from '../../catalog/store.js';
import { BarmanError, UsageError } from '../../errors/index.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

function notDone(id: string, status: string): BarmanError {
  return new BarmanError(
    'keep-not-done',
    `Cannot add keep to backup ${id} because it has status ${status}. Only backups with status DONE can be kept.`,
  );
}

function notFull(id: string): BarmanError {
  return new BarmanError(
    'keep-incremental',
    `Unable to execute the keep command on backup ${id}: is an incremental backup.\n` +
      'Only full backups are eligible for the use of the keep command.',
    { hint: 'keep the root of its chain instead (see "Root Backup" in barman show-backup)' },
  );
}

interface Result {
  server: string;
  backupId: string;
  action: 'status' | 'keep' | 'release';
  keep: KeepTarget | null;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const { target, status, release } = input.options as {
      target?: KeepTarget;
      status?: boolean;
      release?: boolean;
    };
    const chosen = [target !== undefined, status === true, release === true].filter(Boolean).length;
    if (chosen !== 1)
      throw new UsageError('one of the arguments -r/--release -s/--status --target is required');
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const backupId = input.args.backup_id as string;
    return withBackupStore(server.config, async (store): Promise<Result> => {
      const backup = resolveBackup(await loadBackups(store), server.name, backupId);
      if (status) return { server: server.name, backupId: backup.id, action: 'status', keep: backup.keep };
      if (release) {
        await releaseKeep(store, backup.id);
        return { server: server.name, backupId: backup.id, action: 'release', keep: null };
      }
      if (statusOf(backup) !== 'DONE') throw notDone(backup.id, statusOf(backup));
      // A kept incremental backup is useless without its parents, which retention may remove.
      if (backup.info?.parent_backup_id) throw notFull(backup.id);
      await writeKeep(store, backup.id, target!);
      ctx.log.info(`keep ${target} added to backup ${backup.id} of server ${server.name}`);
      return { server: server.name, backupId: backup.id, action: 'keep', keep: target! };
    });
  },
  renderConsole: (result) =>
    result?.action === 'status' ? [`Server ${result.server}:`, `\tKeep: ${result.keep ?? 'nokeep'}`] : [],
  // Barman 3.4's documents: `--status` as a status row, nothing for --target and --release.
  renderJson: (result) =>
    result?.action === 'status'
      ? { [result.server]: { keep_status: { description: 'Keep', message: result.keep ?? 'nokeep' } } }
      : null,
});
