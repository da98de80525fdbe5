/**
 * The snappy framing format (framing_format.txt), as python-snappy's StreamCompressor writes it:
 * a stream identifier chunk, then compressed (0x00) or uncompressed (0x01) chunks of at most
 * 64 KiB of data, each with the masked CRC-32C of its uncompressed bytes. Raw snappy blocks are
 * coded by the `snappyjs` package.
 */
import { Transform, type TransformCallback } from 'node:stream';
import snappyjs from 'snappyjs';
import { FramedDecompressStream } from './byte-queue.js';
import { maskedCrc32c } from './checksums.js';
import { SNAPPY_STREAM_IDENTIFIER } from './magic.js';
import { CompressionError } from './types.js';

const MAX_CHUNK_DATA = 65536;
const COMPRESSED = 0x00;
const UNCOMPRESSED = 0x01;
const PADDING = 0xfe;
const STREAM_IDENTIFIER = 0xff;
/** Largest raw snappy block for 64 KiB of input (32 + n + n/6), plus the 4-byte CRC. */
const MAX_COMPRESSED_CHUNK = 4 + 32 + MAX_CHUNK_DATA + Math.floor(MAX_CHUNK_DATA / 6);

function chunkHeader(type: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32LE((type | (length << 8)) >>> 0, 0);
  return header;
}

export class SnappyCompressStream extends Transform {
  private readonly staging = Buffer.allocUnsafe(MAX_CHUNK_DATA);
  private stagingLength = 0;
  private started = false;

  constructor() {
    super({ readableHighWaterMark: 1 << 20 });
  }

  private start(): void {
    if (this.started) return;
    this.push(Buffer.from(SNAPPY_STREAM_IDENTIFIER));
    this.started = true;
  }

  private chunk(data: Uint8Array): void {
    const crc = maskedCrc32c(data);
    const compressed = snappyjs.compress(data);
    const useCompressed = compressed.length < data.length;
    const body = useCompressed ? compressed : data;
    const out = chunkHeader(useCompressed ? COMPRESSED : UNCOMPRESSED, body.length + 4);
    out.writeUInt32LE(crc, 4);
    this.push(Buffer.concat([out, body]));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.start();
      let i = 0;
      if (this.stagingLength > 0) {
        const take = Math.min(MAX_CHUNK_DATA - this.stagingLength, chunk.length);
        chunk.copy(this.staging, this.stagingLength, 0, take);
        this.stagingLength += take;
        i = take;
        if (this.stagingLength === MAX_CHUNK_DATA) {
          this.chunk(this.staging);
          this.stagingLength = 0;
        }
      }
      for (; chunk.length - i >= MAX_CHUNK_DATA; i += MAX_CHUNK_DATA) {
        this.chunk(chunk.subarray(i, i + MAX_CHUNK_DATA));
      }
      if (i < chunk.length) {
        chunk.copy(this.staging, this.stagingLength, i);
        this.stagingLength += chunk.length - i;
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.start();
      if (this.stagingLength > 0) this.chunk(this.staging.subarray(0, this.stagingLength));
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

export class SnappyDecompressStream extends FramedDecompressStream {
  private sawIdentifier = false;
  private skipRemaining = 0;

  constructor() {
    super('snappy');
  }

  protected atFrameBoundary(): boolean {
    return this.input.length === 0 && this.skipRemaining === 0;
  }

  protected drain(): void {
    for (;;) {
      if (this.skipRemaining > 0) {
        this.skipRemaining -= this.input.skip(this.skipRemaining);
        if (this.skipRemaining > 0) return;
      }
      const header = this.input.peek(4);
      if (!header) return;
      const type = header[0]!;
      const length = header.readUIntLE(1, 3);
      if (!this.sawIdentifier && type !== STREAM_IDENTIFIER) {
        throw new CompressionError('snappy: not a framed snappy stream (missing stream identifier)');
      }
      if (type === PADDING || (type >= 0x80 && type < PADDING)) {
        this.input.skip(4);
        this.skipRemaining = length;
        continue;
      }
      if (type >= 0x02 && type <= 0x7f) {
        throw new CompressionError(`snappy: reserved unskippable chunk type 0x${type.toString(16)}`);
      }
      if (type === STREAM_IDENTIFIER) {
        if (length !== 6) throw new CompressionError('snappy: bad stream identifier');
      } else if (length < 4 || length > (type === COMPRESSED ? MAX_COMPRESSED_CHUNK : MAX_CHUNK_DATA + 4)) {
        throw new CompressionError('snappy: invalid chunk length');
      }
      const chunk = this.input.take(4 + length);
      if (!chunk) return;
      if (type === STREAM_IDENTIFIER) {
        if (!chunk.equals(SNAPPY_STREAM_IDENTIFIER))
          throw new CompressionError('snappy: bad stream identifier');
        this.sawIdentifier = true;
        continue;
      }
      const expected = chunk.readUInt32LE(4);
      const body = chunk.subarray(8);
      let data: Buffer;
      if (type === COMPRESSED) {
        try {
          data = snappyjs.uncompress(body, MAX_CHUNK_DATA);
        } catch (error) {
          throw new CompressionError('snappy: corrupt compressed chunk', { cause: error });
        }
      } else {
        data = Buffer.from(body);
      }
      if (maskedCrc32c(data) !== expected)
        throw new CompressionError('snappy: checksum mismatch (corrupt data)');
      if (data.length > 0) this.push(data);
    }
  }
}
