/**
 * Where a local recovery must never write: barman_home, the lock directory and every configured
 * server's directories, wherever they are. A copy inside a stored backup rewrites it; one inside
 * incoming/ or streaming/ is swept into errors/ by archive-wal; a delta restore into a directory
 * that contains the catalogue deletes it. Paths are compared physically (links, `.` and `..`
 * resolved, a destination not created yet by its nearest existing ancestor), before anything is
 * written.
 */
import type { BarmanConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { isSameOrInside, physicalPath } from '../util/paths.js';

export interface CatalogueArea {
  /** As configured. */
  path: string;
  /** `barman_home`, `wals_directory of server 'main'` ... */
  what: string;
  /** Holds backups or WAL files (base/, wals/, incoming/, streaming/, errors/). */
  holdsFiles: boolean;
}

export interface RecoveryPlace {
  path: string;
  /** `recovery destination`, `tablespace 'tbs1' location` ... */
  what: string;
  /** Where the path came from, when worth saying (`--recovery-staging-path`). */
  origin?: string;
}

const SERVER_DIRECTORIES = [
  ['backup_directory', false],
  ['basebackups_directory', true],
  ['wals_directory', true],
  ['incoming_wals_directory', true],
  ['streaming_wals_directory', true],
  ['errors_directory', true],
  ['xlogdb_directory', false],
] as const;

/** Every local directory of the catalogue in `config`, disabled servers included. */
export function catalogueAreas(config: BarmanConfig): CatalogueArea[] {
  const areas: CatalogueArea[] = [
    { path: config.global.barman_home, what: 'barman_home', holdsFiles: false },
    { path: config.global.barman_lock_directory, what: 'barman_lock_directory', holdsFiles: false },
  ];
  for (const server of config.servers.values()) {
    for (const [option, holdsFiles] of SERVER_DIRECTORIES) {
      const value = server.config[option];
      const path = typeof value === 'string' ? value : value?.kind === 'posix' ? value.path : null;
      if (path !== null) areas.push({ path, what: `${option} of server '${server.name}'`, holdsFiles });
    }
  }
  return areas;
}

/**
 * Refuses a recovery writing into a catalogue area, or (unless `mayContain`) into a directory
 * that contains one. `mayContain` is for staging: recovery only creates and removes its own
 * sub-directory there.
 */
export function refuseCatalogueOverlap(
  places: readonly RecoveryPlace[],
  areas: readonly CatalogueArea[],
  options: { mayContain: boolean; hint: string },
): void {
  const resolved = areas.map((area) => ({ ...area, physical: physicalPath(area.path) }));
  for (const place of places) {
    const physical = physicalPath(place.path);
    // The most precise name: the deepest area it is in, or the shallowest one it contains.
    const inside = resolved
      .filter((area) => isSameOrInside(physical, area.physical))
      .sort((a, b) => b.physical.length - a.physical.length)[0];
    const contained = options.mayContain
      ? undefined
      : resolved
          .filter((area) => isSameOrInside(area.physical, physical))
          .sort((a, b) => a.physical.length - b.physical.length)[0];
    const area = inside ?? contained;
    if (!area) continue;
    const given = place.path.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    throw new BarmanError(
      'destination-in-catalogue',
      `${place.what} ${place.path}${place.origin ? ` (${place.origin})` : ''}` +
        `${physical === given ? '' : ` (resolves to ${physical})`} ` +
        `${inside ? 'is inside' : 'contains'} ${area.what} (${area.path}): ` +
        'recovery never writes where barman-ts keeps backups, WAL files or locks',
      { hint: options.hint },
    );
  }
}
