/**
 * One stored file read once for verify-backup: its length, its manifest checksum and its first
 * bytes (global/pg_control's system identifier). The same routine runs on the main thread (tar
 * members, object stores) and on CompressionPool's worker threads (plain copies on a local disk,
 * read there through a PosixStorage of the worker's own), so both give the same answers.
 */
// posix.js itself, not storage/index.js: a worker thread starts without the object-store clients.
import { PosixStorage } from '../storage/posix.js';
import type { DigestRequest, FileDigest } from '../transfer/compression/protocol.js';
import type { Storage } from '../storage/index.js';
import type { ContentReader } from './backup-content.js';
import { crc32cHex, manifestHasher } from './manifest-checksum.js';

export type { DigestRequest, FileDigest };

/** How often, in bytes read, a long file's reader says how far it is (progress of long runs). */
export const DIGEST_PROGRESS_STEP = 64 << 20;

/**
 * Reads the file through `read` and digests it. `onBytes` hears the bytes read so far every
 * DIGEST_PROGRESS_STEP (not per chunk: a call per chunk would cost more than the checksum on
 * a worker's message port).
 */
export async function digestFile(
  read: ContentReader,
  request: DigestRequest,
  onBytes?: (bytesSoFar: number) => void,
): Promise<FileDigest> {
  const hasher = request.algorithm === null ? null : manifestHasher(request.algorithm);
  if (request.algorithm !== null && !hasher)
    throw new Error(`unknown checksum algorithm ${request.algorithm}`);
  let head: Buffer | null = null;
  let bytes = 0;
  let nextReport = DIGEST_PROGRESS_STEP;
  await read((chunk) => {
    hasher?.update(chunk);
    // A copy: chunks are reused buffers, valid only during this call.
    if (request.headBytes > 0 && head === null) head = Buffer.from(chunk.subarray(0, request.headBytes));
    bytes += chunk.length;
    if (onBytes && bytes >= nextReport) {
      onBytes(bytes);
      nextReport = bytes + DIGEST_PROGRESS_STEP;
    }
  });
  return { bytes, checksum: hasher ? hasher.digest() : null, head };
}

/**
 * The worker-thread side: `path` below the local directory `root`, read through PosixStorage,
 * blocking (the worker has nothing else to do meanwhile).
 */
export function digestLocalFile(
  root: string,
  path: string,
  request: DigestRequest,
  onBytes?: (bytesSoFar: number) => void,
): Promise<FileDigest> {
  const storage = new PosixStorage(root);
  const read: ContentReader = (onChunk) => {
    storage.readChunksSync(path, onChunk);
    return Promise.resolve();
  };
  return digestFile(read, request, onBytes);
}

/**
 * A CRC32C digest computed by the storage itself (Storage.checksumFile: posix with the crc32c
 * addon reads and checksums a file on libuv's thread pool in one call, this thread making no
 * call per read); null where it cannot, and the caller reads the file itself. Same answers as
 * digestFile; progress is heard once, at the end of the file.
 */
export async function digestByStorage(
  storage: Storage,
  path: string,
  request: DigestRequest,
): Promise<FileDigest | null> {
  if (request.algorithm?.toUpperCase() !== 'CRC32C' || !storage.checksumFile) return null;
  const result = await storage.checksumFile(path, { algorithm: 'CRC32C', headBytes: request.headBytes });
  if (!result) return null;
  return { bytes: result.bytes, checksum: crc32cHex(result.crc), head: result.head };
}
