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
import { BarmanError } from '../errors/index.js';
import { readWholeFile } from '../storage/posix.js';
import { S3Storage } from '../storage/s3/index.js';
import type { S3Settings } from '../storage/s3/settings.js';
import { s3SettingsFor } from '../storage/s3/settings.js';
import type { CloudCompression } from './cloud-layout.js';
import { cloudWalCompression, cloudWalPath, openCloudWal, parseCloudWalPath } from './cloud-layout.js';
import type { CompressionLevel, CompressionPool } from '../transfer/compression/index.js';
// The codecs (zstd's WebAssembly among them) load only when a compressed path needs them.
import { CompressionError } from '../transfer/compression/types.js';
import { hashDir, parseWalName } from './names.js';

/** WAL segments (16 MiB by default) go up in one request; larger ones (up to 1 GiB) as multipart. */
const WAL_SINGLE_REQUEST_LIMIT = 64 * 1024 * 1024;

export interface CloudWalTarget {
  storage: S3Storage;
  compression: CloudCompression | null;
  level: CompressionLevel;
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
export function openCloudWalTarget(
  config: ServerConfig,
  options: { signal?: AbortSignal; settings?: Partial<S3Settings> } = {},
): CloudWalTarget {
  const wals = config.wals_directory;
  if (wals.kind !== 's3') {
    throw new BarmanError(
      'not-a-cloud-server',
      `server '${config.name}': 'wals_directory' is not an s3:// URL, so there is no cloud WAL archive`,
      { hint: 'set wals_directory = s3://BUCKET/PREFIX/SERVER/wals' },
    );
  }
  return {
    storage: new S3Storage(s3SettingsFor(config, wals, options.settings), { signal: options.signal }),
    compression: cloudWalCompression(config),
    level: config.compression_level,
  };
}

/** Objects already holding `walName`, whatever their compression. */
export async function findCloudWal(
  storage: S3Storage,
  walName: string,
): Promise<Array<{ path: string; compression: CloudCompression | null; size: number }>> {
  const directory = hashDir(walName);
  const objects = await storage.listObjects(directory ? `${directory}/${walName}` : walName, {
    asDirectory: false,
  });
  return objects.flatMap((object) => {
    const parsed = parseCloudWalPath(object.path);
    return parsed?.name === walName
      ? [{ path: object.path, compression: parsed.compression, size: object.size }]
      : [];
  });
}

/**
 * With `pool` (the spool worker, uploading several files at once), a file up to 64 MiB is read
 * whole and compressed on the pool's threads, so every core compresses while the main thread
 * talks to S3; without, it streams (one file per process, no thread start-up to pay).
 */
export async function archiveWalToCloud(
  target: CloudWalTarget,
  file: string,
  options: { pool?: CompressionPool } = {},
): Promise<CloudArchiveOutcome> {
  const name = basename(file);
  const wal = parseWalName(name);
  if (!wal || wal.name !== name) {
    throw new BarmanError('bad-wal-name', `'${name}' is not a valid WAL file name`);
  }
  const path = cloudWalPath(name, target.compression);
  // An uncompressed segment is read whole while the duplicate lookup is in flight: one buffer,
  // no stream to reassemble, and the read overlaps the round trip.
  const [existing, whole] = await Promise.all([
    findCloudWal(target.storage, name),
    target.compression ? undefined : readWholeFile(file, { maxSize: WAL_SINGLE_REQUEST_LIMIT }),
  ]);
  const damaged: string[] = [];
  if (existing.length > 0) {
    const local = await contentOf(createReadStream(file));
    for (const object of existing) {
      const remote = await cloudWalContent(target.storage, object.path, object.compression);
      if (remote === 'undecodable') {
        damaged.push(object.path);
      } else if (remote.sha256 === local.sha256) {
        return { name, path: object.path, status: 'already-archived', bytes: object.size, replaced: [] };
      } else if (
        remote.size < local.size &&
        (remote.size === 0 ||
          (await contentOf(createReadStream(file, { end: remote.size - 1 }))).sha256 === remote.sha256)
      ) {
        damaged.push(object.path);
      }
    }
    if (damaged.length < existing.length) {
      throw new BarmanError(
        'wal-duplicate-differs',
        `${name} is already archived in ${target.storage.location} with a different content`,
        {
          hint: 'PostgreSQL will retry; check whether two clusters archive into the same wals_directory',
        },
      );
    }
  }
  let bytes = 0;
  if (whole) {
    bytes = (await target.storage.upload(path, whole)).size;
  } else if (target.compression && options.pool && (await stat(file)).size <= WAL_SINGLE_REQUEST_LIMIT) {
    // The upload worker: a whole segment compressed on a pool thread, the main thread uploads.
    const body = (await options.pool.compressFileToBuffer(target.compression, file, { level: target.level }))
      .data;
    bytes = (await target.storage.upload(path, body)).size;
  } else {
    const source = createReadStream(file, { highWaterMark: 1 << 20 });
    const upload = async (body: AsyncIterable<Buffer>): Promise<void> => {
      const result = await target.storage.upload(path, Readable.from(body), {
        partSize: Math.max(target.storage.settings.partSize, WAL_SINGLE_REQUEST_LIMIT),
      });
      bytes = result.size;
    };
    if (target.compression) {
      const { createCompressStream } = await import('../transfer/compression/streams.js');
      await pipeline(source, createCompressStream(target.compression, { level: target.level }), upload);
    } else {
      await pipeline(source, upload);
    }
  }
  return finishUpload(target, name, path, bytes, damaged);
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
  if (leftovers.length > 0)
    await target.storage.removeKeys(leftovers.map((other) => target.storage.key(other)));
  return { name, path, status: 'uploaded', bytes, replaced: damaged };
}

/** Digest and size of an archived WAL file's content; 'undecodable' when it does not decompress. */
async function cloudWalContent(
  storage: S3Storage,
  path: string,
  compression: CloudCompression | null,
): Promise<{ sha256: string; size: number } | 'undecodable'> {
  try {
    return await contentOf(await openCloudWal(storage, path, compression));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof CompressionError || (typeof code === 'string' && code.startsWith('Z_')))
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
