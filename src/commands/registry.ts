/**
 * Every command barman-ts offers. Only commands that work are registered; each later capability
 * adds its definition here.
 */
import type { CommandDefinition } from './definition.js';
import { archiveWalCommand } from './archive-wal/index.js';
import { backup } from './backup/index.js';
import { configSwitch } from './config-switch/index.js';
import { configUpdate } from './config-update/index.js';
import { cron } from './cron/index.js';
import { deleteCommand } from './delete/index.js';
import { keep } from './keep/index.js';
import { listFiles } from './list-files/index.js';
import { diagnose } from './diagnose/index.js';
import { getWal } from './get-wal/index.js';
import { listBackup } from './list-backup/index.js';
import { listServer } from './list-server/index.js';
import { listProcesses } from './list-processes/index.js';
import { lockDirectoryCleanup } from './lock-directory-cleanup/index.js';
import { terminateProcess } from './terminate-process/index.js';
import { metrics } from './metrics/index.js';
import { putWal } from './put-wal/index.js';
import { rebuildXlogdb } from './rebuild-xlogdb/index.js';
import { showBackup } from './show-backup/index.js';
import { showServer } from './show-server/index.js';
import { check } from './check/index.js';
import { checkBackup } from './check-backup/index.js';
import { checkWalArchive } from './check-wal-archive/index.js';
import { generateManifest } from './generate-manifest/index.js';
import { verifyBackup } from './verify-backup/index.js';
import { cloudWalArchive } from './cloud-wal-archive/index.js';
import { cloudWalUpload } from './cloud-wal-upload/index.js';
import { status } from './status/index.js';
import { switchWal } from './switch-wal/index.js';
import { syncBackupCommand } from './sync-backup/index.js';
import { syncInfo } from './sync-info/index.js';
import { syncWalsCommand } from './sync-wals/index.js';
import { replicationStatus } from './replication-status/index.js';
import { receiveWal } from './receive-wal/index.js';
import { recover } from './recover/index.js';
import { verifyRestore } from './verify-restore/index.js';

export const COMMANDS: readonly CommandDefinition[] = [
  archiveWalCommand,
  backup,
  cloudWalArchive,
  cloudWalUpload,
  configSwitch,
  configUpdate,
  cron,
  deleteCommand,
  diagnose,
  getWal,
  keep,
  listBackup,
  listFiles,
  listProcesses,
  listServer,
  lockDirectoryCleanup,
  metrics,
  putWal,
  rebuildXlogdb,
  showBackup,
  showServer,
  check,
  checkBackup,
  checkWalArchive,
  generateManifest,
  verifyBackup,
  status,
  switchWal,
  syncBackupCommand,
  syncInfo,
  syncWalsCommand,
  terminateProcess,
  replicationStatus,
  receiveWal,
  recover,
  verifyRestore,
];
