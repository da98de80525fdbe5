import { resolveBackup } from '../../catalog/backups.js';
import { HookRunner } from '../../hooks/index.js';
import { defineCommandModule } from '../definition.js';
import { loadServerCatalog } from '../shared/backup-catalog.js';
import type { DeleteOutcome } from '../shared/delete-backup.js';
import { deleteBackup } from '../shared/delete-backup.js';
import { selectServers } from '../shared/select-servers.js';

export default defineCommandModule<DeleteOutcome | null>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: false,
      includeDisabled: false,
    });
    if (!server) return null;
    const catalog = await loadServerCatalog(server.config, ctx.report);
    const backup = resolveBackup(catalog.backups, server.name, input.args.backup_id as string);
    return deleteBackup(catalog, backup, ctx.report, {
      fromRetention: false,
      hooks: HookRunner.forServer(ctx, server.config),
    });
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
