/**
 * A recovery plan: everything `recover` will do, computed before anything is touched, as pure
 * code — the backup, where PGDATA and each tablespace go, the WAL files and the directory they
 * go to, the settings and signal file to write. `apply.ts` carries it out; `--dry-run` prints it.
 */
import { posix } from 'node:path';
import type { BackupInfo } from '../catalog/backup-info.js';
import { BarmanError, UsageError } from '../errors/index.js';
import type { TimelineSwitch } from '../wal/history.js';
import { formatLsn, parseLsn } from '../wal/names.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import type { RestoreCommandChoice } from './settings.js';
import { recoverySettingsLines } from './settings.js';
import type { RecoveryTargets } from './targets.js';
import { checkTargetAgainstBackup, describeTargets } from './targets.js';
import type { WalSelection } from './wal-selection.js';
import { selectRecoveryWals } from './wal-selection.js';

export interface PlannedTablespace {
  oid: number;
  name: string;
  /** Location on the original server. */
  original: string;
  /** Where it is restored. */
  location: string;
}

export interface RecoveryPlan {
  server: string;
  backupId: string;
  /** Where the backup is, for messages: a directory or an s3:// URL. */
  backupDirectory: string;
  format: 'plain' | 'tar';
  /**
   * A block-level incremental backup: its chain's ids, full backup first, this one last; the
   * data directory is combined from them (combine/) instead of copied. Null otherwise.
   */
  chain: string[] | null;
  version: number;
  destination: string;
  /** The --remote-ssh-command, or null for a local recovery. */
  remoteCommand: string | null;
  tablespaces: PlannedTablespace[];
  /** Point-in-time recovery (a target, or a timeline other than the backup's). */
  pitr: boolean;
  targets: RecoveryTargets;
  targetDescription: string;
  wal: {
    mode: 'copy' | 'get-wal';
    /**
     * Where the WALs are copied (copy mode): a directory under the destination (`barman_wal`,
     * `pg_wal`), or the absolute path of --staging-wal-directory.
     */
    directory: string;
    selection: WalSelection;
    bytes: number;
    /** Write archive_status/<wal>.done files (WALs in pg_wal for plain crash recovery). */
    archiveStatus: boolean;
  };
  settings: {
    /** postgresql.auto.conf (PG >= 12, or --recovery-conf-filename) or recovery.conf. */
    file: string;
    lines: string[];
    signal: 'recovery.signal' | 'standby.signal' | null;
  };
  delta: boolean;
}

export interface PlanInput {
  server: string;
  backup: { id: string; directory: string; info: BackupInfo };
  destination: string;
  remoteCommand: string | null;
  /** --tablespace NAME:LOCATION rules. */
  tablespaceRules: readonly string[];
  targets: RecoveryTargets;
  getWal: boolean;
  /** restore_command for get-wal mode (built by the caller: it knows the binary and config file). */
  getWalCommand: { command: string; comment: string } | null;
  delta: boolean;
  /**
   * The backup is a set of tar archives whatever backup.info says (its layout has no plain
   * copies), or its chain is (an encrypted chain in a directory).
   */
  tarArchives?: boolean;
  /** The chain of an incremental backup (recovery/chain.ts), full backup first; absent otherwise. */
  chain?: readonly string[];
  entries: readonly XlogDbEntry[];
  /**
   * The entries' times are when each segment was closed (xlog.db: archive-wal keeps the source's
   * mtime). An object listing's are upload times, later by however long the upload waited, so a
   * time target cannot cut the WAL copied by them.
   */
  walTimesAreCloseTimes: boolean;
  histories: ReadonlyMap<number, TimelineSwitch[]>;
  /** --staging-wal-directory: an absolute path on the destination host for the PITR WAL copies. */
  stagingWalDirectory?: string | null;
  /** --recovery-conf-filename: the file of PGDATA the recovery settings go to (PostgreSQL 12+). */
  recoveryConfFilename?: string | null;
}

/** What recovery needs from backup.info. */
type RecoverableInfo = BackupInfo & { begin_wal: string; end_wal: string; timeline: number; version: number };

/**
 * Refuses a backup that cannot be recovered (its status) or a destination that cannot be one,
 * from what the command line and backup.info say: callers check this before locking anything.
 */
