/**
 * Phase 2 of a backup, start (under the server's backup lock): the cluster must still be the
 * one the archive belongs to, interrupted backups are marked FAILED and their leftovers removed,
 * a new backup id is chosen and its backup.info written (EMPTY). From then on a failure is
 * recorded in that backup.info.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import { emptyBackupInfo } from '../../catalog/backup-info.js';
import type { BackupLocation } from '../../catalog/backup-location.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import { statusOf } from '../../catalog/backups.js';
import { readIdentity, writeIdentity } from '../../catalog/identity.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import type { BackupExecutor } from '../../executors/index.js';
import { ensureLockDirectory } from '../../locks/index.js';
import * as postgres from '../../postgres/index.js';
import { PosixStorage } from '../../storage/index.js';
import type { CommandContext } from '../definition.js';
import { removeLeftoverBackups } from '../shared/delete-backup.js';
import { markAbandoned } from './abandoned.js';
import { backupIdNow } from './common.js';

/**
 * A backup being taken: its id and backup.info once written, the step it is at, and the one
 * PostgreSQL session (conninfo) its steps share — closed by the run when it ends.
 */
export class BackupRun {
  /** For the `failure <step> (...)` message of a failed backup. */
  step = 'starting backup';
  backupId: string | null = null;
  /** Null until backup.info is written: a failure before that records nothing. */
  info: BackupInfo | null = null;

  constructor(
    readonly location: BackupLocation,
    readonly connection: postgres.SharedConnection,
  ) {}

  /** Saves backup.info with these fields merged in. */
  async save(fields: Partial<BackupInfo>): Promise<void> {
    this.info = { ...this.info!, ...fields };
    await this.location.writeBackupInfo(this.backupId!, this.info);
  }
}

/**
 * The directories a server's backups and their lock need: the lock's, and in Barman's layout
 * the archive's (base/, wals/) and the local drop boxes archive-wal reads (incoming/, errors/,
 * streaming/).
 */
export async function prepareDirectories(config: ServerConfig, location: BackupLocation): Promise<void> {
  await ensureLockDirectory(location.lockDirectory);
  const layout = location.layout;
  if (!layout) return;
  await location.storage.mkdir('');
  // An s3:// WAL archive has no directory to create.
  const wals = config.wals_directory.kind === 'posix' ? [config.wals_directory.path] : [];
  for (const directory of [
    ...wals,
    layout.incomingDirectory,
    layout.errorsDirectory,
    layout.streamingDirectory,
  ])
    await new PosixStorage(directory).mkdir('');
}

/** Starts `run`: resolves with the previous DONE backup, if any. */
export async function startBackup(
  ctx: CommandContext,
  config: ServerConfig,
  executor: BackupExecutor,
  run: BackupRun,
  name: string | null,
  /** Fields of the new backup.info known from the command line (an incremental's parent). */
  initial: Partial<BackupInfo> = {},
): Promise<CatalogBackup | undefined> {
  const location = run.location;
  const systemid = await checkIdentity(await run.connection.client(), location);
  const backups = await location.loadBackups();
  await markAbandoned(ctx, config, location, executor, backups);
  if (location.layout) await removeLeftoverBackups(location.layout, ctx.report);
  let backupId = backupIdNow();
  // A directory without backup.info (a backup killed as it began) is not in the catalogue.
  while (backups.some((other) => other.id === backupId) || !(await location.isFree(backupId))) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    backupId = backupIdNow();
  }
  await location.storage.mkdir(backupId);
  const info = emptyBackupInfo(config.name, {
    mode: executor.mode,
    backup_name: name,
    systemid,
    ...executor.initialInfo?.(config),
    ...initial,
  });
  await location.writeBackupInfo(backupId, info);
  run.backupId = backupId;
  run.info = info;
  return [...backups].reverse().find((other) => statusOf(other) === 'DONE');
}

/**
 * The server must still be the cluster the archive belongs to; the first backup records it
 * (identity.json, in Barman's layout: barman-cloud's has none). Resolves with its system id.
 */
async function checkIdentity(client: postgres.PostgresClient, location: BackupLocation): Promise<string> {
  const systemid = await postgres.systemIdentifier(client);
  const identityFile = location.layout?.identityFile;
  if (!identityFile) return systemid;
  const known = await readIdentity(identityFile);
  if (!known) {
    await writeIdentity(identityFile, { systemid, version: client.majorVersion });
  } else if (known.systemid !== systemid) {
    throw new BarmanError(
      'systemid-mismatch',
      `the PostgreSQL server has system identifier ${systemid}, but this server's archive belongs to ${known.systemid} (${identityFile})`,
      {
        hint: 'conninfo points to another cluster, or the cluster was re-created: use a new server name for it.',
      },
    );
  }
  return systemid;
}
