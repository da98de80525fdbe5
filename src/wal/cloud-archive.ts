/**
 * Archiving a WAL file into object storage (cloud-wal-archive, and the spool worker of its
 * asynchronous mode). The file is compressed while it streams to S3, and the call resolves only
 * once S3 has acknowledged an object whose checksum matches what was sent. A name already in
 * the archive is accepted when its content is the same (a retry after a lost acknowledgement)
 * and refused when it differs, so PostgreSQL keeps its WAL while an operator looks.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ServerConfig } from '../config/index.js';
import { BarmanError, isBarmanError } from '../errors/index.js';
import type { StorageOptions } from '../storage/index.js';
import { readWholeFile } from '../storage/durable-files.js';
import type { ArchivedWal, WalArchive } from './archive.js';
import { openWalArchive } from './archive.js';
import type { CloudCompression } from './cloud-layout.js';
import { cloudWalCompression } from './cloud-layout.js';
import type { CompressionLevel, CompressionPool } from '../transfer/compression/index.js';
// The codecs (zstd's WebAssembly among them) load only when a compressed path needs them.
import { CompressionError } from '../transfer/compression/types.js';
import { encryptionKeyOf } from '../transfer/gpg.js';
import { parseSpooledName, sealWalStream } from './sealed-wal.js';

/** WAL segments (16 MiB by default) go up in one request; larger ones (up to 1 GiB) as multipart. */
const WAL_SINGLE_REQUEST_LIMIT = 64 * 1024 * 1024;

export interface CloudWalTarget {
  /** The server's WAL archive, in barman-cloud's layout. */
  archive: WalArchive;
  compression: CloudCompression | null;
  level: CompressionLevel;
  /** `encryption_key_id` when the server encrypts (`encryption = gpg`), else null. */
  keyId: string | null;
}

export interface CloudArchiveOutcome {
  name: string;
  /** Object path relative to wals_directory. */
  path: string;
  status: 'uploaded' | 'already-archived';
  bytes: number;
  /** Damaged objects (undecodable, or a truncated copy of this file) the upload replaced. */
  replaced: string[];
}

/** The server's WAL archive in object storage; fails unless wals_directory is an s3:// URL. */
export async function openCloudWalTarget(
  config: ServerConfig,
  options: StorageOptions = {},
): Promise<CloudWalTarget> {
  if (config.wals_directory.kind !== 's3') {
    throw new BarmanError(
      'not-a-cloud-server',
      `server '${config.name}': 'wals_directory' is not an s3:// URL, so there is no cloud WAL archive`,
      { hint: 'set wals_directory = s3://BUCKET/PREFIX/SERVER/wals' },
    );
  }
  const compression = cloudWalCompression(config);
  return {
    archive: await openWalArchive(config, options),
    compression,
    level: config.compression_level,
    keyId: encryptionKeyOf(config),
  };
}

/**
 * With `pool` (the spool worker, uploading several files at once), a file up to 64 MiB is read
 * whole and compressed on the pool's threads, so every core compresses while the main thread
 * talks to S3; without, it streams (one file per process, no thread start-up to pay). A file to
 * encrypt always streams: compressed into gpg, gpg's output uploaded (sealed-wal.ts).
 */
