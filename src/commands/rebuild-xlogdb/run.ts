import { mkdir } from 'node:fs/promises';
import { serverLayout } from '../../catalog/layout.js';
import { serverLockPath, withLock } from '../../locks/index.js';
import { customWalCompression } from '../../wal/custom-compression.js';
import { XLOGDB_LOCK_WAIT_MS } from '../../wal/archive-service.js';
import { scanWalArchive } from '../../wal/rebuild.js';
import { XlogDbFile } from '../../wal/xlogdb-file.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import { withoutWalRemoval } from '../shared/wal-cleanup.js';

type Result = Record<string, { history: number; backupLabels: number; walFiles: number; skipped: string[] }>;

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const servers = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    });
    const result: Result = {};
    for (const server of servers) {
      const layout = serverLayout(server.config);
      ctx.report.info(`Rebuilding xlogdb for server ${server.name}`);
      await mkdir(layout.lockDirectory, { recursive: true });
      // A WAL removal at work or interrupted is finished first: its files must not come back.
      const scan = await withoutWalRemoval(layout, ctx.report, () =>
        withLock(
          serverLockPath(layout.lockDirectory, server.name, 'xlogdb'),
          {
            waitMs: XLOGDB_LOCK_WAIT_MS,
            busyMessage: `xlog.db of server ${server.name} is locked by another process`,
          },
          async () => {
            const xlogDb = new XlogDbFile(layout.xlogDbFile);
            const columns = (await xlogDb.read()).columns === 5 ? 5 : 4;
            const found = await scanWalArchive(layout.walsDirectory, customWalCompression(server.config));
            await mkdir(layout.walsDirectory, { recursive: true });
            await xlogDb.rewrite(found.entries, columns);
            return found;
          },
        ),
      );
      for (const skipped of scan.skipped)
        ctx.report.warning(`skipped unexpected file in the WAL archive: ${skipped}`);
      ctx.report.info(
        `Done rebuilding xlogdb for server ${server.name} (history: ${scan.counts.history}, ` +
          `backup_labels: ${scan.counts.backupLabels}, wal_file: ${scan.counts.walFiles})`,
      );
      result[server.name] = { ...scan.counts, skipped: scan.skipped };
    }
    return result;
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
