/**
 * sync-info: the catalogue status a passive node reads (see src/passive/sync-info.ts), printed
 * as Barman's JSON whatever the output format; `--primary` asks the primary instead and saves
 * its answer (a passive node only).
 */
import { UsageError } from '../../errors/index.js';
import { fetchPrimaryInfo, requirePassive } from '../shared/passive/state.js';
import { syncStatus } from '../shared/passive/sync-info.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  document: Record<string, unknown> | null;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return { document: null };
    const lastWal = (input.args.last_wal as string | undefined) ?? null;
    const positionText = input.args.last_position as string | undefined;
    if (lastWal !== null && !/^[0-9A-F]{24}/.test(lastWal))
      throw new UsageError(`last_wal '${lastWal}' is not a WAL file name`);
    if (positionText !== undefined && !/^\d+$/.test(positionText))
      throw new UsageError(
        `last_position '${positionText}' must be a non-negative whole number (a byte offset in xlog.db)`,
      );
    const lastPosition = positionText === undefined ? null : Number(positionText);
    if (input.options.primary === true) {
      const passive = requirePassive(server.config);
      const info = await fetchPrimaryInfo(
        passive,
        { lastWal, lastPosition },
        ctx.report,
        ctx.config.configFile,
      );
      return { document: info as unknown as Record<string, unknown> };
    }
    return { document: await syncStatus(server, lastWal, lastPosition, ctx.version) };
  },
  renderConsole: (result) => (result.document ? JSON.stringify(result.document, null, 4).split('\n') : []),
  renderJson: (result) => result.document,
});
