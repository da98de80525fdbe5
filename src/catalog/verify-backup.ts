/**
 * verify-backup's checks, PostgreSQL's pg_verifybackup semantics applied to the stored copy
 * through its Storage: the manifest's own checksum, every file it lists present with its size
 * and checksum, no file it does not list, and (manifest version 2) the system identifier of
 * global/pg_control. Every problem is collected, as pg_verifybackup reports them all. Each file
 * is read once, streamed (memory is bounded by the chunks in flight), several at a time.
 *
 * Like Barman, which runs `pg_verifybackup -n`, the WAL is not parsed here: a stored backup has
 * no pg_wal of its own, and `check-backup` checks the WAL archive for the backup's range.
 */
import { BarmanError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { BackupContent, ContentFile } from './backup-content.js';
import { parseBackupManifest } from './backup-manifest.js';
import { manifestChecksumMatches, manifestHasher } from './manifest-checksum.js';

export interface VerifyProgress {
  bytes: number;
  files: number;
  /** Plain copies: known from the listing; archives: the manifest's sizes. */
  totalBytes: number;
  totalFiles: number;
}

export interface VerifyOutcome {
  /** Files read and checked. */
  files: number;
  bytes: number;
  /** pg_verifybackup-style problems, each naming its file; empty when the backup is intact. */
  problems: string[];
}

/** Paths pg_verifybackup does not compare: the manifest itself and the WAL directory. */
function ignored(path: string): boolean {
  return path === 'backup_manifest' || path === 'pg_wal' || path.startsWith('pg_wal/');
}

export async function verifyBackupContent(
  storage: Storage,
  content: BackupContent,
  options: { concurrency: number; onProgress?: (progress: VerifyProgress) => void },
): Promise<VerifyOutcome> {
  const manifestStat = await storage.stat(content.manifestPath);
  if (manifestStat?.kind !== 'file') {
    throw new BarmanError(
      'manifest-missing',
      `the backup has no backup_manifest (${storage.location}/${content.manifestPath})`,
      { hint: "write one with 'barman generate-manifest SERVER BACKUP_ID', then verify again" },
    );
  }
  const raw = await storage.readFile(content.manifestPath);
  const text = raw.toString('utf8');
  const problems: string[] = [];
  const checksumOk = manifestChecksumMatches(text);
  if (checksumOk === null) problems.push('backup_manifest has no "Manifest-Checksum" line');
  else if (!checksumOk)
    problems.push('backup_manifest checksum mismatch: the manifest was changed after it was written');
  const manifest = parseBackupManifest(text, `${storage.location}/${content.manifestPath}`);
  const systemIdentifier = /"System-Identifier"\s*:\s*(\d+)/.exec(text)?.[1] ?? null;

  const listing = await content.listing();
  const totalBytes = listing
    ? listing.reduce((sum, file) => sum + file.size, 0)
    : [...manifest.values()].reduce((sum, entry) => sum + entry.size, 0);
  const progress: VerifyProgress = {
    bytes: 0,
    files: 0,
    totalBytes,
    totalFiles: listing ? listing.length : manifest.size,
  };
  options.onProgress?.({ ...progress });
  const seen = new Set<string>();
  const control: { identifier: string | null } = { identifier: null };

  const check = async (file: ContentFile, read: (onChunk: (chunk: Buffer) => void) => Promise<void>) => {
    if (ignored(file.path)) return;
    seen.add(file.path);
    const entry = manifest.get(file.path);
    if (!entry) {
      problems.push(`"${file.path}" is present in the backup but not in the manifest (${file.place})`);
      return;
    }
    if (file.size !== entry.size) {
      problems.push(
        `"${file.path}" has size ${file.size} in the backup but size ${entry.size} in the manifest (${file.place})`,
      );
      return;
    }
    const hasher = entry.checksum ? manifestHasher(entry.checksum.algorithm) : null;
    if (entry.checksum && !hasher) {
      problems.push(`"${file.path}": unknown checksum algorithm ${entry.checksum.algorithm} in the manifest`);
    }
    const wantsControl = file.path === 'global/pg_control' && systemIdentifier !== null;
    if (!hasher && !wantsControl) {
      // Nothing to read (a manifest without checksums): present with its size is all there is.
      progress.bytes += file.size;
      progress.files += 1;
      options.onProgress?.({ ...progress });
      return;
    }
    let head: Buffer | null = null as Buffer | null;
    let bytes = 0;
    await read((chunk) => {
      hasher?.update(chunk);
      if (wantsControl && head === null) head = Buffer.from(chunk.subarray(0, 8)); // a copy: chunks are reused
      bytes += chunk.length;
      progress.bytes += chunk.length;
    });
    progress.files += 1;
    options.onProgress?.({ ...progress });
    if (bytes !== entry.size) {
      problems.push(
        `"${file.path}" should contain ${entry.size} bytes, but ${bytes} were read (${file.place})`,
      );
    } else if (hasher && hasher.digest() !== entry.checksum!.value.toLowerCase()) {
      problems.push(`checksum mismatch for file "${file.path}" (${file.place})`);
    }
    if (head !== null && head.length === 8) control.identifier = head.readBigUInt64LE(0).toString();
  };
  await content.forEach(options.concurrency, check);

  for (const path of manifest.keys()) {
    if (!ignored(path) && !seen.has(path))
      problems.push(`"${path}" is present in the manifest but not in the backup`);
  }
  if (systemIdentifier !== null && control.identifier !== null && control.identifier !== systemIdentifier) {
    problems.push(
      `manifest system identifier is ${systemIdentifier}, but global/pg_control says ${control.identifier}`,
    );
  }
  return { files: progress.files, bytes: progress.bytes, problems };
}
