/**
 * generate-manifest and autogenerate_manifest: a PostgreSQL backup_manifest for a stored backup
 * that has none (rsync and local-rsync copies; barman-cloud-backup archives), with a SHA-256 of
 * every file as Barman writes it, plus what Barman leaves out: the backup's WAL range and, for
 * PostgreSQL 17+, the system identifier (manifest version 2), so pg_verifybackup and
 * verify-backup check it like pg_basebackup's own. The manifest is written atomically: a reader
 * sees none or all of it.
 */
import { BarmanError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { BackupContent, ContentFile } from './backup-content.js';
import type { BackupInfo } from './backup-info.js';
import type { ManifestFile, ManifestWalRange } from './backup-manifest.js';
import { renderBackupManifest } from './backup-manifest.js';
import { manifestHasher } from './manifest-checksum.js';

export interface GeneratedManifest {
  /** Where it was written, for messages. */
  place: string;
  files: number;
  bytes: number;
}

/** Something else that reads every file while the manifest hashes it: a chunk consumer, or null. */
export type FileObserver = (file: ContentFile) => ((chunk: Buffer) => void) | null;

export async function generateBackupManifest(
  storage: Storage,
  content: BackupContent,
  info: BackupInfo,
  options: {
    concurrency: number;
    onProgress?: (bytes: number, files: number) => void;
    observe?: FileObserver;
  },
): Promise<GeneratedManifest> {
  const place = `${storage.location}/${content.manifestPath}`;
  if ((await storage.stat(content.manifestPath)) !== null) {
    throw new BarmanError('manifest-exists', `File ${place} already exists.`, {
      hint: 'the backup already has a backup_manifest: check it with barman verify-backup',
    });
  }
  const files: ManifestFile[] = [];
  let bytes = 0;
  await content.forEach(options.concurrency, async (file, read) => {
    // As pg_basebackup's: WAL copied with the backup is not listed (verifiers skip pg_wal/).
    if (file.path.startsWith('pg_wal/')) return;
    const hasher = manifestHasher('SHA256')!;
    const observer = options.observe?.(file) ?? null;
    await read((chunk) => {
      hasher.update(chunk);
      observer?.(chunk);
      bytes += chunk.length;
    });
    files.push({ path: file.path, size: file.size, mtimeMs: file.mtimeMs, sha256: hasher.digest() });
    options.onProgress?.(bytes, files.length);
  });
  // A manifest of nothing would vouch for a backup whose files are gone.
  if (files.length === 0) {
    throw new BarmanError(
      'backup-empty',
      `the backup has no files to list in ${place.replace(/\/backup_manifest$/, '')}`,
      {
        hint: 'its data is missing: this backup cannot be recovered; take a new one',
      },
    );
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const text = renderBackupManifest(files, walRanges(info), {
    ...((info.version ?? 0) >= 170000 && info.systemid ? { systemIdentifier: info.systemid } : {}),
  });
  await storage.writeFile(content.manifestPath, text, { mode: 0o600 });
  return { place, files: files.length, bytes };
}

/** The WAL the backup needs, as pg_basebackup records it: one range on the backup's timeline. */
function walRanges(info: BackupInfo): ManifestWalRange[] {
  if (info.timeline === null || !info.begin_xlog || !info.end_xlog) return [];
  return [{ timeline: info.timeline, startLsn: info.begin_xlog, endLsn: info.end_xlog }];
}
