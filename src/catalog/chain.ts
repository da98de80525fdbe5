/**
 * Block-level incremental chains (Barman 3.11+): which backup is built on which, as the
 * catalogue's backup.info files say (`parent_backup_id` of an incremental backup,
 * `children_backup_ids` of its parent). The one place that answers root, parent, children,
 * descendants and chain of a backup, its type and its deduplication ratio; every listing,
 * deletion and retention decision asks here.
 *
 * Both links are read: a child is a backup whose parent_backup_id names this backup, or one
 * this backup's children_backup_ids lists that is still in the catalogue. A deletion killed
 * between removing a child's backup.info and rewriting its parent's list leaves an id in that
 * list naming no backup; such an id is ignored (and dropped by the next rewrite of the parent).
 */
import type { BackupInfo } from './backup-info.js';
import type { CatalogBackup } from './backups.js';

/** Barman's backup type (`backup_type` of show-backup and list-backup's letter). */
export type BackupType = 'full' | 'incremental' | 'rsync' | 'snapshot';

/** The type Barman 3.11+ computes from the backup's mode and parent. */
export function backupType(info: BackupInfo): BackupType {
  const mode = info.mode ?? '';
  if (mode.startsWith('snapshot')) return 'snapshot';
  if (mode.startsWith('rsync')) return 'rsync';
  return info.parent_backup_id !== null ? 'incremental' : 'full';
}

/** Whether a backup can stand alone as the start of a recovery (Barman's `is_full`). */
export function isFullBackup(info: BackupInfo): boolean {
  const type = backupType(info);
  return type !== 'incremental' && type !== 'snapshot';
}

/**
 * Barman's estimate of what a backup saved, between 0 and 1: its deduplicated size against the
 * cluster's size at backup time (against the backup's own size for rsync backups, and for
 * backups of Barman < 3.11 that recorded no cluster size nothing is saved).
 */
export function deduplicationRatio(info: BackupInfo): number {
  const whole = backupType(info) === 'rsync' ? info.size : info.cluster_size;
  return whole && info.deduplicated_size ? 1 - info.deduplicated_size / whole : 0;
}

/** The bytes a backup saved, as Barman estimates them (`Resources saved`). */
export function estimatedSavedBytes(info: BackupInfo): number {
  return ((info.cluster_size || info.size) ?? 0) * deduplicationRatio(info);
}

/** Whether backup.info carries a chain link at all (a 3.11+ catalogue with incremental backups). */
export function hasChainLink(info: BackupInfo): boolean {
  return info.parent_backup_id !== null || (info.children_backup_ids?.length ?? 0) > 0;
}

/** The chains of one server's catalogue, built from its backups as loaded. */
export class BackupChains {
  private readonly byId: Map<string, CatalogBackup>;
  private readonly children = new Map<string, string[]>();

  constructor(backups: readonly CatalogBackup[]) {
    this.byId = new Map(backups.map((backup) => [backup.id, backup]));
    for (const backup of backups) {
      const listed = (backup.info?.children_backup_ids ?? []).filter((id) => this.byId.has(id));
      this.children.set(backup.id, [...new Set(listed)]);
    }
    for (const backup of [...backups].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const parent = backup.info?.parent_backup_id;
      const siblings = parent ? this.children.get(parent) : undefined;
      if (siblings && !siblings.includes(backup.id)) siblings.push(backup.id);
    }
  }

  /** Whether any backup of the catalogue is part of a chain (has a parent or children). */
  get holdsChains(): boolean {
    return [...this.byId.values()].some((backup) => backup.info !== null && hasChainLink(backup.info));
  }

  /** The parent backup, when the backup is incremental and its parent is in the catalogue. */
  parentOf(id: string): CatalogBackup | null {
    const parent = this.byId.get(id)?.info?.parent_backup_id;
    return parent ? (this.byId.get(parent) ?? null) : null;
  }

  /**
   * The id of the parent an incremental backup names when that parent is not in the catalogue
   * (removed by hand, or never copied here): such a backup cannot be recovered.
   */
  missingParentOf(id: string): string | null {
    const parent = this.byId.get(id)?.info?.parent_backup_id;
    return parent && !this.byId.has(parent) ? parent : null;
  }

  /** The ids of the backups built directly on this one. */
  childrenOf(id: string): readonly string[] {
    return this.children.get(id) ?? [];
  }

  /**
   * Every backup built on this one, directly or not, deepest first: each child's own
   * descendants before the child, children in their parent's order. The order a deletion
   * follows, so that no backup is ever left without its parent.
   */
  descendantsOf(id: string): string[] {
    const order: string[] = [];
    const visit = (parent: string, seen: Set<string>) => {
      for (const child of this.childrenOf(parent)) {
        if (seen.has(child)) continue; // a loop of hand-edited links must not hang us
        seen.add(child);
        visit(child, seen);
        order.push(child);
      }
    };
    visit(id, new Set([id]));
    return order;
  }

  /** The backup and its ancestors present in the catalogue, the backup first, its root last. */
  chainOf(id: string): CatalogBackup[] {
    const chain: CatalogBackup[] = [];
    const seen = new Set<string>();
    for (
      let backup = this.byId.get(id);
      backup && !seen.has(backup.id);
      backup = this.parentOf(backup.id) ?? undefined
    ) {
      seen.add(backup.id);
      chain.push(backup);
    }
    return chain;
  }

  /** The first backup of the chain (the backup itself when it has no parent in the catalogue). */
  rootOf(id: string): CatalogBackup | null {
    return this.chainOf(id).at(-1) ?? null;
  }
}
