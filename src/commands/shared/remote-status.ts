/**
 * Barman 3.4's "remote status" of a server, which `show-server` and `diagnose` print beside the
 * configuration: what the PostgreSQL connection, the streaming connection, each WAL archiver and
 * the backup executor report, key for key and in the value types Barman's JSON shows. A component
 * that cannot answer leaves its keys null (a failed connection says why in `connection_error`).
 * Barman encodes a few values differently in the two commands (`encoding`): show-server prints
 * numerics as Python Decimals, the slot as a Record and times as str(datetime); diagnose writes
 * floats, the slot as a list and ISO 8601 times.
 */
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import type { Logger } from '../../log/index.js';
import { pythonDecimal, pythonRepr } from '../../output/format.js';
import type { ReplicationSlot, StreamingIdentity } from '../../postgres/index.js';
import {
  configFiles,
  currentWal,
  hasBackupPrivileges,
  archiverRow,
  clusterSizeText,
  identifySystem,
  integerSetting,
  isInRecovery,
  isSuperuser,
  majorVersion,
  replicationSlot,
  serverVersionWord,
  show,
  splitSynchronousStandbyNames,
  systemIdentifier,
  walSegmentSize,
} from '../../postgres/index.js';
import type { PgTool } from '../../process/postgres-tools.js';
import { compareVersions, findPgTool, toolCompatible, toolSearchPath } from '../../process/postgres-tools.js';
import { MINIMAL_VERSION, usesStreamingConnection, withProbeSession } from '../../postgres/probe.js';

export type RemoteStatus = Record<string, unknown>;

export interface RemoteStatusOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Default 'show'. */
  encoding?: 'show' | 'diagnose';
}

/** Every remote status key of the server (values as Barman's show-server JSON has them). */
export async function remoteStatus(
  config: ServerConfig,
  options: RemoteStatusOptions,
): Promise<RemoteStatus> {
  const status: RemoteStatus = {};
  const postgres = config.conninfo ? await postgresStatus(config.conninfo, config.slot_name, options) : null;
  if (postgres) Object.assign(status, postgres.values);
  const streaming =
    usesStreamingConnection(config) && config.streaming_conninfo
      ? await streamingStatus(config.streaming_conninfo, options)
      : null;
  if (streaming) Object.assign(status, streaming.values);
  const searchPath = toolSearchPath(config.path_prefix);
  // The server's major version as the streaming connection reports it (Barman's rule for tools).
  const streamingVersion = streaming?.identity?.serverVersion ?? null;
  if (config.streaming_archiver) {
    const synchronousNames = postgres?.values.synchronous_standby_names as string[] | null | undefined;
    Object.assign(
      status,
      await receiverStatus(
        searchPath,
        streamingVersion,
        typeof postgres?.values.server_txt_version === 'string',
        {
          names: synchronousNames ?? null,
          archiverName: config.streaming_archiver_name,
        },
      ),
    );
  }
  if (config.archiver)
    Object.assign(status, postgres?.archiver ?? { archive_mode: null, archive_command: null });
  if (config.backup_method === 'postgres')
    Object.assign(status, await basebackupStatus(searchPath, streamingVersion));
  return status;
}

interface PostgresStatus {
  values: RemoteStatus;
  /** The file archiver's keys (archive_mode, archive_command, pg_stat_archiver's columns). */
  archiver: RemoteStatus;
}

async function postgresStatus(
  conninfo: string,
  slotName: string | null,
  options: RemoteStatusOptions,
): Promise<PostgresStatus> {
  const values: RemoteStatus = {
    data_directory: null,
    server_txt_version: null,
    is_superuser: null,
    is_in_recovery: null,
    current_xlog: null,
    replication_slot_support: null,
    replication_slot: null,
    synchronous_standby_names: null,
    postgres_systemid: null,
    version_supported: null,
  };
  const unreachable = (error: unknown): PostgresStatus => {
    options.log.warning(`Error retrieving PostgreSQL status: ${describeError(error)}`);
    return { values, archiver: { archive_mode: null, archive_command: null } };
  };
  // Each value on its own, as Barman asks them: a missing privilege hides only what it guards.
  return withProbeSession(conninfo, options, unreachable, async (client, ask) => {
    const privileged = await ask('backup privileges', () => hasBackupPrivileges(client));
    if (privileged) values.data_directory = await show(client, 'data_directory');
    const settings = [
      'wal_level',
      'hot_standby',
      'max_wal_senders',
      'data_checksums',
      'max_replication_slots',
    ];
    settings.push('wal_compression', client.serverVersion < 130000 ? 'wal_keep_segments' : 'wal_keep_size');
    for (const name of settings) values[name] = await show(client, name);
    values.is_superuser = await ask('superuser', () => isSuperuser(client));
    values.has_backup_privileges = privileged;
    values.is_in_recovery = await ask('recovery state', () => isInRecovery(client));
    values.server_txt_version = await ask('version', () => serverVersionWord(client));
    values.version_supported = client.serverVersion >= MINIMAL_VERSION;
    const position = await ask('current WAL', () => currentWal(client));
    values.current_lsn = position?.lsn ?? null;
    values.current_xlog = position?.fileName ?? null;
    const size = await ask('cluster size', () => clusterSizeText(client));
    values.current_size = numeric(size, options);
    values.archive_timeout = await ask('archive_timeout', () => integerSetting(client, 'archive_timeout'));
    values.checkpoint_timeout = await ask('checkpoint_timeout', () =>
      integerSetting(client, 'checkpoint_timeout'),
    );
    values.xlog_segment_size = await ask('WAL segment size', () => walSegmentSize(client));
    const files = await ask('configuration files', () => configFiles(client));
    for (const key of ['config_file', 'hba_file', 'ident_file'] as const) {
      if (files?.[key]) values[key] = files[key];
    }
    if (files && files.included_files.length > 0) values.included_files = files.included_files;
    values.replication_slot_support = true;
    if (slotName) {
      const slot = await ask('replication slot', () => replicationSlot(client, slotName));
      values.replication_slot = !slot
        ? null
        : options.encoding === 'diagnose'
          ? [slot.slot_name, slot.active, slot.restart_lsn]
          : slotRecord(slot);
    }
    const standbyNames = await show(client, 'synchronous_standby_names');
    values.synchronous_standby_names =
      standbyNames === null ? [] : splitSynchronousStandbyNames(standbyNames);
    values.postgres_systemid = await ask('system identifier', () => systemIdentifier(client));

    const archiver: RemoteStatus = {
      archive_mode: await show(client, 'archive_mode'),
      archive_command: await show(client, 'archive_command'),
    };
    const row = await ask('pg_stat_archiver', () => archiverRow(client));
    if (row) {
      const time = (text: string | null) =>
        text !== null && options.encoding === 'diagnose' ? text.replace(' ', 'T') : text;
      Object.assign(archiver, row, {
        last_archived_time: time(row.last_archived_time),
        last_failed_time: time(row.last_failed_time),
        stats_reset: time(row.stats_reset),
        current_archived_wals_per_second: numeric(row.current_archived_wals_per_second, options),
      });
    }
    return { values, archiver };
  });
}

