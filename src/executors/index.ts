/** Backup executors by backup_method. */
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { localRsyncExecutor } from './local-rsync.js';
import { localToCloudExecutor } from './local-to-cloud.js';
import { postgresExecutor } from './postgres.js';
import { rsyncExecutor } from './rsync.js';
import type { BackupExecutor } from './types.js';

export function executorFor(config: ServerConfig): BackupExecutor {
  // backup.info's mode says which protocol the file-copy methods used (Barman's names).
  const exclusive = config.backup_options.includes('exclusive_backup');
  switch (config.backup_method) {
    case 'local-rsync':
      return exclusive ? { ...localRsyncExecutor, mode: 'rsync-exclusive' } : localRsyncExecutor;
    case 'local-to-cloud':
      return localToCloudExecutor;
    case 'postgres':
      return postgresExecutor;
    case 'rsync':
      return exclusive ? { ...rsyncExecutor, mode: 'rsync-exclusive' } : rsyncExecutor;
    default:
      throw new BarmanError(
        'backup-method-unsupported',
        `backup_method = ${config.backup_method} is not supported by this version of barman-ts yet (server ${config.name})`,
      );
  }
}

export type { BackupExecutor, BackupRequest, ExecutorOutcome, InterruptedScope } from './types.js';
export { forceCheckpointOnPrimary } from './standby.js';
