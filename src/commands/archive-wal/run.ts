import { archiveHooks, HookRunner } from '../../hooks/index.js';
import type { ArchiveOutcome } from '../../wal/archiver.js';
import { runArchiveWal } from '../../wal/archive-service.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

type Result = Record<string, ArchiveOutcome>;

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const servers = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: false,
      includeDisabled: false,
    });
    const result: Result = {};
    for (const server of servers) {
      result[server.name] = await runArchiveWal(
        server.config,
        ctx.report,
        ctx.log.child({ server: server.name }),
        { hooks: archiveHooks(HookRunner.forServer(ctx, server.config)) },
      );
    }
    return result;
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