export async function archiveWalToCloud(
  target: CloudWalTarget,
  file: string,
  options: { pool?: CompressionPool } = {},
): Promise<CloudArchiveOutcome> {
  const spooled = parseSpooledName(basename(file));
  if (!spooled) {
    throw new BarmanError('bad-wal-name', `'${basename(file)}' is not a valid WAL file name`);
  }
  const { name } = spooled;
  // A file the async spool sealed (compressed and encrypted) goes up as it is, under its own name.
  const compression = spooled.sealed ? spooled.compression : target.compression;
  const encrypted = spooled.sealed || target.keyId !== null;
  const path = target.archive.pathOf(name, compression, encrypted);
  // An uncompressed segment is read whole while the duplicate lookup is in flight: one buffer,
  // no stream to reassemble, and the read overlaps the round trip.
  const { archive } = target;
  const [existing, whole] = await Promise.all([
    archive.find(name),
    spooled.sealed
      ? readWholeFile(file, { maxSize: WAL_SINGLE_REQUEST_LIMIT })
      : target.keyId !== null || target.compression
        ? undefined
        : readWholeFile(file, { maxSize: WAL_SINGLE_REQUEST_LIMIT }),
  ]);
  const damaged: string[] = [];
  if (existing.length > 0) {
    // The WAL content, not the stored bytes: a sealed file is decrypted (gpg output differs each time).
    const plain = async (): Promise<Readable> => {
      if (!spooled.sealed) return createReadStream(file);
      // compare.ts loads every codec: only for this rare case.
      const { localWalFile, openDecompressed } = await import('./compare.js');
      return openDecompressed(localWalFile(file), null, undefined, archive.passphrase);
    };
    const local = await contentOf(await plain());
    for (const object of existing) {
      const remote = await cloudWalContent(archive, object);
      if (remote === 'undecodable') {
        damaged.push(object.path);
      } else if (remote.sha256 === local.sha256) {
        return { name, path: object.path, status: 'already-archived', bytes: object.size, replaced: [] };
      } else if (
        remote.size < local.size &&
        (remote.size === 0 || (await prefixDigest(await plain(), remote.size)) === remote.sha256)
      ) {
        damaged.push(object.path);
      }
    }
    if (damaged.length < existing.length) {
      throw new BarmanError(
        'wal-duplicate-differs',
        `${name} is already archived in ${archive.location} with a different content`,
        {
          hint: 'PostgreSQL will retry; check whether two clusters archive into the same wals_directory',
        },
      );
    }
  }
  let bytes = 0;
  if (whole) {
    await archive.storage.writeFile(path, whole);
    bytes = whole.length;
  } else if (
    target.keyId === null &&
    compression &&
    options.pool &&
    (await stat(file)).size <= WAL_SINGLE_REQUEST_LIMIT
  ) {
    // The upload worker: a whole segment compressed on a pool thread, the main thread uploads.
    const body = (await options.pool.compressFileToBuffer(compression, file, { level: target.level })).data;
    await archive.storage.writeFile(path, body);
    bytes = body.length;
  } else {
    const source = () => createReadStream(file, { highWaterMark: 1 << 20 });
    const upload = async (body: AsyncIterable<Buffer>): Promise<void> => {
      async function* counted(): AsyncGenerator<Buffer> {
        for await (const chunk of body) {
          bytes += chunk.length;
          yield chunk;
        }
      }
      await archive.storage.writeFile(path, Readable.from(counted()), {
        minPartSize: WAL_SINGLE_REQUEST_LIMIT,
      });
    };
    if (target.keyId !== null) {
      // Sealed as it streams up (archive-wal's way): compressed into gpg, gpg's output uploaded.
      await upload(await sealWalStream(file, { compression, level: target.level, keyId: target.keyId }));
    } else if (compression) {
      const { createCompressStream } = await import('../transfer/compression/streams.js');
      await pipeline(source(), createCompressStream(compression, { level: target.level }), upload);
    } else {
      await pipeline(source(), upload);
    }
  }
  return finishUpload(target, name, path, bytes, damaged);
}

/** The SHA-256 of the first `length` bytes of `stream`. */
async function prefixDigest(stream: Readable, length: number): Promise<string> {
  const hash = createHash('sha256');
  let left = length;
  for await (const chunk of stream) {
    const part = (chunk as Buffer).subarray(0, left);
    hash.update(part);
    left -= part.length;
    if (left === 0) break;
  }
  stream.destroy();
  return hash.digest('hex');
}

async function finishUpload(
  target: CloudWalTarget,
  name: string,
  path: string,
  bytes: number,
  damaged: string[],
): Promise<CloudArchiveOutcome> {
  // Truncated leftovers of an interrupted upload (stores that keep partial PUTs) are replaced.
  const leftovers = damaged.filter((other) => other !== path);
  if (leftovers.length > 0) await target.archive.storage.removeMany(leftovers);
  return { name, path, status: 'uploaded', bytes, replaced: damaged };
}

/** Digest and size of an archived WAL file's content; 'undecodable' when it does not decompress. */
async function cloudWalContent(
  archive: WalArchive,
  file: ArchivedWal,
): Promise<{ sha256: string; size: number } | 'undecodable'> {
  try {
    return await contentOf(await archive.open(file));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof CompressionError ||
      // A damaged or truncated encrypted copy (not a wrong passphrase: that one is reported).
      (isBarmanError(error) && (error.code === 'wal-corrupt' || error.code === 'gpg-decrypt-failed')) ||
      (typeof code === 'string' && code.startsWith('Z_'))
    )
      return 'undecodable';
    throw error;
  }
}

async function contentOf(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
