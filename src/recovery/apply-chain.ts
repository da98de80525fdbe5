/**
 * The base copy of a block-level incremental backup: its chain, already read and checked
 * (combine/prepareCombine, before anything was written: labels, manifests, which backup supplies
 * each file; the INCREMENTAL headers are read as each file is written), is combined by the native combine.
 * A chain stored as tar archives (an s3:// basebackups_directory, barman-cloud's layout; an encrypted
 * chain in a directory, chain-sources.ts) was only checked for its archives (each backup has its
 * PGDATA archive and backup_manifest; `.gpg` archives decrypted as they stream): the full
 * backup's archives stream straight into the place the combine writes (the destination, or
 * staging as below), each incremental's into staging (`chain/<id>/`: only what that incremental
 * stored — changed blocks and small files), then the chain is read and checked and the same
 * combine runs with the full backup in place (combine.ts, baseInPlace): no copy of the full
 * backup is staged, and every archive is read once, as a stream.
 *
 * - Local destination, no delta: combined straight into the destination and the tablespace
 *   locations (apply.ts made them and the pg_tblspc links), with the same exclusions as a copy
 *   (pg_wal's content, postmaster.pid, recovery.signal …): no staging copy.
 * - Remote destination (--remote-ssh-command) or --delta-restore: combined into the local
 *   staging directory, then copied as a plain backup is (rsync over ssh; for a delta restore
 *   the tree copy that keeps identical files and removes the others), then the staging copy
 *   is removed with the rest of staging.
 */
import { join } from 'node:path';
import { PosixStorage } from '../storage/index.js';
import { createRateLimiter } from '../util/throttle.js';
import { extractBackupArchives } from './archive-extract.js';
import type { ChainBackup } from './combine/chain.js';
import type { CombineFilter, CombineMode, PreparedCombine } from './combine/combine.js';
import { prepareCombine, writeCombined } from './combine/combine.js';
import { chainBackupDirectory } from './layout.js';
import type { BackupArchives } from './sources.js';
import type { RecoveryDestination, TreeCopyOptions } from './destination.js';
import type { CopyStats } from '../transfer/copy-tree.js';
import type { RecoveryPlan } from './plan.js';

/** A chain stored as tar archives: its backups, full backup first, as recovery lists them. */
export interface ArchivedChain {
  members: ReadonlyArray<{ id: string; archives: BackupArchives }>;
}

export type ChainRestore =
  { prepared: PreparedCombine; mode: CombineMode } | { archived: ArchivedChain; mode: CombineMode };

export interface ChainRestoreStats {
  files: number;
  bytes: number;
  reused: number;
}

export async function restoreChain(
  chain: ChainRestore,
  context: {
    plan: RecoveryPlan;
    destination: RecoveryDestination;
    staging: string;
    jobs: number;
    filter: CombineFilter;
    bandwidthLimit: number | null;
    signal?: AbortSignal;
    copyOptions: (
      label: string,
      exclude: TreeCopyOptions['exclude'],
      tablespace?: string | null,
    ) => TreeCopyOptions;
  },
): Promise<ChainRestoreStats> {
  const { plan, destination } = context;
  const direct = destination.remoteCommand === null && !plan.delta;
  const root = direct ? null : join(context.staging, 'combined');
  const data = root === null ? plan.destination : join(root, 'data');
  const tablespaces = new Map(
    plan.tablespaces.map((tablespace) => [
      tablespace.oid,
      root === null ? tablespace.location : join(root, String(tablespace.oid)),
    ]),
  );
  const archived = 'archived' in chain;
  const prepared = archived
    ? await extractChain(chain.archived, { ...context, data, tablespaces })
    : chain.prepared;
  const combined = await writeCombined(prepared, {
    destination: data,
    tablespaceDestinations: tablespaces,
    mode: chain.mode,
    jobs: context.jobs,
    filter: context.filter,
    baseInPlace: archived,
  });
  if (archived) await new PosixStorage(context.staging).removeTree('chain');
  if (root === null) return { files: combined.files, bytes: combined.bytes, reused: 0 };
  const stats: CopyStats[] = [];
  for (const tablespace of plan.tablespaces)
    stats.push(
      await destination.copyTree(
        join(root, String(tablespace.oid)),
        tablespace.location,
        context.copyOptions(`tablespace ${tablespace.name}`, () => 'copy', tablespace.name),
      ),
    );
  stats.push(
    await destination.copyTree(data, plan.destination, context.copyOptions('PGDATA', context.filter)),
  );
  return {
    files: stats.reduce((sum, entry) => sum + entry.files, 0),
    bytes: stats.reduce((sum, entry) => sum + entry.bytes, 0),
    reused: stats.reduce((sum, entry) => sum + entry.reused + entry.linked, 0),
  };
}

/**
 * Extracts an archived chain (see the top of this file) and reads and checks it as the combine
 * does for any chain: the full backup into `data` and `tablespaces`, the incrementals into
 * staging. The archives of one backup download `jobs` at a time, under one bandwidth limit.
 */
async function extractChain(
  chain: ArchivedChain,
  context: {
    plan: RecoveryPlan;
    staging: string;
    jobs: number;
    filter: CombineFilter;
    bandwidthLimit: number | null;
    signal?: AbortSignal;
    data: string;
    tablespaces: ReadonlyMap<number, string>;
  },
): Promise<PreparedCombine> {
  const limiter = context.bandwidthLimit ? createRateLimiter(context.bandwidthLimit, context.signal) : null;
  const stagedRoot = join(context.staging, 'chain');
  const backups: ChainBackup[] = [];
  for (const [index, member] of chain.members.entries()) {
    const full = index === 0;
    // Absolute paths, through a Storage of the root directory: the destination and the
    // tablespace locations may be anywhere.
    const dataDirectory = full ? context.data : join(stagedRoot, chainBackupDirectory(member.id, 'data'));
    const tablespaces = context.plan.tablespaces.map((tablespace) => ({
      ...tablespace,
      location: full
        ? context.tablespaces.get(tablespace.oid)!
        : join(stagedRoot, chainBackupDirectory(member.id, String(tablespace.oid))),
    }));
    const extracted = await extractBackupArchives(member.archives, {
      pgdata: dataDirectory,
      tablespaces,
      // A tablespace created after an older backup of the chain is not in its archives.
      tablespacesOptional: index < chain.members.length - 1,
      filter: context.filter,
      jobs: context.jobs,
      limiter,
      privateModes: !full || context.data !== context.plan.destination,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    if (extracted.manifest === null)
      throw new Error(`backup ${member.id} has no backup_manifest in ${member.archives.archiveLocation}`);
    // The combine reads each backup's manifest beside its backup_label, as in a plain backup.
    await new PosixStorage(dataDirectory).writeFile('backup_manifest', extracted.manifest, { mode: 0o600 });
    backups.push({
      name: member.id,
      storage: new PosixStorage('/'),
      dataDirectory: dataDirectory.slice(1),
      tablespaces: new Map(tablespaces.map((tablespace) => [tablespace.oid, tablespace.location.slice(1)])),
    });
  }
  // Listed as found on disk: the full backup lies in the destination, among the WAL recovery copies.
  return prepareCombine(backups, 'storage');
}
