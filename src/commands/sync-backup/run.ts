/** sync-backup: one backup copied from the primary (src/passive/sync-backup.ts). */
import { requirePassive } from '../shared/passive/state.js';
import type { SyncBackupOutcome } from '../shared/passive/sync-backup.js';
import { syncBackup } from '../shared/passive/sync-backup.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  outcome: SyncBackupOutcome | null;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: false,
      includeDisabled: false,
    });
    if (!server) return { outcome: null };
    return {
      outcome: await syncBackup(requirePassive(server.config), input.args.backup_id as string, ctx.report),
    };
  },
  renderConsole: () => [],
  renderJson: (result) => ({ outcome: result.outcome }),
});
