/**
 * A streaming reader of the tar archives barman-wal-archive sends to put-wal (Python's tarfile,
 * PAX format): ustar headers, PAX extended headers (`x`) overriding path/size, file bodies
 * streamed to the caller in order with bounded memory.
 */
import type { Readable } from 'node:stream';

const BLOCK = 512;

export interface TarMember {
  name: string;
  size: number;
  /** '0' (or NUL) = regular file; anything else is reported to the caller as is. */
  type: string;
  mtime: number;
  /** Permission bits from the header. */
  mode: number;
  /** Symbolic and hard links ('2', '1'): the link target. */
  linkname: string;
}

export class TarFormatError extends Error {}

/** Pulls exact byte counts out of a chunked stream. */
class ByteSource {
  private buffered: Buffer[] = [];
  private length = 0;
  private readonly iterator: AsyncIterator<Buffer>;
  private ended = false;

  constructor(stream: Readable) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Exactly `count` bytes, or fewer only when the stream ended. */
  async read(count: number): Promise<Buffer> {
    while (this.length < count && (await this.pull()));
    // Fast path: the first buffered chunk holds enough (no copy).
    const first = this.buffered[0];
    if (first && first.length >= count) return this.take(count);
    // Across chunks: only the bytes asked for are copied, not everything buffered.
    const result = Buffer.allocUnsafe(Math.min(count, this.length));
    for (let filled = 0; filled < result.length;) {
      const part = this.take(Math.min(this.buffered[0]!.length, result.length - filled));
      part.copy(result, filled);
      filled += part.length;
    }
    return result;
  }

  /**
   * Streams `count` bytes to `sink` as they arrive (views of the stream's chunks, at most 1 MiB
   * each, never copied).
   */
  async pipe(count: number, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
    let remaining = count;
    while (remaining > 0) {
      if (this.length === 0 && !(await this.pull()))
        throw new TarFormatError('the tar stream ended inside a file');
      const chunk = this.take(Math.min(remaining, this.buffered[0]!.length, 1 << 20));
      await sink(chunk);
      remaining -= chunk.length;
    }
  }

  /** The next `count` bytes of the first buffered chunk (which holds at least that many). */
  private take(count: number): Buffer {
    const first = this.buffered[0]!;
    const result = first.subarray(0, count);
    if (first.length === count) this.buffered.shift();
    else this.buffered[0] = first.subarray(count);
    this.length -= count;
    return result;
  }

  /** Buffers the stream's next chunk; false once it has ended. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    if (next.value.length > 0) {
      this.buffered.push(next.value);
      this.length += next.value.length;
    }
    return true;
  }
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

function octal(header: Buffer, start: number, length: number): number {
  const text = field(header, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad number '${text}' in a tar header`);
  return Number.parseInt(text, 8);
}

function verifyChecksum(header: Buffer): void {
  const stored = octal(header, 148, 8);
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) sum += index >= 148 && index < 156 ? 32 : header[index]!;
  if (sum !== stored) throw new TarFormatError('tar header checksum mismatch (corrupted stream?)');
}

function parsePax(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isInteger(length) || length <= 0) throw new TarFormatError('bad PAX record length');
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}

/**
 * Reads members one by one; `onMember` must consume the body through `writeBody` (or skip it).
 */
export async function readTar(
  stream: Readable,
  onMember: (
    member: TarMember,
    body: (sink: (chunk: Buffer) => Promise<void>) => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  const source = new ByteSource(stream);
  let pax: Record<string, string> = {};
  for (;;) {
    const header = await source.read(BLOCK);
    if (header.length === 0) return; // tolerate a missing end-of-archive marker
    if (header.length < BLOCK) throw new TarFormatError('the tar stream ended inside a header');
    if (header.every((byte) => byte === 0)) return;
    verifyChecksum(header);
    const type = String.fromCharCode(header[156]!) || '0';
    let size = octal(header, 124, 12);
    const prefix = field(header, 345, 155);
    let name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'g') {
      const data = await source.read(size);
      await source.read(padding);
      if (type === 'x') pax = parsePax(data);
      continue;
    }
    if (pax.path) name = pax.path;
    if (pax.size) size = Number(pax.size);
    const mtime = pax.mtime ? Number(pax.mtime) : octal(header, 136, 12);
    const mode = octal(header, 100, 8) & 0o7777;
    const linkname = pax.linkpath ?? field(header, 157, 100);
    pax = {};
    const memberPadding = (BLOCK - (size % BLOCK)) % BLOCK;
    let consumed = false;
    await onMember({ name, size, type: type === '\0' ? '0' : type, mtime, mode, linkname }, async (sink) => {
      consumed = true;
      await source.pipe(size, sink);
    });
    if (!consumed) await source.pipe(size, () => Promise.resolve());
    await source.read(memberPadding);
  }
}
