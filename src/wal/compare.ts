/** Byte comparison of two WAL files whatever their compression (duplicate detection). */
import { basename, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { BarmanError, describeError } from '../errors/index.js';
import { isSystemError, withPath } from '../errors/system.js';
import type { Storage } from '../storage/index.js';
import { decryptStream, isGpgEncrypted } from '../transfer/gpg.js';
import { noPassphraseCommand, type PassphraseSource } from '../transfer/passphrase.js';
import { PosixStorage } from '../storage/index.js';
import type { CompressionName, CustomCompression } from '../transfer/compression/index.js';
import {
  CompressionError,
  createDecompressStream,
  identifyCompression,
  MAGIC_HEADER_LENGTH,
} from '../transfer/compression/index.js';

/** A WAL file on a Storage: in the archive, or a local file (incoming/, put-wal's temp file). */
export interface WalFile {
  storage: Storage;
  /** Relative to the storage's root. */
  path: string;
}

/** A local file as a WalFile (a PosixStorage of its directory). */
export function localWalFile(path: string): WalFile {
  return { storage: new PosixStorage(dirname(path)), path: basename(path) };
}

/** Where `file` is, for messages: its local path, or its URL. */
export function whereIs({ storage, path }: WalFile): string {
  return storage.localPath ? storage.localPath(path) : `${storage.location}/${path}`;
}

/** The compression of `file`, told by its first bytes (Barman's layout names none). */
export async function compressionOf(
  file: WalFile,
  custom: CustomCompression | null,
): Promise<CompressionName | null> {
  return identifyCompression(await file.storage.readHead(file.path, MAGIC_HEADER_LENGTH), custom);
}

/**
 * `file` decompressed, whatever its compression (`known` when its name says it: barman-cloud's
 * layout; else its first bytes tell). A file that does not decompress (truncated, damaged) fails
 * the stream with an error naming it: the message must say which of thousands of archived files
 * is bad, not just "unexpected end of file". An encrypted file (`encryption = gpg`, told by its
 * first bytes as its name is the plain one) is decrypted first with `passphrase`, then its
 * decrypted first bytes tell its compression (Barman compresses before it encrypts).
 */
export async function openDecompressed(
  file: WalFile,
  custom: CustomCompression | null,
  known?: CompressionName | null,
  passphrase: PassphraseSource | null = null,
): Promise<Readable> {
  // A name that tells the compression (barman-cloud's layout) saves reading the head, unless
  // the server may hold encrypted files.
  const head =
    known === undefined || passphrase !== null
      ? await file.storage.readHead(file.path, MAGIC_HEADER_LENGTH)
      : null;
  if (head !== null && isGpgEncrypted(head)) {
    const where = whereIs(file);
    if (!passphrase) throw noPassphraseCommand(`the archived WAL file ${where}`);
    const key = await passphrase(`the archived WAL file ${where}`);
    const plain = decryptStream(await file.storage.openRead(file.path), key, where);
    const { first, rest } = await peek(plain, MAGIC_HEADER_LENGTH);
    const compression = identifyCompression(first, custom);
    return compression === null ? rest : decompressedStream(rest, compression, custom, where);
  }
  const compression = known !== undefined ? known : identifyCompression(head!, custom);
  const raw = await file.storage.openRead(file.path);
  if (compression === null) return raw;
  return decompressedStream(raw, compression, custom, whereIs(file));
}

/** The first `length` bytes of `stream` (fewer at its end), and a stream of all of it. */
async function peek(stream: Readable, length: number): Promise<{ first: Buffer; rest: Readable }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const taken: Buffer[] = [];
  let size = 0;
  while (size < length) {
    const next = await iterator.next();
    if (next.done) break;
    taken.push(next.value);
    size += next.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield* taken;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return {
    first: Buffer.concat(taken).subarray(0, length),
    rest: Readable.from(all(), { objectMode: false }),
  };
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
  // Nothing flows until the consumer reads: a decoder failing before anyone listens (the
  // consumer still opening its output file) would otherwise be an unhandled 'error' event.
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      const decompress = createDecompressStream(format, { custom });
      raw.on('error', (error) => decompress.destroy(error));
      for await (const chunk of raw.pipe(decompress)) yield chunk as Buffer;
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
  a: WalFile,
  b: WalFile,
  custom: CustomCompression | null,
  passphrase: PassphraseSource | null = null,
): Promise<boolean> {
  const [left, right] = await Promise.all([
    openDecompressed(a, custom, undefined, passphrase),
    openDecompressed(b, custom, undefined, passphrase),
  ]);
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
