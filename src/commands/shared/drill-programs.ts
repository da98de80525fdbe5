/**
 * The PostgreSQL programs a restore drill runs, for the backup's major version: `postgres` of
 * that very version (a data directory only starts on its own major), `pg_amcheck` (14 or later)
 * and `pg_verifybackup` of that version or later (older ones cannot read newer manifests).
 * Searched in restore_drill_bin_path, path_prefix, Debian's /usr/lib/postgresql/<major>/bin,
 * then PATH.
 */
import { delimiter } from 'node:path';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
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
