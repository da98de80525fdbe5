/**
 * Buffer and file helpers on top of the stream factories. Files are streamed from source to
 * destination (never read whole); the destination is written exactly where the caller says —
 * temporary names, fsync and the final rename belong to the caller.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ScratchBuffer } from '../../storage/durable-files.js';
import { readWholeFile } from '../../storage/durable-files.js';
import { resolveLevel } from './levels.js';
import { createCompressStream, createDecompressStream, ZLIB_CHUNK } from './streams.js';
import type { CompressionName, CompressOptions, DecompressOptions, TransferSizes } from './types.js';
import { canonicalCompression, CompressionError } from './types.js';

/** Counts the bytes passing through. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

function wrapError(error: unknown, what: string): Error {
  if (error instanceof CompressionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // File errors (ENOENT, EACCES, ENOSPC...) stay as they are: they are not about the data.
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return error as Error;
  return new CompressionError(`${what} failed: ${message}`, { cause: error });
}

/**
 * `data` as 1 MiB views: codecs that copy their input into a heap of their own (zstd's
 * WebAssembly memory, which never shrinks) then need 1 MiB there, not the whole buffer.
 */
function slices(data: Buffer): Buffer[] {
  const views: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += SLICE)
    views.push(data.subarray(offset, offset + SLICE));
  return views;
}

const SLICE = 1 << 20;

async function collect(source: Buffer, transform: NodeJS.ReadWriteStream, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  try {
    await pipeline(Readable.from(slices(source)), transform, sink);
  } catch (error) {
    throw wrapError(error, what);
  }
  return Buffer.concat(parts);
}

export async function compressBuffer(
  name: CompressionName,
  data: Buffer,
  options: CompressOptions = {},
): Promise<Buffer> {
  const stream = createCompressStream(name, options);
  return await collect(data, stream, `${name} compression`);
}

export async function decompressBuffer(
  name: CompressionName,
  data: Buffer,
  options: DecompressOptions = {},
): Promise<Buffer> {
  const stream = createDecompressStream(name, options);
  return await collect(data, stream, `${name} decompression`);
}

async function transferFile(
  transform: NodeJS.ReadWriteStream,
  source: string,
  destination: string,
  what: string,
): Promise<TransferSizes> {
  const counterIn = new ByteCounter();
  const counterOut = new ByteCounter();
  try {
    await pipeline(
      createReadStream(source, { highWaterMark: 1 << 20 }),
      counterIn,
      transform,
      counterOut,
      createWriteStream(destination),
    );
  } catch (error) {
    throw wrapError(error, what);
  }
  return { bytesIn: counterIn.bytes, bytesOut: counterOut.bytes };
}

/** Compresses the file `source` into `destination` (created or truncated). */
export async function compressFile(
  name: CompressionName,
  source: string,
  destination: string,
  options: CompressOptions = {},
): Promise<TransferSizes> {
  const stream = createCompressStream(name, options);
  return await transferFile(stream, source, destination, `${name} compression of ${source}`);
}

/** Decompresses the file `source` into `destination` (created or truncated). */
export async function decompressFile(
  name: CompressionName,
  source: string,
  destination: string,
  options: DecompressOptions = {},
): Promise<TransferSizes> {
  const stream = createDecompressStream(name, options);
  return await transferFile(stream, source, destination, `${name} decompression of ${source}`);
}

/**
 * Reads the file `source` whole and compresses it into memory: for files of a few MiB (WAL
 * segments) on a pool thread. gzip is one synchronous zlib call there, which costs less than
 * the stream's per-chunk hand-offs to libuv's threads; it writes the same single-member format.
 * With `scratch`, the file is read into a buffer reused from call to call: a new 16 MiB buffer
 * per WAL segment left so much garbage in each thread's heap that the worker's RSS grew by
 * 150 MB before collections caught up.
 */
export async function compressFileToBuffer(
  name: CompressionName,
  source: string,
  options: CompressOptions = {},
  scratch?: ScratchBuffer,
): Promise<{ data: Buffer; bytesIn: number }> {
  const what = `${name} compression of ${source}`;
  const level = resolveLevel(canonicalCompression(name), options.level);
  // Always a buffer: no maxSize.
  const input = (await readWholeFile(source, scratch ? { scratch } : {}))!;
  if (canonicalCompression(name) === 'gzip') {
    try {
      return { data: gzipSync(input, { level, chunkSize: ZLIB_CHUNK }), bytesIn: input.length };
    } catch (error) {
      throw wrapError(error, what);
    }
  }
  const stream = createCompressStream(name, options);
  return { data: await collect(input, stream, what), bytesIn: input.length };
}