export function checkRecoveryRequest(
  server: string,
  backupId: string,
  info: BackupInfo,
  destination: string,
): asserts info is RecoverableInfo {
  const status = info.status;
  if (status !== 'DONE' && status !== 'WAITING_FOR_WALS') {
    throw new BarmanError(
      'backup-not-recoverable',
      `Cannot recover from backup '${backupId}' of server '${server}': backup status is not DONE (${status})`,
      { hint: "Pick a DONE backup from 'barman list-backup'." },
    );
  }
  if (destination.includes(':')) {
    throw new UsageError(
      "The destination directory parameter cannot contain the ':' character",
      'To recover to another host, use --remote-ssh-command.',
    );
  }
  if (!destination.startsWith('/')) {
    throw new UsageError(`the destination directory must be an absolute path: '${destination}'`);
  }
  if (!info.begin_wal || !info.end_wal || !info.timeline || !info.version) {
    throw new BarmanError(
      'backup-incomplete',
      `backup '${backupId}' has no begin/end WAL, timeline or version in its backup.info`,
    );
  }
}

export function buildRecoveryPlan(input: PlanInput): RecoveryPlan {
  const { info } = input.backup;
  checkRecoveryRequest(input.server, input.backup.id, info, input.destination);
  const version = info.version;
  if (input.targets.action !== null && input.targets.action !== 'pause' && version < 90500) {
    throw new UsageError(
      `--target-action ${input.targets.action} needs PostgreSQL 9.5 or later (backup ${input.backup.id} is from ${version})`,
    );
  }
  const destination = cleanPath(input.destination);
  const tablespaces = planTablespaces(info, input.tablespaceRules, destination);
  const combined = input.chain !== undefined && input.chain.length > 1;
  const compressed = Boolean(info.compression && info.compression !== 'none');
  // A chain stored as tar archives (a bucket's, an encrypted one) is extracted, then combined.
  if (combined && compressed && !input.tarArchives)
    throw new BarmanError(
      'chain-compressed',
      `backup '${input.backup.id}' is an incremental backup stored as compressed tar archives: only plain incremental backups can be combined`,
    );
  // A chain is read as plain directories through Storage, whichever storage holds it.
  const format = !combined && (input.tarArchives || compressed) ? 'tar' : 'plain';
  const { targets } = input;
  checkTargetAgainstBackup(targets, {
    id: input.backup.id,
    endTimeMs: info.end_time?.epochMs ?? null,
    endTimeText: info.end_time?.text ?? null,
    endLsn: info.end_xlog ? parseLsn(info.end_xlog) : null,
  });

  const selection = selectRecoveryWals({
    entries: input.entries,
    walTimesAreCloseTimes: input.walTimesAreCloseTimes,
    backup: {
      id: input.backup.id,
      timeline: info.timeline,
      beginWal: info.begin_wal,
      endWal: info.end_wal,
      endLsn: info.end_xlog ? parseLsn(info.end_xlog) : null,
      segmentSize: info.xlog_segment_size,
    },
    histories: input.histories,
    // Before PostgreSQL 12 the default target timeline was the backup's.
    timeline: targets.timeline ?? (version < 120000 ? { kind: 'current' } : null),
    target: targets.target,
  });
  const timelineChanges = selection.targetTimeline !== info.timeline;
  const pitr = targets.target.kind !== 'none' || timelineChanges || targets.timeline !== null;
  const walRoot = version < 100000 ? 'pg_xlog' : 'pg_wal';
  // PITR: WALs beside PGDATA, fed through restore_command; otherwise straight into pg_wal for
  // crash recovery. A standby keeps its WALs in pg_wal (restore_command would be retried forever).
  const walStaged = pitr && !targets.standbyMode;
  const copyDirectory = walStaged
    ? stagingWalDirectory(input, destination, tablespaces, !input.getWal)
    : walRoot;
  if (!walStaged && input.stagingWalDirectory) {
    throw new UsageError(
      '--staging-wal-directory is only used by a point-in-time recovery that copies WAL files',
      'Give a recovery target (--target-time, --target-lsn …) without --standby-mode, or leave the option out.',
    );
  }
  const settingsFile = recoverySettingsFile(input, version);
  const restore: RestoreCommandChoice = input.getWal
    ? {
        mode: 'get-wal',
        command: input.getWalCommand?.command ?? '',
        comment: input.getWalCommand?.comment ?? '',
      }
    : pitr && !targets.standbyMode
      ? { mode: 'copy', walDirectory: copyDirectory }
      : { mode: 'none' };
  const timelineSetting: number | 'latest' | null =
    targets.timeline === null
      ? timelineChanges && version < 120000
        ? selection.targetTimeline
        : null
      : targets.timeline.kind === 'latest'
        ? 'latest'
        : selection.targetTimeline;
  const needsSettings = pitr || input.getWal || targets.standbyMode;
  const lines = needsSettings
    ? recoverySettingsLines({ targets, timeline: timelineSetting, restore, version })
    : [];
  const walFiles = input.getWal ? [] : selection.files;
  return {
    server: input.server,
    backupId: input.backup.id,
    backupDirectory: input.backup.directory,
    format,
    chain: input.chain && input.chain.length > 1 ? [...input.chain] : null,
    version,
    destination,
    remoteCommand: input.remoteCommand,
    tablespaces,
    pitr,
    targets,
    // The timeline is named whenever it is not the backup's, even when PostgreSQL's default chose it.
    targetDescription: describeTargets(
      targets,
      targets.timeline !== null || timelineChanges ? selection.targetTimeline : null,
    ),
    wal: {
      mode: input.getWal ? 'get-wal' : 'copy',
      directory: copyDirectory,
      selection: { ...selection, files: walFiles },
      bytes: walFiles.reduce((sum, entry) => sum + entry.size, 0),
      archiveStatus: !input.getWal && copyDirectory === walRoot,
    },
    settings: {
      file: settingsFile,
      lines,
      signal:
        needsSettings && version >= 120000
          ? targets.standbyMode
            ? 'standby.signal'
            : 'recovery.signal'
          : null,
    },
    delta: input.delta,
  };
}

