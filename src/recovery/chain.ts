/**
 * The chain behind a block-level incremental backup, from the catalogue alone: its full backup,
 * then every incremental up to the one recovered, followed through backup.info's
 * `parent_backup_id`. A chain with a backup missing, unreadable, not DONE or of another system
 * is refused here, naming that backup, before the recovery locks, checks or writes anything;
 * the combine (combine/chain.ts) then checks the backups' own files (backup_label, manifest).
 */
import type { BackupInfo } from '../catalog/backup-info.js';
import type { CatalogBackup } from '../catalog/backups.js';
import { BarmanError } from '../errors/index.js';

export type ReadableBackup = CatalogBackup & { info: BackupInfo };

/** Statuses a backup of a chain may have: the same as for the backup recovered. */
const RECOVERABLE = new Set(['DONE', 'WAITING_FOR_WALS']);

function brokenChain(server: string, target: string, what: string): BarmanError {
  return new BarmanError(
    'chain-broken',
    `Cannot recover incremental backup '${target}' of server '${server}': ${what}`,
    {
      hint:
        "An incremental backup needs its full backup and every incremental between them (see 'barman show-backup'); " +
        'recover an older backup whose chain is complete, or take a new full backup.',
    },
  );
}

/** True for a block-level incremental backup (Barman 3.11+ marks one with its parent). */
export function isIncrementalBackup(info: BackupInfo): boolean {
  return info.parent_backup_id !== null && info.parent_backup_id !== '';
}

/**
 * The backups to combine, oldest first: the full backup at the root, `target` last. A backup of
 * a full backup alone is a chain of one.
 */
export function resolveChain(
  server: string,
  backups: readonly CatalogBackup[],
  target: ReadableBackup,
): ReadableBackup[] {
  const byId = new Map(backups.map((backup) => [backup.id, backup]));
  const chain: ReadableBackup[] = [target];
  const seen = new Set([target.id]);
  let child = target;
  while (isIncrementalBackup(child.info)) {
    const parentId = child.info.parent_backup_id!;
    if (seen.has(parentId))
      throw brokenChain(server, target.id, `its chain loops back to backup '${parentId}'`);
    seen.add(parentId);
    const parent = byId.get(parentId);
    if (parent === undefined)
      throw brokenChain(
        server,
        target.id,
        `backup '${parentId}', the parent of '${child.id}', is missing from the catalogue`,
      );
    if (!parent.info)
      throw brokenChain(
        server,
        target.id,
        `backup '${parentId}', the parent of '${child.id}', has an unreadable backup.info (${parent.unreadable ?? 'unknown error'})`,
      );
    if (!RECOVERABLE.has(parent.info.status))
      throw brokenChain(
        server,
        target.id,
        `backup '${parentId}', the parent of '${child.id}', has status ${parent.info.status}, not DONE`,
      );
    const system = target.info.systemid;
    if (system && parent.info.systemid && parent.info.systemid !== system)
      throw brokenChain(
        server,
        target.id,
        `backup '${parentId}', the parent of '${child.id}', belongs to system ${parent.info.systemid}, not ${system}`,
      );
    const readable: ReadableBackup = { ...parent, info: parent.info };
    chain.unshift(readable);
    child = readable;
  }
  return chain;
}
