/** Backup executors by backup_method. */
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { localRsyncExecutor } from './local-rsync.js';
import { postgresExecutor } from './postgres.js';
import { rsyncExecutor } from './rsync.js';
import type { BackupExecutor } from './types.js';

export function executorFor(config: ServerConfig): BackupExecutor {
  switch (config.backup_method) {
    case 'local-rsync':
      return localRsyncExecutor;
    case 'postgres':
      return postgresExecutor;
    case 'rsync':
      return rsyncExecutor;
    default:
      throw new BarmanError(
        'backup-method-unsupported',
        `backup_method = ${config.backup_method} is not supported by this version of barman-ts yet (server ${config.name})`,
      );
  }
}

export type { BackupExecutor, BackupRequest, ExecutorOutcome } from './types.js';
export { forceCheckpointOnPrimary } from './standby.js';
