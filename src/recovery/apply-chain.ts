/**
 * The base copy of a block-level incremental backup: its chain, already read and checked
 * (combine/prepareCombine, before anything was written), is combined by the native combine.
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
import type { CombineFilter, CombineMode, PreparedCombine } from './combine/combine.js';
import { writeCombined } from './combine/combine.js';
import type { RecoveryDestination, TreeCopyOptions } from './destination.js';
import type { CopyStats } from '../transfer/copy-tree.js';
import type { RecoveryPlan } from './plan.js';

export interface ChainRestore {
  prepared: PreparedCombine;
  mode: CombineMode;
}

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
  const combined = await writeCombined(chain.prepared, {
    destination: data,
    tablespaceDestinations: tablespaces,
    mode: chain.mode,
    jobs: context.jobs,
    filter: context.filter,
  });
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
