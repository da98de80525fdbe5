import { serverLayout } from '../../catalog/layout.js';
import type { ServerConfig } from '../../config/index.js';
import { ensureLockDirectory, serverLockPath, withLock } from '../../locks/index.js';
import type { Reporter } from '../../output/reporter.js';
import type { RebuildResult, WalArchive } from '../../wal/archive.js';
import { openWalArchive } from '../../wal/archive.js';
import { XLOGDB_LOCK_WAIT_MS } from '../../wal/archive-service.js';
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
      ctx.report.info(`Rebuilding xlogdb for server ${server.name}`);
      const archive = await openWalArchive(server.config);
      let scan: RebuildResult;
      try {
        // barman-cloud's layout has no xlog.db: the listing is the index, nothing to rewrite.
        scan =
          archive.layout === 'barman'
            ? await rebuildXlogDb(server.config, archive, ctx.report)
            : await archive.scan();
      } finally {
        archive.close();
      }
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

/** Barman's layout: xlog.db rewritten from the archive, under its lock, after any removal at work. */
async function rebuildXlogDb(
  config: ServerConfig,
  archive: WalArchive,
  report: Reporter,
): Promise<RebuildResult> {
  const layout = await serverLayout(config);
  await ensureLockDirectory(layout.lockDirectory);
  // A WAL removal at work or interrupted is finished first: its files must not come back.
  return withoutWalRemoval(layout, report, () =>
    withLock(
      serverLockPath(layout.lockDirectory, config.name, 'xlogdb'),
      {
        waitMs: XLOGDB_LOCK_WAIT_MS,
        busyMessage: `xlog.db of server ${config.name} is locked by another process`,
      },
      async () => {
        const xlogDb = XlogDbFile.at(layout.xlogDbFile);
        const columns = (await xlogDb.read()).columns === 5 ? 5 : 4;
        const found = await archive.scan();
        await archive.storage.mkdir('');
        await xlogDb.rewrite(found.entries, columns);
        return found;
      },
    ),
  );
}
