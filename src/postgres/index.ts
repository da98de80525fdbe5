export {
  describe as describeConnInfo,
  majorVersion,
  PostgresClient,
  PostgresError,
  versionText,
} from './client.js';
export type { ConnectOptions } from './client.js';
export { formatConnInfo, parseConnInfo } from './conninfo.js';
export { SharedConnection } from './shared-connection.js';
export { programConnection } from './password.js';
export * from './server.js';
export * from './monitoring.js';
export * from './replication.js';
export * from './status.js';
export {
  BASE_BACKUP_MIN_VERSION,
  BaseBackupError,
  baseBackupCommand,
  takeBaseBackup,
} from './base-backup.js';
export type {
  BackupArchiveStream,
  BaseBackupConsumer,
  BaseBackupEnd,
  BaseBackupOptions,
  BaseBackupStart,
  ReplicationSession,
} from './base-backup.js';
export { dataChecksumsEnabled, readServerFile, relationNames } from './relation-pages.js';
export type { RelationFileId } from './relation-pages.js';
export { standbyStatusUpdate, startWalStream } from './wal-stream.js';
export type { WalDataHandler, WalStream, WalStreamEnd, WalStreamOptions } from './wal-stream.js';
