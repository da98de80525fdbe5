/**
 * list-files: the files of a backup, as Barman 3.4 lists them. `data`: every file of the backup
 * directory (a directory's files, sorted, before its sub-directories); `standalone`: those plus
 * the WAL segments from begin_wal to end_wal (whether archived or not); `wal`: the archived WAL
 * from begin_wal to the next backup's end_wal, with every history file; `full`: data and wal.
 * `-f json` puts the list under `_INFO`, as Barman does.
 */
import { join } from 'node:path';
import type { BackupInfo } from '../../catalog/backup-info.js';
import { backupFiles, resolveBackup } from '../../catalog/backups.js';
import { withBackupStore } from '../../catalog/store.js';
import { BarmanError } from '../../errors/index.js';
import type { CloudCompression } from '../../wal/cloud-layout.js';
import { cloudWalPath } from '../../wal/cloud-layout.js';
import {
  DEFAULT_SEGMENT_SIZE,
  hashDir,
  isSegmentName,
  parseWalName,
  segmentsBetween,
} from '../../wal/names.js';
import type { XlogDbEntry } from '../../wal/xlogdb.js';
import { defineCommandModule } from '../definition.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import { loadServerCatalog, nextBackup } from '../shared/backup-catalog.js';
import { selectServers } from '../shared/select-servers.js';

export default defineCommandModule<string[]>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return [];
    const catalog = await loadServerCatalog(server.config, ctx.report);
    const backup = resolveBackup(catalog.backups, server.name, input.args.backup_id as string);
    const info = backup.info;
    if (!info)
      throw new BarmanError('backup-unreadable', `backup ${backup.id} is unreadable: ${backup.unreadable}`);
    const target = (input.options.target as string | undefined) ?? 'standalone';
    // The WAL archive's layout: a directory (hash directories) or barman-cloud's objects.
    const walPath = (name: string, entry?: XlogDbEntry) =>
      server.config.wals_directory.kind === 's3'
        ? // Cloud WAL objects carry their compression in the name (barman-cloud-wal-archive's layout).
          `${catalog.layout.walsDirectory}/${cloudWalPath(name, (entry?.compression ?? null) as CloudCompression | null, !!entry?.encryption)}`
        : join(catalog.layout.walsDirectory, hashDir(name), name);
    const files: string[] = [];
    if (target !== 'wal')
      files.push(...(await withBackupStore(server.config, (store) => backupFiles(store, backup))));
    if (target === 'standalone' && info.begin_wal && info.end_wal) {
      const archived = new Map(catalog.xlog.map((entry) => [entry.name, entry]));
      for (const name of segmentsBetween(info.begin_wal, info.end_wal, segmentSize(info)))
        files.push(walPath(name, archived.get(name)));
    }
    if ((target === 'wal' || target === 'full') && info.begin_wal) {
      const nextEnd = nextBackup(catalog, backup)?.info?.end_wal ?? null;
      for (const entry of walUntil(catalog, info.begin_wal, nextEnd)) files.push(walPath(entry.name, entry));
    }
    return files;
  },
  renderConsole: (files) => files,
  renderJson: (files) => (files.length > 0 ? { _INFO: files } : null),
});

function segmentSize(info: BackupInfo): number {
  return info.xlog_segment_size || DEFAULT_SEGMENT_SIZE;
}

/**
 * xlog.db entries in file order from `begin` on the backup's timeline, up to `nextEnd` (the next
 * backup's end_wal) included; every history file met on the way (Barman's rule).
 */
function walUntil(catalog: ServerCatalog, begin: string, nextEnd: string | null): XlogDbEntry[] {
  const timeline = parseWalName(begin)?.timeline ?? 0;
  const entries: XlogDbEntry[] = [];
  for (const entry of catalog.xlog) {
    const wal = parseWalName(entry.name);
    if (wal?.kind === 'history') {
      entries.push(entry);
      continue;
    }
    if (entry.name < begin || !wal || wal.timeline > timeline || !isSegmentName(entry.name)) continue;
    if (nextEnd !== null && entry.name > nextEnd) break;
    entries.push(entry);
  }
  return entries;
}
