/**
 * What a recovery decides before it reads a backup's files: which backup (`auto` included),
 * where it stages, which places it may never write to, the timeline histories of the archive,
 * and the configuration files the backup does not hold.
 */
import type { CatalogBackup } from '../catalog/backups.js';
import { resolveBackup, statusOf } from '../catalog/backups.js';
import type { ServerConfig } from '../config/index.js';
import { BarmanError, describeError, UsageError } from '../errors/index.js';
import type { TimelineSwitch } from '../wal/history.js';
import { parseTimelineHistory } from '../wal/history.js';
import { parseLsn, parseWalName } from '../wal/names.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import type { CatalogueArea, RecoveryPlace } from './protected-paths.js';
import { refuseCatalogueOverlap } from './protected-paths.js';
import type { WalOpener } from './sources.js';
import type { RecoveryTargets } from './targets.js';

/** A backup id, name or shortcut; `auto` picks the newest backup that can reach the target. */
export function chooseBackup(
  backups: CatalogBackup[],
  server: string,
  reference: string,
  targets: RecoveryTargets,
): CatalogBackup {
  if (reference !== 'auto') return resolveBackup(backups, server, reference);
  const usable = backups.filter((backup) => ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup)));
  const { target } = targets;
  if (target.kind === 'xid' || target.kind === 'name') {
    throw new UsageError(
      `backup id 'auto' cannot choose a backup for a --target-${target.kind}: the catalogue does not know which backups precede it`,
      'Give the backup id (see list-backup), or use --target-time / --target-lsn.',
    );
  }
  const candidates = usable.filter((backup) => {
    if (target.kind === 'time') return (backup.info?.end_time?.epochMs ?? Infinity) <= target.epochMs;
    if (target.kind === 'lsn')
      return backup.info?.end_xlog ? parseLsn(backup.info.end_xlog) <= target.lsn : false;
    return true;
  });
  const chosen = candidates.at(-1);
  if (!chosen) {
    throw new BarmanError(
      'backup-unknown',
      `no backup of server '${server}' ends before the recovery target`,
      {
        hint: "See 'barman list-backup'.",
      },
    );
  }
  return chosen;
}

/**
 * Where tar archives and WAL files are staged on this host, and which setting chose it. With
 * `staging_location = remote` and a remote recovery, staging_path is on the recovery host
 * (remote-staging.ts): this host's staging falls back to the other settings.
 */
export function stagingRoot(
  config: ServerConfig,
  fromCommandLine: string | undefined,
  remoteRecovery = false,
): { path: string; origin: string } {
  if (fromCommandLine) return { path: fromCommandLine, origin: '--recovery-staging-path' };
  const stagedRemotely = remoteRecovery && config.staging_location === 'remote';
  for (const option of ['staging_path', 'recovery_staging_path', 'local_staging_path'] as const) {
    if (option === 'staging_path' && stagedRemotely) continue;
    const path = config[option];
    if (path) return { path, origin: option };
  }
  // Not /tmp (often a small tmpfs): a tar backup may be extracted here whole.
  return { path: config.backup_directory, origin: 'backup_directory' };
}

const DESTINATION_RULE = {
  mayContain: false,
  hint: 'Recover into a directory outside barman_home, barman_lock_directory and the directories of every configured server.',
};
const STAGING_RULE = {
  mayContain: true,
  hint:
    "Stage outside the backups and WAL directories (the default is the server's backup_directory): " +
    'set --recovery-staging-path, staging_path or recovery_staging_path.',
};

/**
 * Refuses, before anything is written (archive-wal would sweep a copy made in incoming/), a
 * local destination or --tablespace location in the catalogue, and staging among its files.
 */
export function refuseCataloguePlaces(
  request: {
    destination: string;
    remoteCommand: string | null;
    tablespaceRules: readonly string[];
    staging: { path: string; origin: string };
    stagingWalDirectory?: string | null;
  },
  areas: CatalogueArea[],
): void {
  if (!request.remoteCommand) {
    // A relative path or '/' itself is refused later as a usage error (exit 2), as Barman does.
    const places = [
      { path: request.destination, what: 'recovery destination' },
      ...relocations(request.tablespaceRules),
      ...(request.stagingWalDirectory
        ? [{ path: request.stagingWalDirectory, what: 'staging WAL directory (--staging-wal-directory)' }]
        : []),
    ];
    refuseCatalogueOverlap(
      places.filter((place) => place.path.startsWith('/') && place.path !== '/'),
      areas,
      DESTINATION_RULE,
    );
  }
  refuseCatalogueOverlap(
    [{ path: request.staging.path, what: 'recovery staging directory', origin: request.staging.origin }],
    areas.filter((area) => area.holdsFiles),
    STAGING_RULE,
  );
}

/** The same refusal for the backup's own tablespace locations, once the plan knows them. */
export function refuseCatalogueTablespaces(
  tablespaces: ReadonlyArray<{ name: string; location: string }>,
  areas: CatalogueArea[],
): void {
  refuseCatalogueOverlap(
    tablespaces.map((tablespace) => ({
      path: tablespace.location,
      what: `tablespace '${tablespace.name}' location`,
    })),
    areas,
    DESTINATION_RULE,
  );
}

/** The locations of --tablespace NAME:LOCATION rules (the plan reports malformed ones). */
function relocations(rules: readonly string[]): RecoveryPlace[] {
  return rules.flatMap((rule) => {
    const colon = rule.indexOf(':');
    return colon > 0 && rule.length > colon + 1
      ? [{ path: rule.slice(colon + 1), what: `tablespace '${rule.slice(0, colon)}' location` }]
      : [];
  });
}

/** Every timeline history file of the archive, parsed. */
export async function readHistories(
  server: string,
  xlog: readonly XlogDbEntry[],
  openWal: WalOpener,
): Promise<Map<number, TimelineSwitch[]>> {
  const histories = new Map<number, TimelineSwitch[]>();
  for (const entry of xlog) {
    const wal = parseWalName(entry.name);
    if (!wal || wal.kind !== 'history') continue;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await openWal(entry)) chunks.push(chunk as Buffer);
      histories.set(wal.timeline, parseTimelineHistory(Buffer.concat(chunks).toString('utf8')));
    } catch (error) {
      throw new BarmanError(
        'history-unreadable',
        `cannot read timeline history file ${entry.name} of server '${server}': ${describeError(error)}`,
      );
    }
  }
  return histories;
}

/** Config files recorded in backup.info that lie outside PGDATA (not part of the backup). */
export function outsidePgdata(backup: CatalogBackup): string[] {
  const info = backup.info;
  if (!info?.pgdata) return [];
  return [info.config_file, info.hba_file, info.ident_file, ...(info.included_files ?? [])].filter(
    (file): file is string => !!file && !file.startsWith(`${info.pgdata}/`),
  );
}
