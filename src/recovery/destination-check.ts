/**
 * What recovery checks before it writes anything: the destination, the tablespace locations and an
 * absolute --staging-wal-directory must be new or empty (or, for --delta-restore, a previous
 * recovery's), and no PostgreSQL may be running there.
 */
import { join, resolve } from 'node:path';
import { BarmanError } from '../errors/index.js';
import type { DirectoryState, RecoveryDestination } from './destination.js';
import type { RecoveryPlan } from './plan.js';

export async function checkDestination(plan: RecoveryPlan, destination: RecoveryDestination): Promise<void> {
  const places = [
    { path: plan.destination, what: 'destination directory' },
    ...plan.tablespaces.map((tablespace) => ({
      path: tablespace.location,
      what: `tablespace '${tablespace.name}' location`,
    })),
  ];
  const links = plan.tablespaces.map((tablespace) =>
    join(plan.destination, 'pg_tblspc', String(tablespace.oid)),
  );
  // An absolute --staging-wal-directory outside PGDATA: recovery_end_command removes it whole.
  const walDirectory = walDirectoryOf(plan);
  const ownWalDirectory =
    plan.wal.mode === 'copy' &&
    plan.wal.directory.startsWith('/') &&
    !walDirectory.startsWith(`${plan.destination}/`)
      ? walDirectory
      : null;
  const states = await destination.inspect([
    ...places.map((place) => place.path),
    ...links,
    ...(ownWalDirectory ? [ownWalDirectory] : []),
  ]);
  const walState = ownWalDirectory ? states.at(-1)! : null;
  if (walState && walState.kind !== 'missing' && walState.kind !== 'empty') {
    throw new BarmanError(
      'destination-not-empty',
      `the staging WAL directory ${ownWalDirectory} ${walState.kind === 'used' ? `is not empty (${walState.entries.slice(0, 5).join(', ')})` : 'exists and is not an empty directory'}`,
      {
        hint: 'PostgreSQL removes it once recovery ends (recovery_end_command): give --staging-wal-directory a new or empty directory.',
      },
    );
  }
  for (const [index, place] of places.entries()) {
    const state: DirectoryState = states[index]!;
    if (state.kind === 'running') {
      throw new BarmanError(
        'destination-in-use',
        `a PostgreSQL server is running in the ${place.what} ${place.path} (pid ${state.pid})`,
        { hint: 'Stop it first: recovery never writes over a running cluster.' },
      );
    }
    if (state.kind === 'not-directory') {
      throw new BarmanError(
        'destination-invalid',
        `the ${place.what} ${place.path} exists and is not a directory`,
      );
    }
    if (state.kind === 'used' && plan.delta) {
      // Delta mode deletes what the backup does not have: only where a recovery has been before.
      const ours =
        index === 0
          ? state.entries.includes('PG_VERSION') || state.entries.includes('.barman-recover.info')
          : states[places.length + index - 1]?.linkTarget === place.path;
      if (!ours) {
        throw new BarmanError(
          'destination-not-recovered',
          index === 0
            ? `--delta-restore: the destination directory ${place.path} does not look like a PostgreSQL data directory (no PG_VERSION); refusing to delete its content`
            : `--delta-restore: the ${place.what} ${place.path} is not the one the destination's pg_tblspc links to; refusing to delete its content (it may belong to a running server)`,
          { hint: 'Recover into an empty or new directory instead.' },
        );
      }
    }
    if (state.kind === 'used' && !plan.delta) {
      const shown = state.entries.slice(0, 5).join(', ') + (state.entries.length > 5 ? ', …' : '');
      throw new BarmanError(
        'destination-not-empty',
        `the ${place.what} ${place.path} is not empty (${shown})`,
        {
          hint: 'Recover into an empty or new directory, or use --delta-restore to reuse the files already there (others are removed).',
        },
      );
    }
  }
}

/** Where the WALs go: under the destination, or the absolute --staging-wal-directory. */
export function walDirectoryOf(plan: RecoveryPlan): string {
  return resolve(plan.destination, plan.wal.directory);
}