/**
 * The WAL directory of a PITR copy: `barman_wal` in PGDATA, or --staging-wal-directory — an
 * absolute path of its own (recovery_end_command removes it whole), never '/', the destination,
 * a tablespace or a directory PostgreSQL uses.
 */
function stagingWalDirectory(
  input: PlanInput,
  destination: string,
  tablespaces: readonly PlannedTablespace[],
  copied: boolean,
): string {
  const given = input.stagingWalDirectory;
  if (!given) return 'barman_wal';
  if (!copied) {
    throw new UsageError(
      '--staging-wal-directory cannot be used with get-wal: PostgreSQL fetches the WAL files with barman-wal-restore or get-wal, nothing is copied',
      'Use --no-get-wal to copy the WAL files, or leave --staging-wal-directory out.',
    );
  }
  if (!given.startsWith('/')) {
    throw new UsageError(`--staging-wal-directory must be an absolute path: '${given}'`);
  }
  const path = cleanPath(given);
  const inside = (parent: string) => path === parent || path.startsWith(`${parent}/`);
  const tablespace = tablespaces.find(
    (candidate) => inside(candidate.location) || candidate.location.startsWith(`${path}/`),
  );
  // Inside PGDATA only in a directory of its own: not pg_wal, base, global … (removed whole).
  const top = path.startsWith(`${destination}/`) ? path.slice(destination.length + 1).split('/')[0]! : null;
  const what =
    path === '/'
      ? "'/'"
      : path === destination || destination.startsWith(`${path}/`)
        ? 'the destination directory or one of its parents'
        : tablespace
          ? `inside tablespace '${tablespace.name}' (${tablespace.location})`
          : top !== null && /^(pg_|base$|global$)/.test(top)
            ? `inside PostgreSQL's directory ${top}`
            : null;
  if (what !== null) {
    throw new UsageError(
      `--staging-wal-directory ${path} cannot be ${what}: PostgreSQL removes it (recovery_end_command) once recovery ends`,
      'Give a new directory of its own, e.g. /var/lib/postgresql/barman_wal.',
    );
  }
  return path;
}

/** postgresql.auto.conf, recovery.conf before PostgreSQL 12, or --recovery-conf-filename. */
function recoverySettingsFile(input: PlanInput, version: number): string {
  const name = input.recoveryConfFilename;
  if (!name) return version >= 120000 ? 'postgresql.auto.conf' : 'recovery.conf';
  if (version < 120000) {
    throw new UsageError(
      `--recovery-conf-filename needs PostgreSQL 12 or later: backup ${input.backup.id} is from ${version}, whose recovery settings must go to recovery.conf`,
    );
  }
  if (name.includes('/') || name === '.' || name === '..' || name.trim() !== name) {
    throw new UsageError(
      `--recovery-conf-filename must be a file name in the data directory, not a path: '${name}'`,
      "Give a name such as 'custom.conf', included from postgresql.conf.",
    );
  }
  return name;
}

/** An absolute path without `.`, `..`, doubled or trailing slashes: paths are compared as text. */
function cleanPath(path: string): string {
  return posix.normalize(path).replace(/(.)\/+$/, '$1');
}

