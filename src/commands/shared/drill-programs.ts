/**
 * The PostgreSQL programs a restore drill runs, for the backup's major version: `postgres` of
 * that very version (a data directory only starts on its own major), `pg_amcheck` (14 or later)
 * and `pg_verifybackup` of that version or later (older ones cannot read newer manifests).
 * Searched in restore_drill_bin_path, path_prefix, Debian's /usr/lib/postgresql/<major>/bin,
 * then PATH. And the directory a drill goes below, which must lie outside the catalogue: both
 * are what `verify-restore` refuses before it starts and what `barman check` reports ahead.
 */
import { tmpdir } from 'node:os';
import { delimiter } from 'node:path';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import type { CatalogueArea } from '../../recovery/protected-paths.js';
import { refuseCatalogueOverlap } from '../../recovery/protected-paths.js';
import { majorVersion } from '../../postgres/index.js';
import { findPgToolOfVersion } from '../../process/postgres-tools.js';

export interface DrillPrograms {
  major: number;
  postgres: string;
  amcheck: string;
  /** Null when none fits: the drill then skips pg_verifybackup and says so. */
  verifybackup: string | null;
}

/** 150018 -> 15, 90624 -> 9.6: PostgreSQL's major version (postgres/client.ts) as a number. */
export function majorOfVersionNumber(version: number): number {
  return Number.parseFloat(majorVersion(version));
}

export function drillSearchPath(
  config: ServerConfig,
  major: number,
  envPath = process.env.PATH ?? '',
): string[] {
  return [
    config.restore_drill_bin_path ?? '',
    ...(config.path_prefix ?? '').split(delimiter),
    `/usr/lib/postgresql/${major}/bin`,
    ...envPath.split(delimiter),
  ].filter((directory) => directory !== '');
}

export async function findDrillPrograms(config: ServerConfig, version: number): Promise<DrillPrograms> {
  const major = majorOfVersionNumber(version);
  const directories = drillSearchPath(config, major);
  const postgres = await findPgToolOfVersion('postgres', directories, (found) => found === major);
  if (!postgres.tool)
    throw new BarmanError(
      'drill-programs',
      `PostgreSQL ${major}'s server program 'postgres' was not found (searched ${postgres.searched.join(', ')})`,
      {
        hint: `install PostgreSQL ${major}'s server, or set restore_drill_bin_path to the directory of its programs`,
      },
    );
  const amcheck = await findPgToolOfVersion('pg_amcheck', directories, (found) => found >= 14);
  if (!amcheck.tool)
    throw new BarmanError(
      'drill-programs',
      `pg_amcheck (PostgreSQL 14 or later) was not found (searched ${amcheck.searched.join(', ')})`,
      { hint: 'install a PostgreSQL client of version 14 or later, or set restore_drill_bin_path' },
    );
  const verifybackup = await findPgToolOfVersion('pg_verifybackup', directories, (found) => found >= major);
  return {
    major,
    postgres: postgres.tool.path,
    amcheck: amcheck.tool.path,
    verifybackup: verifybackup.tool?.path ?? null,
  };
}

/**
 * The directory drills are created below (restore_drill_directory, else TMPDIR or /tmp),
 * refused when it lies inside barman_home, the lock directory or a server's directories
 * (`areas`, recovery/protected-paths.ts). It may contain them: a drill only creates and
 * removes its own sub-directory there.
 */
export function drillBaseDirectory(config: ServerConfig, areas: readonly CatalogueArea[]): string {
  const base = config.restore_drill_directory ?? tmpdir();
  refuseCatalogueOverlap(
    [
      {
        path: base,
        what: 'restore drill directory',
        origin: config.restore_drill_directory ? 'restore_drill_directory' : 'TMPDIR',
      },
    ],
    areas,
    {
      mayContain: true,
      hint: 'set restore_drill_directory outside barman_home, barman_lock_directory and the directories of every server',
    },
  );
  return base;
}