/** A PostgreSQL numeric: show-server prints Python's Decimal, diagnose a float. */
function numeric(text: string | null, options: RemoteStatusOptions): string | number | null {
  if (text === null) return null;
  return options.encoding === 'diagnose' ? Number(text) : pythonDecimal(text);
}

/** Barman prints the slot as the repr of its query row. */
function slotRecord(slot: ReplicationSlot): string {
  return `Record(slot_name=${pythonRepr(slot.slot_name)}, active=${pythonRepr(slot.active)}, restart_lsn=${pythonRepr(slot.restart_lsn)})`;
}

async function streamingStatus(
  conninfo: string,
  options: RemoteStatusOptions,
): Promise<{ values: RemoteStatus; identity: StreamingIdentity | null }> {
  const values: RemoteStatus = {
    connection_error: null,
    streaming_supported: null,
    streaming: null,
    streaming_systemid: null,
    timeline: null,
    xlogpos: null,
    version_supported: null,
  };
  try {
    const identity = await identifySystem(conninfo, { connectTimeoutSeconds: 30, signal: options.signal });
    values.version_supported = identity.serverVersion >= MINIMAL_VERSION;
    if (!values.version_supported) return { values, identity };
    Object.assign(values, {
      streaming_supported: true,
      streaming: true,
      streaming_systemid: identity.systemid,
      timeline: identity.timeline,
      xlogpos: identity.xlogpos,
    });
    return { values, identity };
  } catch (error) {
    values.connection_error = describeError(error);
    options.log.warning(`Error retrieving PostgreSQL status: ${describeError(error)}`);
    return { values, identity: null };
  }
}

/** Barman's version rule for a PostgreSQL tool against the server's major version. */
function compatibility(tool: PgTool, serverVersion: number | null): boolean | null {
  if (!tool.majorVersion || serverVersion === null) return null;
  return toolCompatible(majorVersion(serverVersion), tool.majorVersion);
}

async function basebackupStatus(searchPath: string, serverVersion: number | null): Promise<RemoteStatus> {
  const status: RemoteStatus = {
    pg_basebackup_compatible: null,
    pg_basebackup_installed: null,
    pg_basebackup_tbls_mapping: null,
    pg_basebackup_path: null,
    pg_basebackup_bwlimit: null,
    pg_basebackup_version: null,
  };
  const tool = await findPgTool(['pg_basebackup'], searchPath);
  if (!tool) return { ...status, pg_basebackup_installed: false };
  const from94 = tool.majorVersion !== null && compareVersions(tool.majorVersion, '9.4') >= 0;
  return {
    ...status,
    pg_basebackup_installed: true,
    pg_basebackup_path: tool.path,
    pg_basebackup_version: tool.fullVersion,
    pg_basebackup_bwlimit: from94,
    pg_basebackup_tbls_mapping: from94,
    pg_basebackup_compatible: compatibility(tool, serverVersion),
  };
}

async function receiverStatus(
  searchPath: string,
  serverVersion: number | null,
  postgresAnswered: boolean,
  synchronous: { names: readonly string[] | null; archiverName: string },
): Promise<RemoteStatus> {
  const status: RemoteStatus = {
    pg_receivexlog_compatible: null,
    pg_receivexlog_installed: null,
    pg_receivexlog_path: null,
    pg_receivexlog_supports_slots: null,
    pg_receivexlog_synchronous: null,
    pg_receivexlog_version: null,
  };
  const tool = await findPgTool(['pg_receivewal', 'pg_receivexlog'], searchPath);
  if (!tool) return { ...status, pg_receivexlog_installed: false };
  Object.assign(status, {
    pg_receivexlog_installed: true,
    pg_receivexlog_path: tool.path,
    pg_receivexlog_version: tool.fullVersion,
  });
  const compatible = compatibility(tool, serverVersion);
  if (compatible === null) return status;
  const names = synchronous.names;
  return {
    ...status,
    pg_receivexlog_compatible: compatible,
    // Every version barman-ts supports (9.6+) has slots and synchronous pg_receivewal.
    pg_receivexlog_supports_slots: compatible,
    pg_receivexlog_synchronous: !compatible
      ? false
      : postgresAnswered && names
        ? names.includes('*') || names.includes(synchronous.archiverName)
        : null,
  };
}
