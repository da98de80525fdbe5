/**
 * Buffer and file helpers on top of the stream factories. Files are streamed from source to
 * destination (never read whole); the destination is written exactly where the caller says —
 * temporary names, fsync and the final rename belong to the caller.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressStream, createDecompressStream } from './streams.js';
import type { CompressionName, CompressOptions, DecompressOptions, TransferSizes } from './types.js';
import { CompressionError } from './types.js';

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

async function collect(source: Buffer, transform: NodeJS.ReadWriteStream, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  try {
    await pipeline(Readable.from(source.length > 0 ? [source] : []), transform, sink);
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
