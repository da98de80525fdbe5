/**
 * The executor registry: one BackupExecutor per backup_method, which runs its backups and brings
 * its checks. A new method is an executor (with its checks) added here.
 */
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { localRsyncExecutor } from './local-rsync.js';
import { localToCloudExecutor } from './local-to-cloud.js';
import { postgresExecutor } from './postgres.js';
import { rsyncExecutor } from './rsync.js';
import type { BackupExecutor, ExecutorCheck } from './types.js';

const EXECUTORS: Readonly<Partial<Record<ServerConfig['backup_method'], BackupExecutor>>> = {
  'local-rsync': localRsyncExecutor,
  'local-to-cloud': localToCloudExecutor,
  postgres: postgresExecutor,
  rsync: rsyncExecutor,
};

export function executorFor(config: ServerConfig): BackupExecutor {
  const executor = EXECUTORS[config.backup_method];
  if (!executor) {
    throw new BarmanError(
      'backup-method-unsupported',
      `backup_method = ${config.backup_method} is not supported by this version of barman-ts yet (server ${config.name})`,
    );
  }
  // backup.info's mode says which protocol the file-copy methods used (Barman's names).
  const exclusive = config.backup_options.includes('exclusive_backup');
  return exclusive && executor.exclusiveMode ? { ...executor, mode: executor.exclusiveMode } : executor;
}

/** The checks of the server's backup method, in order; none for a method barman-ts lacks. */
export function backupMethodChecks(config: ServerConfig): readonly ExecutorCheck[] {
  return EXECUTORS[config.backup_method]?.checks ?? [];
}

export type {
  BackupExecutor,
  BackupRequest,
  ExecutorCheck,
  ExecutorCheckContext,
  ExecutorOutcome,
  InterruptedScope,
} from './types.js';
export { forceCheckpointOnPrimary } from './standby.js';
