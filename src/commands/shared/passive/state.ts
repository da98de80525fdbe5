/**
 * A passive node's view of its primary Barman: `primary.info` (the last `barman sync-info` answer,
 * kept in backup_directory) and `sync-wals.info` (in wals_directory: the xlog.db name and byte
 * position the WAL copy has reached, `<name>\t<position>`), both in Barman's formats so a Barman
 * passive and a barman-ts passive read each other's state. Fetching the status runs
 * `barman sync-info` on the primary over primary_ssh_command.
 */
import type { ServerConfig } from '../../../config/index.js';
import { BarmanError } from '../../../errors/index.js';
import { runRemote } from '../../../process/remote.js';
import { PosixStorage } from '../../../storage/index.js';
import type { Reporter } from '../../../output/reporter.js';

export const PRIMARY_INFO_FILE = 'primary.info';
export const SYNC_WALS_INFO_FILE = 'sync-wals.info';

/** One archived WAL file as sync-info lists it (xlog.db's columns). */
export interface PrimaryWal {
  name: string;
  size: number;
  time: number;
  compression: string | null;
  /** Barman 3.14+ sends it on every entry (null when plain); barman-ts on encrypted ones only. */
  encryption?: string | null;
}

/** The parts of sync-info's document a passive node uses (the rest is kept in primary.info). */
export interface PrimaryInfo {
  last_name: string;
  last_position: number;
  backups: Record<string, Record<string, unknown>>;
  wals: PrimaryWal[];
  version?: string;
  config: {
    name: string;
    basebackups_directory: string;
    wals_directory: string;
    backup_directory?: string;
    compression: string | null;
  };
}

export interface SyncWalsPosition {
  lastWal: string | null;
  lastPosition: number | null;
}

/** A passive server's configuration, narrowed: primary_ssh_command is set, the catalogue is local. */
export interface PassiveConfig extends ServerConfig {
  primary_ssh_command: string;
}

export function isPassive(config: ServerConfig): config is PassiveConfig {
  return typeof config.primary_ssh_command === 'string' && config.primary_ssh_command.length > 0;
}

export function requirePassive(config: ServerConfig): PassiveConfig {
  if (!isPassive(config)) throw new BarmanError('sync-not-passive', `server ${config.name} is not passive`);
  if (config.basebackups_directory.kind !== 'posix' || config.wals_directory.kind !== 'posix')
    throw new BarmanError(
      'sync-not-posix',
      `server ${config.name}: a passive node keeps its catalogue in local directories (basebackups_directory and wals_directory)`,
    );
  return config;
}

export function walsPath(config: ServerConfig): string {
  const wals = config.wals_directory;
  if (wals.kind !== 'posix')
    throw new BarmanError('sync-not-posix', `${config.name}: wals_directory is not local`);
  return wals.path;
}

export function basebackupsPath(config: ServerConfig): string {
  const base = config.basebackups_directory;
  if (base.kind !== 'posix')
    throw new BarmanError('sync-not-posix', `${config.name}: basebackups_directory is not local`);
  return base.path;
}

export async function loadPrimaryInfo(config: ServerConfig): Promise<PrimaryInfo> {
  const storage = new PosixStorage(config.backup_directory);
  let text: string;
  try {
    text = (await storage.readFile(PRIMARY_INFO_FILE)).toString('utf8');
  } catch (error) {
    throw new BarmanError(
      'sync-no-primary-info',
      `Cannot open ${PRIMARY_INFO_FILE} file for server ${config.name}: ${(error as Error).message}`,
      {
        hint: `Run 'barman cron' (or 'barman sync-info --primary ${config.name}') to fetch the primary's status.`,
      },
    );
  }
  return parsePrimaryInfo(text, config.name);
}

/** sync-info's JSON, checked for the keys a passive node relies on. */
export function parsePrimaryInfo(text: string, server: string): PrimaryInfo {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new BarmanError(
      'sync-bad-primary-info',
      `the primary's sync-info for server ${server} is not JSON: ${(error as Error).message}`,
    );
  }
  const info = data as Partial<PrimaryInfo> | null;
  const config = info?.config;
  if (
    !info ||
    typeof info.backups !== 'object' ||
    !Array.isArray(info.wals) ||
    typeof config?.basebackups_directory !== 'string' ||
    typeof config.wals_directory !== 'string'
  ) {
    throw new BarmanError(
      'sync-bad-primary-info',
      `the primary's sync-info for server ${server} lacks backups, wals or config directories`,
    );
  }
  return info as PrimaryInfo;
}

export async function loadSyncWalsPosition(config: ServerConfig): Promise<SyncWalsPosition> {
  const storage = new PosixStorage(walsPath(config));
  let text: string;
  try {
    text = (await storage.readFile(SYNC_WALS_INFO_FILE)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lastWal: null, lastPosition: null };
    throw error;
  }
  const [name, position] = (text.split('\n')[0] ?? '').split('\t');
  const parsed = Number(position);
  return {
    lastWal: name ? name : null,
    lastPosition: position !== undefined && Number.isInteger(parsed) && parsed >= 0 ? parsed : null,
  };
}

/** Written atomically (Barman rewrites it in place), without a trailing newline as Barman does. */
export async function saveSyncWalsPosition(config: ServerConfig, info: PrimaryInfo): Promise<void> {
  await new PosixStorage(walsPath(config)).writeFile(
    SYNC_WALS_INFO_FILE,
    `${info.last_name}\t${info.last_position}`,
  );
}

/**
 * Runs `barman sync-info SERVER [LAST_WAL [LAST_POSITION]]` on the primary and saves its answer as
 * primary.info. An exit code 1 for a request with a position means the primary's xlog.db no
 * longer matches it: the full status is asked for instead (Barman's self-recovery); any other
 * failure (ssh, no barman there) is an error.
 */
export async function fetchPrimaryInfo(
  config: PassiveConfig,
  position: SyncWalsPosition,
  report: Reporter,
  configFile: string,
): Promise<PrimaryInfo> {
  let { lastWal, lastPosition } = position;
  for (;;) {
    const words = [
      'barman',
      ...(config.forward_config_path ? ['-c', configFile] : []),
      'sync-info',
      config.name,
    ];
    if (lastWal !== null) {
      words.push(lastWal);
      if (lastPosition !== null) words.push(String(lastPosition));
    }
    const result = await runRemote(config.primary_ssh_command, words, 300_000);
    if (result.exitCode === 0) {
      const info = parsePrimaryInfo(result.stdout, config.name);
      const storage = new PosixStorage(config.backup_directory);
      await storage.mkdir('');
      await storage.writeFile(PRIMARY_INFO_FILE, result.stdout);
      return info;
    }
    if (result.exitCode === 1 && lastWal !== null) {
      report.warning(
        `sync-info is out of sync. Self-recovery procedure started: requesting full synchronisation from primary server ${config.name}`,
      );
      lastWal = null;
      lastPosition = null;
      continue;
    }
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ');
    throw new BarmanError(
      'sync-info-failed',
      `sync-info execution on remote primary server ${config.name} failed: ${detail || `exit code ${result.exitCode}`}`,
      {
        hint: 'Check primary_ssh_command (it must log in to the primary Barman host) and that barman runs there.',
      },
    );
  }
}
