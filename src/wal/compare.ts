/** Byte comparison of two WAL files whatever their compression (duplicate detection). */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BarmanError, describeError } from '../errors/index.js';
import { isSystemError, withPath } from '../errors/system.js';
import type { CompressionName, CustomCompression } from '../transfer/compression/index.js';
import {
  CompressionError,
  createDecompressStream,
  identifyCompression,
  MAGIC_HEADER_LENGTH,
} from '../transfer/compression/index.js';

/**
 * The archived WAL file at `path`, decompressed whatever its compression. A file that does not
 * decompress (truncated, damaged) fails the stream with an error naming it: the message must
 * say which of thousands of archived files is bad, not just "unexpected end of file".
 */
export async function openDecompressed(path: string, custom: CustomCompression | null): Promise<Readable> {
  const handle = await open(path, 'r');
  let compression: ReturnType<typeof identifyCompression>;
  try {
    const head = Buffer.alloc(MAGIC_HEADER_LENGTH);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    compression = identifyCompression(head.subarray(0, bytesRead), custom);
  } catch (error) {
    throw withPath(error, path);
  } finally {
    await handle.close();
  }
  const raw = createReadStream(path);
  if (compression === null) return raw;
  return decompressedStream(raw, compression, custom, path);
}

/**
 * `raw` (an archived WAL file's bytes, compressed with `format`) decompressed; a failure to
 * decompress ends the stream with an error naming `where`.
 */
export function decompressedStream(
  raw: Readable,
  format: CompressionName,
  custom: CustomCompression | null,
  where: string,
): Readable {
  const decompress = createDecompressStream(format, { custom });
  raw.on('error', (error) => decompress.destroy(error));
  const decompressed = raw.pipe(decompress);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of decompressed) yield chunk as Buffer;
    } catch (error) {
      throw corruptWal(error, where, format);
    } finally {
      raw.destroy();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

function corruptWal(error: unknown, path: string, compression: string): unknown {
  // Reading the file failed (not its data), or the reader gave up: not a damaged file.
  if (isSystemError(error)) return withPath(error, path);
  if ((error as Error | null)?.name === 'AbortError') return error;
  if (error instanceof BarmanError && !(error instanceof CompressionError)) return error;
  return new BarmanError(
    'wal-corrupt',
    `cannot decompress the archived WAL file ${path} (${compression}): ${describeError(error)}`,
    {
      hint: `the file is damaged (truncated or corrupt); replace it with an intact copy, or move it away and run 'barman rebuild-xlogdb'`,
      cause: error,
    },
  );
}

export async function filesHaveSameContent(
  a: string,
  b: string,
  custom: CustomCompression | null,
): Promise<boolean> {
  const [left, right] = await Promise.all([openDecompressed(a, custom), openDecompressed(b, custom)]);
  try {
    const leftIterator = chunks(left);
    const rightIterator = chunks(right);
    let leftBuffer: Buffer = Buffer.alloc(0);
    let rightBuffer: Buffer = Buffer.alloc(0);
    for (;;) {
      if (leftBuffer.length === 0) leftBuffer = (await leftIterator.next()).value ?? Buffer.alloc(0);
      if (rightBuffer.length === 0) rightBuffer = (await rightIterator.next()).value ?? Buffer.alloc(0);
      if (leftBuffer.length === 0 || rightBuffer.length === 0)
        return leftBuffer.length === rightBuffer.length;
      const length = Math.min(leftBuffer.length, rightBuffer.length);
      if (!leftBuffer.subarray(0, length).equals(rightBuffer.subarray(0, length))) return false;
      leftBuffer = leftBuffer.subarray(length);
      rightBuffer = rightBuffer.subarray(length);
    }
  } finally {
    left.destroy();
    right.destroy();
  }
}

async function* chunks(stream: Readable): AsyncGenerator<Buffer, void> {
  for await (const chunk of stream) if ((chunk as Buffer).length > 0) yield chunk as Buffer;
}
