/**
 * Opens an archived WAL file of any Storage, decompressed. A file that does not decompress
 * (truncated, damaged) fails the stream with an error naming it: the message must say which of
 * thousands of archived files is bad, not just "unexpected end of file".
 */
import { Readable } from 'node:stream';
import { BarmanError, describeError } from '../errors/index.js';
import { isSystemError, withPath } from '../errors/system.js';
import type { Storage } from '../storage/index.js';
import type { CompressionName, CustomCompression } from '../wal/compression/index.js';
import {
  CompressionError,
  createDecompressStream,
  identifyCompression,
  MAGIC_HEADER_LENGTH,
} from '../wal/compression/index.js';

export interface WalReadOptions {
  /** The file's compression when its name says it; `sniff` reads it from the first bytes. */
  compression: CompressionName | null | 'sniff';
  /** compression = custom: its filters (and magic). */
  custom: CustomCompression | null;
}

export async function openArchivedWal(
  storage: Storage,
  path: string,
  options: WalReadOptions,
): Promise<Readable> {
  const compression =
    options.compression === 'sniff'
      ? identifyCompression(await storage.readHead(path, MAGIC_HEADER_LENGTH), options.custom)
      : options.compression;
  const raw = await storage.openRead(path);
  if (compression === null) return raw;
  const format = compression;
  const where = `${storage.location}/${path}`;
  const decompress = createDecompressStream(format, { custom: options.custom });
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

function corruptWal(error: unknown, where: string, compression: string): unknown {
  // Reading the file failed (not its data), or the reader gave up: not a damaged file.
  if (isSystemError(error)) return withPath(error, where);
  if ((error as Error | null)?.name === 'AbortError') return error;
  if (error instanceof BarmanError && !(error instanceof CompressionError)) return error;
  return new BarmanError(
    'wal-corrupt',
    `cannot decompress the archived WAL file ${where} (${compression}): ${describeError(error)}`,
    {
      hint: `the file is damaged (truncated or corrupt); replace it with an intact copy, or move it away and run 'barman rebuild-xlogdb'`,
      cause: error,
    },
  );
}
