import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveBackup } from '../../catalog/backups.js';
import { BarmanError } from '../../errors/index.js';
import { hashDir } from '../../wal/names.js';
import { defineCommandModule } from '../definition.js';
import type { CloudCompression } from '../../wal/cloud-layout.js';
import { cloudWalPath } from '../../wal/cloud-layout.js';
import { loadAnyServerCatalog, nextBackup } from '../shared/backup-catalog.js';
import { cloudBackupObjects, hasCloudCatalog } from '../shared/cloud-catalog.js';
import { selectServers } from '../shared/select-servers.js';

export default defineCommandModule<string[]>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return [];
    const catalog = await loadAnyServerCatalog(server.config, ctx.report);
    const cloud = hasCloudCatalog(server.config);
    const backup = resolveBackup(catalog.backups, server.name, input.args.backup_id as string);
    const info = backup.info;
    if (!info)
      throw new BarmanError('backup-unreadable', `backup ${backup.id} is unreadable: ${backup.unreadable}`);
    const target = (input.options.target as string | undefined) ?? 'standalone';
    const files: string[] = [];
    if (target !== 'wal') {
      if (cloud) {
        files.push(...(await cloudBackupObjects(server.config, backup.id)));
      } else {
        if (!backup.infoFile.startsWith(backup.directory)) files.push(backup.infoFile);
        files.push(...(await walk(backup.directory)));
      }
    }
    if (target !== 'data' && info.begin_wal) {
      const timeline = info.begin_wal.slice(0, 8);
      const until =
        target === 'standalone' ? info.end_wal : (nextBackup(catalog, backup)?.info?.begin_wal ?? null);
      for (const entry of [...catalog.xlog].sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
      )) {
        const segment = entry.name.slice(0, 24);
        if (entry.name.endsWith('.history') || !segment.startsWith(timeline) || segment < info.begin_wal)
          continue;
        if (until !== null && (target === 'standalone' ? segment > until : segment >= until)) continue;
        files.push(
          cloud
            ? // Cloud WAL objects carry their compression in the name (barman-cloud-wal-archive's layout).
              `${catalog.layout.walsDirectory}/${cloudWalPath(entry.name, entry.compression as CloudCompression | null)}`
            : join(catalog.layout.walsDirectory, hashDir(entry.name), entry.name),
        );
      }
    }
    return files;
  },
  renderConsole: (files) => files,
  renderJson: (files) => files,
});

/** Every regular file under `directory`, depth first, names sorted. */
async function walk(directory: string): Promise<string[]> {
  const entries = (await readdir(directory, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  );
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}
