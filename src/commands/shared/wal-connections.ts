/**
 * wal_streaming_conninfo and wal_conninfo (Barman 3.10+): the connections of WAL streaming when
 * they differ from the backup's, e.g. WAL streamed from a standby while backups use the
 * primary. receive-wal (every action), its checks and `replication-status --source wal-host`
 * use the server's configuration with these in place of streaming_conninfo and conninfo.
 */
import type { ServerConfig } from '../../config/index.js';

/**
 * streaming_conninfo := wal_streaming_conninfo, else streaming_conninfo;
 * conninfo := wal_conninfo, else wal_streaming_conninfo, else conninfo (as Barman).
 */
export function walStreamingConfig(config: ServerConfig): ServerConfig {
  const streaming = config.wal_streaming_conninfo ?? config.streaming_conninfo;
  const conninfo = config.wal_conninfo ?? config.wal_streaming_conninfo ?? config.conninfo;
  if (streaming === config.streaming_conninfo && conninfo === config.conninfo) return config;
  return { ...config, streaming_conninfo: streaming, conninfo };
}

/** True when WAL streaming uses other connections than the backups (Barman: wal conninfo != conninfo). */
export function hasWalConnections(config: ServerConfig): boolean {
  return walStreamingConfig(config).conninfo !== config.conninfo;
}
