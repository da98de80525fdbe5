/**
 * Checks, before anything is written to the destination, that the backup still has what the
 * plan copies — its PGDATA and tablespace copies, or its tar archives — and, where an index
 * (xlog.db) lists the WAL archive, that every WAL file selected is there. A catalogue that lost
 * files is refused up front instead of leaving a half-recovered destination behind.
 */
import { BarmanError } from '../errors/index.js';
import type { Storage, StorageEntry } from '../storage/index.js';
import { chainBackupDirectory } from './layout.js';
import type { ArchivedChain } from './apply-chain.js';
import type { RecoveryPlan } from './plan.js';
import type { RecoverySources } from './sources.js';
import { placeOf } from './sources.js';

const LOST_FILES_HINT =
  'the backup directory has lost files: recover another backup (barman list-backup), and delete this one';

export async function checkSources(
  plan: RecoveryPlan,
  sources: RecoverySources,
  archivedChain: ArchivedChain | null = null,
): Promise<void> {
  const { backups, backupLayout } = sources;
  if (archivedChain) await checkArchivedChain(plan, archivedChain);
  // The plan makes every backup of a layout without plain copies a tar one.
  const parts = ['data', ...plan.tablespaces.map((t) => String(t.oid))];
  // Each backup of a chain, the one recovered included, is checked whole by the combine.
  const required = archivedChain
    ? []
    : plan.chain
      ? [chainBackupDirectory(plan.backupId, 'data')]
      : plan.format === 'plain'
        ? parts.map((part) => backupLayout.plainDirectory(plan.backupId, part)!)
        : [backupLayout.archiveDirectory(plan.backupId)];
  for (const path of required) {
    const found = await entryKind(backups, path);
    if (found !== 'directory') {
      const why = found ? 'it is not a directory' : 'no such file or directory';
      throw new BarmanError(
        'backup-incomplete',
        `backup ${plan.backupId} of server ${plan.server} cannot be recovered: ${placeOf(backups, path)} is missing (${why})`,
        { hint: LOST_FILES_HINT },
      );
    }
  }
  if (plan.format === 'tar') {
    // One archive for PGDATA and one per tablespace (plus their parts, in barman-cloud's layout).
    const directory = backupLayout.archiveDirectory(plan.backupId);
    const bases = new Set((await sources.archives.list()).map((archive) => archive.base));
    const missing = [backupLayout.pgdataArchive, ...plan.tablespaces.map((t) => String(t.oid))].filter(
      (base) => !bases.has(base),
    );
    if (missing.length > 0) {
      throw new BarmanError(
        'backup-incomplete',
        `backup ${plan.backupId} of server ${plan.server} cannot be recovered: no ${missing.map((base) => `${base}.tar*`).join(', ')} archive in ${placeOf(backups, directory)}`,
        { hint: LOST_FILES_HINT },
      );
    }
  }
  // barman-cloud's listing is its index: only xlog.db can name a file the archive lacks.
  const { wals } = sources;
  if (plan.wal.mode !== 'copy' || wals.layout !== 'barman') return;
  const missing: string[] = [];
  for (const entry of plan.wal.selection.files) {
    if ((await wals.find(entry.name)).length === 0) missing.push(entry.name);
  }
  if (missing.length > 0) {
    const shown =
      missing.slice(0, 3).join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '');
    throw new BarmanError(
      'wal-missing',
      `WAL file${missing.length > 1 ? 's' : ''} ${shown} needed by the recovery ${missing.length > 1 ? 'are' : 'is'} in xlog.db but not in ${wals.location}`,
      {
        hint: `Run 'barman rebuild-xlogdb' to make xlog.db match the archive, then recover again (to a target the archive reaches).`,
      },
    );
  }
}

/**
 * A chain stored as tar archives is read only once recovery writes: every backup of it must
 * have its PGDATA archive and its backup_manifest (and the recovered one each tablespace's
 * archive), checked now, each missing piece naming its backup.
 */
async function checkArchivedChain(plan: RecoveryPlan, chain: ArchivedChain): Promise<void> {
  for (const [index, member] of chain.members.entries()) {
    const listed = await member.archives.list();
    const bases = new Set(listed.map((archive) => archive.base));
    const wanted = [
      member.archives.pgdataArchive,
      ...(index === chain.members.length - 1 ? plan.tablespaces.map((t) => String(t.oid)) : []),
    ];
    const missing = wanted.filter((base) => !bases.has(base)).map((base) => `${base}.tar*`);
    if ((await member.archives.manifest()) === null) missing.push('backup_manifest');
    if (missing.length === 0) continue;
    const which = member.id === plan.backupId ? 'it' : `backup ${member.id} of its chain`;
    throw new BarmanError(
      'backup-incomplete',
      `backup ${plan.backupId} of server ${plan.server} cannot be recovered: ${which} has no ${missing.join(', ')} in ${member.archives.archiveLocation}`,
      {
        hint: `backup ${member.id} has lost files: recover a backup whose chain is complete (barman list-backup), and delete ${member.id} (its incremental backups go with it)`,
      },
    );
  }
}

/**
 * The kind of the entry at `path`, from a listing of its parent (null when there is none): one
 * request on object stores, where a directory is only a prefix (a stat of one lists it).
 */
export async function entryKind(storage: Storage, path: string): Promise<StorageEntry['kind'] | null> {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  const entries = await storage.list(slash < 0 ? '' : path.slice(0, slash));
  return entries.find((entry) => entry.name === name)?.kind ?? null;
}
