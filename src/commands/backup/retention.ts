/**
 * Phase 6 of a backup, retention: once the first backup of a server is DONE, the WAL archived
 * before it goes, since no backup can use it (Barman does the same). Never on a catalogue that
 * could not be read completely: an unreadable backup.info may be an older backup needing it.
 */
import { statusOf } from '../../catalog/backups.js';
import type { HookRunner } from '../../hooks/index.js';
import { isFirstBackup } from '../../retention/policy.js';
import type { CommandContext } from '../definition.js';
import type { ServerCatalog } from '../shared/backup-catalog.js';
import { removeWalsBefore } from '../shared/wal-cleanup.js';

export async function removeWalBeforeFirstBackup(
  ctx: CommandContext,
  catalog: ServerCatalog,
  backupId: string,
  beginWal: string,
  hooks: HookRunner,
): Promise<void> {
  const views = catalog.backups.map((other) => ({ id: other.id, status: statusOf(other) }));
  if (!isFirstBackup(views, backupId)) return;
  // Barman 3.13.2+ too: on write-once storage the old WAL may be protected already; it goes
  // with this backup, by retention, once both are out of the retention window.
  if (catalog.config.worm_mode) {
    ctx.report.info("'worm_mode' is enabled: the WAL files preceding the first backup are kept");
    return;
  }
  const [unreadable] = catalog.unreadable;
  if (unreadable) {
    ctx.report.warning(
      `WAL files older than this backup are kept: the catalogue could not be read completely: ${unreadable.detail}`,
    );
    return;
  }
  const removed = await removeWalsBefore(catalog, beginWal, hooks);
  if (removed.length === 0) return;
  const server = catalog.config.name;
  ctx.report.info(`This is the first backup for server ${server}`);
  ctx.report.info('WAL segments preceding the current backup have been found:');
  for (const name of removed) ctx.report.info(`\t${name} from server ${server} has been removed`);
}
