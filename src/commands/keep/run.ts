import type { KeepTarget } from '../../catalog/backups.js';
import {
  loadBackups,
  readKeep,
  releaseKeep,
  resolveBackup,
  statusOf,
  writeKeep,
} from '../../catalog/backups.js';
import { serverLayout } from '../../catalog/layout.js';
import { BarmanError, UsageError } from '../../errors/index.js';
import { defineCommandModule } from '../definition.js';
import { cloudKeepAnnotation, hasCloudCatalog, loadCloudServerCatalog } from '../shared/cloud-catalog.js';
import { selectServers } from '../shared/select-servers.js';

function notDone(id: string, status: string): BarmanError {
  return new BarmanError(
    'keep-not-done',
    `Cannot add keep to backup ${id} because it has status ${status}. Only backups with status DONE can be kept.`,
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
    if (hasCloudCatalog(server.config)) {
      const catalog = await loadCloudServerCatalog(server.config, ctx.report);
      const backup = resolveBackup(catalog.backups, server.name, input.args.backup_id as string);
      if (status) return { server: server.name, backupId: backup.id, action: 'status', keep: backup.keep };
      if (!release && statusOf(backup) !== 'DONE') throw notDone(backup.id, statusOf(backup));
      const keep = await cloudKeepAnnotation(server.config, backup.id, release ? null : target!);
      ctx.log.info(`keep of backup ${backup.id} of server ${server.name}: ${keep ?? 'released'}`);
      return { server: server.name, backupId: backup.id, action: release ? 'release' : 'keep', keep };
    }
    const layout = serverLayout(server.config);
    const backup = resolveBackup(await loadBackups(layout), server.name, input.args.backup_id as string);
    if (status)
      return {
        server: server.name,
        backupId: backup.id,
        action: 'status',
        keep: await readKeep(layout, backup.id),
      };
    if (release) {
      await releaseKeep(layout, backup.id);
      return { server: server.name, backupId: backup.id, action: 'release', keep: null };
    }
    if (statusOf(backup) !== 'DONE') throw notDone(backup.id, statusOf(backup));
    await writeKeep(layout, backup.id, target!);
    ctx.log.info(`keep ${target} added to backup ${backup.id} of server ${server.name}`);
    return { server: server.name, backupId: backup.id, action: 'keep', keep: target! };
  },
  renderConsole: (result) =>
    result?.action === 'status' ? [`Server ${result.server}:`, `\tKeep: ${result.keep ?? 'nokeep'}`] : [],
  // Barman 3.4's documents: `--status` as a status row, nothing for --target and --release.
  renderJson: (result) =>
    result?.action === 'status'
      ? { [result.server]: { keep_status: { description: 'Keep', message: result.keep ?? 'nokeep' } } }
      : null,
});
