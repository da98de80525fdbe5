/**
 * verify-backup's checks, PostgreSQL's pg_verifybackup semantics applied to the stored copy
 * through its Storage: the manifest's own checksum, every file it lists present with its size
 * and checksum, no file it does not list, and (manifest version 2) the system identifier of
 * global/pg_control. Every problem is collected, as pg_verifybackup reports them all. Each file
 * is read once, streamed (memory is bounded by the chunks in flight: a reused buffer per file
 * being read), several at a time. A plain copy on a local disk is read with 128 KiB reads: on
 * worker threads when its checksums are SHA ones; CRC32C ones by the storage's checksumFile (the
 * crc32c addon on libuv's thread pool), else blocking reads on this thread.
 *
 * Like Barman, which runs `pg_verifybackup -n`, the WAL is not parsed here: a stored backup has
 * no pg_wal of its own, and `check-backup` checks the WAL archive for the backup's range.
 */
import { availableParallelism } from 'node:os';
import { BarmanError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { BackupContent, ContentFile } from './backup-content.js';
import { parseBackupManifest } from './backup-manifest.js';
import { CompressionPool } from '../transfer/compression/index.js';
import { digestByStorage, digestFile, digestLocalFile } from './file-digest.js';
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

/** The checksum threads' module (an entry of its own in the bundle, next to its chunks). */
const DIGEST_WORKER = new URL('./digest-worker.js', import.meta.url);

/** Paths pg_verifybackup does not compare: the manifest itself and the WAL directory. */
function ignored(path: string): boolean {
  return path === 'backup_manifest' || path === 'pg_wal' || path.startsWith('pg_wal/');
}

export async function verifyBackupContent(
  storage: Storage,
  content: BackupContent,
  options: {
    concurrency: number;
    /** Checksum threads for a plain copy on a local disk (default: every core; 1: this thread only). */
    threads?: number;
    onProgress?: (progress: VerifyProgress) => void;
  },
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

  // What is read: the manifest and pg_wal/ are not, so progress ends at its totals.
  const listing = (await content.listing())?.filter((file) => !ignored(file.path)) ?? null;
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

  // A plain copy on a local disk with SHA checksums is read and checksummed on worker threads,
  // every core busy (SHA-256, about 1 GB/s a core, not the disk, limits a warm or fast read). CRC32C
  // (about 20 GB/s on the addon, checksums.ts) costs less than the reads themselves: worker threads
  // would only add their start-up and contend for cores, so the storage checksums each file in
  // one call (Storage.checksumFile: the addon reads and computes it on libuv's thread pool,
  // `concurrency` files at a time, biggest first), else this thread reads alone with blocking
  // reads (no addon). Tar members and object stores stream through this thread.
  const slowChecksum = [...manifest.values()].some((entry) =>
    entry.checksum?.algorithm.toUpperCase().startsWith('SHA'),
  );
  const threads = options.threads ?? (slowChecksum ? availableParallelism() : 1);
  const localRoot = storage.features.localFiles && storage.localPath ? storage.localPath('.') : null;
  const pool =
    content.kind === 'plain' && localRoot !== null && threads > 1
      ? new CompressionPool(threads, DIGEST_WORKER)
      : null;
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
    const algorithm = entry.checksum?.algorithm ?? null;
    const known = algorithm !== null && manifestHasher(algorithm) !== null;
    if (algorithm !== null && !known) {
      problems.push(`"${file.path}": unknown checksum algorithm ${algorithm} in the manifest`);
    }
    const wantsControl = file.path === 'global/pg_control' && systemIdentifier !== null;
    if (!known && !wantsControl) {
      // Nothing to read (a manifest without checksums): present with its size is all there is.
      progress.bytes += file.size;
      progress.files += 1;
      options.onProgress?.({ ...progress });
      return;
    }
    const request = { algorithm: known ? algorithm : null, headBytes: wantsControl ? 8 : 0 };
    let counted = 0;
    const count = (bytesSoFar: number) => {
      progress.bytes += bytesSoFar - counted;
      counted = bytesSoFar;
    };
    const onBytes = (bytesSoFar: number) => {
      count(bytesSoFar);
      options.onProgress?.({ ...progress });
    };
    // A local plain copy without threads: CRC32C by the storage's checksumFile (the addon, on
    // libuv's pool), else (SHA with `threads: 1`, no addon) read the threads' way, with blocking
    // 128 KiB reads: streamed 1 MiB reads cost this thread about three times the system time.
    const local = content.kind === 'plain' && localRoot !== null && file.stored !== undefined;
    const digest = !local
      ? await digestFile(read, request, onBytes)
      : pool
        ? await pool.digestFile(localRoot, file.stored!, request, onBytes)
        : ((await digestByStorage(storage, file.stored!, request)) ??
          (await digestLocalFile(localRoot, file.stored!, request, onBytes)));
    count(digest.bytes);
    progress.files += 1;
    options.onProgress?.({ ...progress });
    if (digest.bytes !== entry.size) {
      problems.push(
        `"${file.path}" should contain ${entry.size} bytes, but ${digest.bytes} were read (${file.place})`,
      );
    } else if (digest.checksum !== null && digest.checksum !== entry.checksum!.value.toLowerCase()) {
      problems.push(`checksum mismatch for file "${file.path}" (${file.place})`);
    }
    if (digest.head?.length === 8) control.identifier = digest.head.readBigUInt64LE(0).toString();
  };
  try {
    await content.forEach(pool ? Math.max(options.concurrency, 2 * threads) : options.concurrency, check);
  } finally {
    await pool?.close();
  }

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
