/** Byte comparison of two WAL files whatever their compression (duplicate detection). */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { CustomCompression } from './compression/index.js';
import { createDecompressStream, identifyCompression, MAGIC_HEADER_LENGTH } from './compression/index.js';

export async function openDecompressed(path: string, custom: CustomCompression | null): Promise<Readable> {
  const handle = await open(path, 'r');
  let compression;
  try {
    const head = Buffer.alloc(MAGIC_HEADER_LENGTH);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    compression = identifyCompression(head.subarray(0, bytesRead), custom);
  } finally {
    await handle.close();
  }
  const raw = createReadStream(path);
  if (compression === null) return raw;
  const decompress = createDecompressStream(compression, { custom });
  raw.on('error', (error) => decompress.destroy(error));
  return raw.pipe(decompress);
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
