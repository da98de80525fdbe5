export {
  describe as describeConnInfo,
  majorVersion,
  PostgresClient,
  PostgresError,
  versionText,
} from './client.js';
export type { ConnectOptions } from './client.js';
export { formatConnInfo, parseConnInfo } from './conninfo.js';
export { programConnection } from './password.js';
export * from './server.js';
export * from './monitoring.js';
export * from './replication.js';
export * from './status.js';