function planTablespaces(
  info: BackupInfo,
  rules: readonly string[],
  destination: string,
): PlannedTablespace[] {
  const known = info.tablespaces ?? [];
  const relocations = new Map<string, string>();
  for (const rule of rules) {
    const colon = rule.indexOf(':');
    const name = colon > 0 ? rule.slice(0, colon) : '';
    const location = colon > 0 ? rule.slice(colon + 1) : '';
    if (!name || !location) {
      throw new UsageError(`Invalid tablespace relocation rule '${rule}'`, 'Use --tablespace NAME:LOCATION.');
    }
    if (!known.some((tablespace) => tablespace.name === name)) {
      throw new UsageError(
        `Invalid tablespace name '${name}'`,
        known.length > 0
          ? `Tablespaces in this backup: ${known.map((tablespace) => tablespace.name).join(', ')}`
          : 'This backup has no tablespaces.',
      );
    }
    if (!location.startsWith('/')) {
      throw new UsageError(`tablespace location for '${name}' must be an absolute path: '${location}'`);
    }
    if (relocations.has(name)) throw new UsageError(`tablespace '${name}' is relocated twice`);
    relocations.set(name, cleanPath(location));
  }
  const planned = known.map((tablespace) => ({
    oid: tablespace.oid,
    name: tablespace.name,
    original: tablespace.location,
    location: relocations.get(tablespace.name) ?? tablespace.location,
  }));
  // Every place recovery writes must be its own: never '/', never inside another one.
  const places = [
    { what: 'the destination directory', path: destination },
    ...planned.map((tablespace) => ({ what: `tablespace '${tablespace.name}'`, path: tablespace.location })),
  ];
  for (const place of places) {
    if (place.path === '/') throw new UsageError(`${place.what} cannot be '/'`);
  }
  for (const [index, a] of places.entries()) {
    for (const b of places.slice(index + 1)) {
      if (a.path === b.path || a.path.startsWith(`${b.path}/`) || b.path.startsWith(`${a.path}/`)) {
        throw new UsageError(
          `${a.what} (${a.path}) and ${b.what} (${b.path}) overlap`,
          'Give each tablespace its own location outside the destination: --tablespace NAME:LOCATION.',
        );
      }
    }
  }
  return planned;
}

/** The plan as the lines `--dry-run` prints. */
export function describePlan(plan: RecoveryPlan): string[] {
  const lines = [
    `Recovery plan for server ${plan.server} using backup ${plan.backupId}${plan.format === 'tar' ? ' (tar format)' : ''}`,
    `Destination directory: ${plan.destination}${plan.remoteCommand ? ` (remote: ${plan.remoteCommand})` : ''}`,
  ];
  if (plan.chain)
    lines.push(`Incremental backup: combined from the chain ${plan.chain.join(' -> ')} (native combine)`);
  for (const tablespace of plan.tablespaces) {
    lines.push(
      `Tablespace ${tablespace.name} (oid ${tablespace.oid}): ${tablespace.location}` +
        (tablespace.location !== tablespace.original ? ` (relocated from ${tablespace.original})` : ''),
    );
  }
  lines.push(
    plan.pitr
      ? `Point-in-time recovery: ${plan.targetDescription || 'to the end of the archive'}`
      : 'Recovery to the end of the copied WAL (no PITR)',
  );
  const { selection } = plan.wal;
  lines.push(
    `Timeline path: ${selection.path.map((step) => step.timeline + (step.endLsn !== null ? ` (until ${formatLsn(step.endLsn)})` : '')).join(' -> ')}`,
  );
  if (plan.wal.mode === 'copy') {
    const segments = selection.files.filter((entry) => !entry.name.endsWith('.history'));
    lines.push(
      `WAL files to copy into ${plan.wal.directory}/: ${selection.files.length}` +
        (segments.length > 0 ? ` (${segments[0]!.name} to ${segments.at(-1)!.name})` : ''),
    );
  } else {
    lines.push('WAL files fetched on demand by restore_command (get-wal)');
  }
  if (selection.gap) {
    lines.push(
      `WARNING: the archive has a gap: ${selection.gap.missing} is missing after ${selection.gap.after}`,
    );
  }
  if (plan.settings.lines.length > 0) {
    lines.push(`Settings for ${plan.settings.file}:`);
    for (const line of plan.settings.lines) lines.push(`  ${line}`);
  }
  if (plan.settings.signal) lines.push(`Signal file: ${plan.settings.signal}`);
  if (plan.delta)
    lines.push('Delta restore: files already in the destination are reused when size and checksum match');
  return lines;
}
