/**
 * What `check` and `status` need to know about a server's PostgreSQL, gathered in one session:
 * every value is null when PostgreSQL could not say (no connection, no privilege), so callers
 * decide which lines to print, as Barman does with its "remote status".
 */
import type { ServerConfig } from '../config/index.js';
import { describeError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { ArchiverStatus, ReplicationSlot, StreamingIdentity, TablespaceInfo } from './index.js';
import type { SharedConnection } from './shared-connection.js';
import {
  archiverStatus,
  clusterSize,
  currentWal,
  hasBackupPrivileges,
  identifySystem,
  isInRecovery,
  isSuperuser,
  PostgresClient,
  replicationSlot,
  show,
  systemIdentifier,
  tablespaces,
} from './index.js';

/** Barman's minimal supported server version. */
export const MINIMAL_VERSION = 90600;

export interface PostgresProbe {
  /** Why there is no connection (null when connected). */
  error: string | null;
  serverVersion: number | null;
  versionText: string | null;
  majorVersion: string | null;
  isSuperuser: boolean | null;
  hasBackupPrivileges: boolean | null;
  isInRecovery: boolean | null;
  walLevel: string | null;
  dataDirectory: string | null;
  currentWal: string | null;
  currentSize: number | null;
  systemid: string | null;
  /** The configured slot; null when missing (or not configured). */
  slot: ReplicationSlot | null;
  tablespaces: TablespaceInfo[] | null;
  archiveMode: string | null;
  archiveCommand: string | null;
  archiver: ArchiverStatus | null;
}

export interface ProbeOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Also measure the cluster size and the current WAL (status). */
  sizes?: boolean;
  /** The run's shared session (a backup's pre-backup check): borrowed when it is for `conninfo`. */
  connection?: SharedConnection;
}

const EMPTY: Omit<PostgresProbe, 'error'> = {
  serverVersion: null,
  versionText: null,
  majorVersion: null,
  isSuperuser: null,
  hasBackupPrivileges: null,
  isInRecovery: null,
  walLevel: null,
  dataDirectory: null,
  currentWal: null,
  currentSize: null,
  systemid: null,
  slot: null,
  tablespaces: null,
  archiveMode: null,
  archiveCommand: null,
  archiver: null,
};

/** One value asked on its own: a failed query (a missing privilege) gives null and hides nothing else. */
export type AskOne = <T>(what: string, query: () => Promise<T>) => Promise<T | null>;

/**
 * A probing session: connects to `conninfo` (closed when `options.signal` aborts, and at the
 * end; the run's shared session when `options.connection` is for `conninfo`, closed only on
 * abort), runs `body` with an `ask` that turns one failed query into null; a failed connection
 * gives `unreachable(error)` instead.
 */
export async function withProbeSession<T>(
  conninfo: string,
  options: Pick<ProbeOptions, 'log' | 'signal' | 'connection'>,
  unreachable: (error: unknown) => T,
  body: (client: PostgresClient, ask: AskOne) => Promise<T>,
): Promise<T> {
  const shared = options.connection?.conninfo === conninfo ? options.connection : null;
  let client: PostgresClient;
  try {
    client = shared
      ? await shared.client()
      : await PostgresClient.connect(conninfo, { connectTimeoutSeconds: 30 });
  } catch (error) {
    return unreachable(error);
  }
  // An abort (check_timeout) interrupts the query in flight by closing the session.
  const abort = () => void (shared ? shared.close() : client.close());
  options.signal?.addEventListener('abort', abort, { once: true });
  const ask: AskOne = async (what, query) => {
    try {
      return await query();
    } catch (error) {
      options.log.debug(`cannot read ${what}: ${describeError(error)}`);
      return null;
    }
  };
  try {
    return await body(client, ask);
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (!shared) await client.close();
  }
}

export async function probePostgres(config: ServerConfig, options: ProbeOptions): Promise<PostgresProbe> {
  if (!config.conninfo) {
    return { ...EMPTY, error: `Missing 'conninfo' parameter for server '${config.name}'` };
  }
  const unreachable = (error: unknown): PostgresProbe => {
    options.log.warning(`Error retrieving PostgreSQL status: ${describeError(error)}`);
    return { ...EMPTY, error: describeError(error) };
  };
  return withProbeSession(config.conninfo, options, unreachable, async (client, ask) => {
    const probe: PostgresProbe = {
      ...EMPTY,
      error: null,
      serverVersion: client.serverVersion,
      versionText: client.versionText,
      majorVersion: client.majorVersion,
    };
    probe.isSuperuser = await ask('superuser', () => isSuperuser(client));
    probe.hasBackupPrivileges = await ask('backup privileges', () => hasBackupPrivileges(client));
    probe.isInRecovery = await ask('recovery state', () => isInRecovery(client));
    probe.walLevel = await show(client, 'wal_level');
    probe.dataDirectory = await show(client, 'data_directory');
    probe.systemid = await ask('system identifier', () => systemIdentifier(client));
    if (config.slot_name) {
      const slotName = config.slot_name;
      probe.slot = await ask('replication slot', () => replicationSlot(client, slotName));
    }
    probe.tablespaces = await ask('tablespaces', () => tablespaces(client));
    probe.archiveMode = await show(client, 'archive_mode');
    probe.archiveCommand = await show(client, 'archive_command');
    if (config.archiver) probe.archiver = await ask('pg_stat_archiver', () => archiverStatus(client));
    if (options.sizes) {
      probe.currentSize = await ask('cluster size', () => clusterSize(client));
      probe.currentWal = (await ask('current WAL', () => currentWal(client)))?.fileName ?? null;
    }
    return probe;
  });
}

/** The replication connection, opened when backup_method is postgres or streaming_archiver is on. */
export interface StreamingProbe {
  identity: StreamingIdentity | null;
  error: string | null;
}

export function usesStreamingConnection(config: ServerConfig): boolean {
  return config.backup_method === 'postgres' || config.streaming_archiver;
}

export async function probeStreaming(config: ServerConfig, options: ProbeOptions): Promise<StreamingProbe> {
  const conninfo = config.streaming_conninfo;
  if (!conninfo) {
    return { identity: null, error: `Missing 'streaming_conninfo' parameter for server '${config.name}'` };
  }
  try {
    return {
      identity: await identifySystem(conninfo, { connectTimeoutSeconds: 30, signal: options.signal }),
      error: null,
    };
  } catch (error) {
    options.log.warning(`Error retrieving PostgreSQL streaming status: ${describeError(error)}`);
    return { identity: null, error: describeError(error) };
  }
}

/** The primary of a standby (primary_conninfo): is it a primary, and is it the same cluster? */
export interface PrimaryProbe {
  error: string | null;
  isInRecovery: boolean | null;
  systemid: string | null;
}

export async function probePrimary(conninfo: string, options: ProbeOptions): Promise<PrimaryProbe> {
  const unreachable = (error: unknown): PrimaryProbe => ({
    error: describeError(error),
    isInRecovery: null,
    systemid: null,
  });
  return withProbeSession(conninfo, options, unreachable, async (client, ask) => ({
    error: null,
    isInRecovery: await ask('recovery state', () => isInRecovery(client)),
    systemid: await ask('system identifier', () => systemIdentifier(client)),
  }));
}
