/** sync-wals: the WAL files copied from the primary (src/passive/sync-wals.ts). */
import { requirePassive } from '../shared/passive/state.js';
import type { SyncWalsOutcome } from '../shared/passive/sync-wals.js';
import { syncWals } from '../shared/passive/sync-wals.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  outcome: SyncWalsOutcome | null;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: false,
      includeDisabled: false,
    });
    if (!server) return { outcome: null };
    return { outcome: await syncWals(requirePassive(server.config), ctx.report) };
  },
  renderConsole: () => [],
  renderJson: (result) => ({ copied: result.outcome?.copied ?? [] }),
});
