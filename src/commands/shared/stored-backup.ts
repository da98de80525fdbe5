/**
 * A stored backup's files as the manifest names them (catalog/backup-content.ts), located with
 * the layout of the server's basebackups_directory: what verify-backup, generate-manifest and
 * autogenerate_manifest read, and the manifest generate-manifest and autogenerate_manifest write.
 */
import type { BackupContent } from '../../catalog/backup-content.js';
import { backupContent } from '../../catalog/backup-content.js';
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import type { FileObserver, GeneratedManifest } from '../../catalog/generate-manifest.js';
import { generateBackupManifest } from '../../catalog/generate-manifest.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import { CopyProgress } from '../../executors/progress.js';
import type { Reporter } from '../../output/reporter.js';
import type { Location } from '../../config/index.js';
import { backupLayoutFor } from '../../recovery/layout.js';
import type { Storage } from '../../storage/index.js';

/** Files read at a time: enough to keep a disk or an object store busy while one is hashed. */
export const VERIFY_CONCURRENCY = 4;

export function storedBackupContent(
  storage: Storage,
  location: Location,
  backupId: string,
  info: BackupInfo | null,
): Promise<BackupContent> {
  if (info?.encryption) {
    // Its files are `<archive>.gpg`: read as they are, every check would be about ciphertext.
    return Promise.reject(
      new BarmanError(
        'backup-encrypted',
        `backup ${backupId} is encrypted (${info.encryption}): barman-ts cannot read its content for this command yet`,
        { hint: "recover it (recovery decrypts with 'encryption_passphrase_command') and check the copy" },
      ),
    );
  }
  const oids = (info?.tablespaces ?? []).map((tablespace) => tablespace.oid);
  return backupContent(storage, backupLayoutFor(location), backupId, oids);
}

/** Writes the manifest of a complete backup, reporting the progress of reading it. */
export async function writeManifestOf(
  report: Reporter,
  storage: Storage,
  config: ServerConfig,
  backup: Pick<CatalogBackup, 'id' | 'info'>,
  /** Also hands each file's chunks to this (a backup's page checksum verification). */
  observe?: FileObserver,
): Promise<GeneratedManifest> {
  if (!backup.info) {
    throw new BarmanError('backup-unreadable', `backup ${backup.id} has no readable backup.info`);
  }
  const content = await storedBackupContent(storage, config.basebackups_directory, backup.id, backup.info);
  const listing = await content.listing();
  const total = listing
    ? { bytes: listing.reduce((sum, file) => sum + file.size, 0), files: listing.length }
    : undefined;
  const progress = new CopyProgress(report, `backup_manifest of ${backup.id}`, total);
  const manifest = await generateBackupManifest(storage, content, backup.info, {
    concurrency: VERIFY_CONCURRENCY,
    onProgress: (bytes, files) => progress.update({ bytes, files }),
    ...(observe ? { observe } : {}),
  });
  progress.finish();
  return manifest;
}
