/**
 * generate-manifest: the backup_manifest of a stored backup that has none, written beside its
 * data where PostgreSQL and Barman look for it (`<id>/data/backup_manifest`, or `<id>/backup_manifest`
 * in barman-cloud's layout). An explicit action of the operator: it never replaces a manifest,
 * and the file appears whole or not at all.
 */
import { loadBackups, resolveBackup, statusOf } from '../../catalog/backups.js';
import { withBackupStore } from '../../catalog/store.js';
import { BarmanError } from '../../errors/index.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import type { GeneratedManifest } from '../../catalog/generate-manifest.js';
import { writeManifestOf } from '../shared/stored-backup.js';

interface Result {
  server: string;
  reference: string;
  backupId: string;
  manifest: GeneratedManifest;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const reference = input.args.backup_id as string;
    return withBackupStore(server.config, async (store) => {
      const backup = resolveBackup(await loadBackups(store), server.name, reference);
      const status = statusOf(backup);
      // A manifest vouches for the files: an incomplete copy must not get one.
      if (status !== 'DONE' && status !== 'WAITING_FOR_WALS') {
        throw new BarmanError(
          'backup-not-complete',
          `cannot generate a backup_manifest for backup ${backup.id} of server ${server.name}: its status is ${status}`,
          { hint: 'only a complete backup (DONE or WAITING_FOR_WALS) gets a manifest' },
        );
      }
      const manifest = await writeManifestOf(ctx.report, store.base, server.config, backup);
      ctx.log.info(
        `backup_manifest written: ${manifest.place} (${manifest.files} files, ${manifest.bytes} bytes)`,
      );
      return { server: server.name, reference, backupId: backup.id, manifest };
    });
  },
  renderConsole: (result) =>
    result
      ? [
          `Backup manifest for backup '${result.reference}' successfully generated for server ${result.server}`,
        ]
      : [],
  renderJson: (result) =>
    result
      ? {
          [result.server]: {
            backup_id: result.backupId,
            manifest: result.manifest.place,
            files: result.manifest.files,
            bytes: result.manifest.bytes,
          },
        }
      : null,
});
