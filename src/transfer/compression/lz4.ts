/**
 * LZ4 frame format (lz4_Frame_format.md v1.6.x) with its own block codec, in plain JavaScript.
 *
 * Written frames: 4 MiB independent blocks, no content size, xxHash32 content checksum, which is
 * what `lz4 -dc` and python's `lz4.frame` read. Read frames: any block size, linked or
 * independent blocks, optional block and content checksums, dictionary-less, concatenated frames
 * and skippable frames.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { FramedDecompressStream } from './byte-queue.js';
import { Xxh32, xxh32 } from './checksums.js';
import { CompressionError } from './types.js';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const LEGACY_MAGIC = 0x184c2102;

const MIN_MATCH = 4;
/** The last 5 bytes of a block are always literals. */
const LAST_LITERALS = 5;
/** A match may not start within the last 12 bytes of a block. */
const MF_LIMIT = 12;
const MAX_DISTANCE = 65535;
const HASH_LOG = 16;
const WRITE_BLOCK_ID = 7; // 4 MiB
const BLOCK_SIZES: Record<number, number> = { 4: 1 << 16, 5: 1 << 18, 6: 1 << 20, 7: 1 << 22 };

function read32(src: Uint8Array, i: number): number {
  return src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24);
}

function hash4(sequence: number): number {
  return Math.imul(sequence, 2654435761) >>> (32 - HASH_LOG);
}

/** Upper bound of a compressed block for `n` input bytes. */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/**
 * Compresses `src` as one LZ4 block into `dst` (at least lz4CompressBound(src.length) bytes) and
 * returns the compressed length. level 0 = accelerated, 1-2 = default, 3-12 = hash-chain search.
 */
export function lz4CompressBlock(src: Uint8Array, dst: Uint8Array, level: number): number {
  const n = src.length;
  let op = 0;
  let anchor = 0;

  const emit = (matchStart: number, offset: number, matchLength: number): void => {
    const literals = matchStart - anchor;
    const tokenPos = op++;
    let token: number;
    if (literals >= 15) {
      token = 0xf0;
      let rest = literals - 15;
      while (rest >= 255) {
        dst[op++] = 255;
        rest -= 255;
      }
      dst[op++] = rest;
    } else {
      token = literals << 4;
    }
    dst.set(src.subarray(anchor, matchStart), op);
    op += literals;
    if (matchLength === 0) {
      dst[tokenPos] = token;
      return;
    }
    dst[op++] = offset & 0xff;
    dst[op++] = offset >>> 8;
    let ml = matchLength - MIN_MATCH;
    if (ml >= 15) {
      token |= 15;
      ml -= 15;
      while (ml >= 255) {
        dst[op++] = 255;
        ml -= 255;
      }
      dst[op++] = ml;
    } else {
      token |= ml;
    }
    dst[tokenPos] = token;
  };

  if (n >= MF_LIMIT + 1) {
    const matchStartLimit = n - MF_LIMIT;
    const matchEndLimit = n - LAST_LITERALS;
    const table = new Int32Array(1 << HASH_LOG).fill(-1);
    if (level >= 3) {
      // Hash chains: chain[pos & 0xffff] = the previous position with the same hash.
      const depth = 1 << Math.min(level - 1, 11);
      const chain = new Int32Array(MAX_DISTANCE + 1);
      let inserted = 0;
      const insertUpTo = (end: number): void => {
        for (; inserted < end; inserted++) {
          const h = hash4(read32(src, inserted));
          chain[inserted & MAX_DISTANCE] = table[h]!;
          table[h] = inserted;
        }
      };
      let ip = 0;
      while (ip < matchStartLimit) {
        insertUpTo(ip);
        const sequence = read32(src, ip);
        let candidate = table[hash4(sequence)]!;
        let bestLength = 0;
        let bestPos = -1;
        for (let tries = depth; candidate >= 0 && ip - candidate <= MAX_DISTANCE && tries > 0; tries--) {
          if (src[candidate + bestLength] === src[ip + bestLength] && read32(src, candidate) === sequence) {
            let length = MIN_MATCH;
            while (ip + length < matchEndLimit && src[candidate + length] === src[ip + length]) length++;
            if (length > bestLength) {
              bestLength = length;
              bestPos = candidate;
              if (ip + length >= matchEndLimit) break;
            }
          }
          const previous = chain[candidate & MAX_DISTANCE]!;
          if (previous >= candidate) break;
          candidate = previous;
        }
        if (bestPos < 0) {
          ip++;
          continue;
        }
        let start = ip;
        let ref = bestPos;
        while (start > anchor && ref > 0 && src[start - 1] === src[ref - 1]) {
          start--;
          ref--;
        }
        const length = bestLength + (ip - start);
        emit(start, start - ref, length);
        ip = start + length;
        anchor = ip;
      }
    } else {
      // Greedy single-probe search; level 0 skips ahead faster through incompressible data.
      const skipStrength = level === 0 ? 3 : 6;
      let ip = 0;
      let searches = 1 << skipStrength;
      while (ip < matchStartLimit) {
        const sequence = read32(src, ip);
        const h = hash4(sequence);
        const ref = table[h]!;
        table[h] = ip;
        if (ref < 0 || ip - ref > MAX_DISTANCE || read32(src, ref) !== sequence) {
          ip += searches++ >>> skipStrength;
          continue;
        }
        searches = 1 << skipStrength;
        let start = ip;
        let matchRef = ref;
        while (start > anchor && matchRef > 0 && src[start - 1] === src[matchRef - 1]) {
          start--;
          matchRef--;
        }
        let end = ip + MIN_MATCH;
        let refEnd = ref + MIN_MATCH;
        while (end < matchEndLimit && src[end] === src[refEnd]) {
          end++;
          refEnd++;
        }
        emit(start, start - matchRef, end - start);
        ip = end;
        anchor = ip;
        if (ip - 2 >= 0 && ip - 2 < matchStartLimit) table[hash4(read32(src, ip - 2))] = ip - 2;
      }
    }
  }
  emit(n, 0, 0);
  return op;
}

/**
 * Decompresses one LZ4 block from `src` into `dst` starting at `start` (bytes before `start` are
 * the dictionary: the previous block's tail for linked blocks). Returns the new end offset.
 */
export function lz4DecompressBlock(src: Uint8Array, dst: Uint8Array, start: number): number {
  const end = src.length;
  const capacity = dst.length;
  let ip = 0;
  let op = start;
  const corrupt = (): never => {
    throw new CompressionError('lz4: corrupt block');
  };
  for (;;) {
    if (ip >= end) corrupt();
    const token = src[ip++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (ip >= end) corrupt();
        b = src[ip++]!;
        literals += b;
      } while (b === 255);
    }
    if (ip + literals > end || op + literals > capacity) corrupt();
    dst.set(src.subarray(ip, ip + literals), op);
    ip += literals;
    op += literals;
    if (ip === end) return op;
    if (ip + 2 > end) corrupt();
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) corrupt();
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (ip >= end) corrupt();
        b = src[ip++]!;
        length += b;
      } while (b === 255);
    }
    length += MIN_MATCH;
    if (op + length > capacity) corrupt();
    let from = op - offset;
    if (offset >= length) {
      dst.copyWithin(op, from, from + length);
      op += length;
    } else {
      for (const stop = op + length; op < stop;) dst[op++] = dst[from++]!;
    }
  }
}

/** Streaming LZ4 frame compressor. */
export class Lz4CompressStream extends Transform {
  private readonly blockSize = BLOCK_SIZES[WRITE_BLOCK_ID]!;
  private readonly staging = Buffer.allocUnsafe(this.blockSize);
  private stagingLength = 0;
  private readonly content = new Xxh32();
  private headerWritten = false;

  constructor(private readonly level: number) {
    super({ readableHighWaterMark: 1 << 20 });
  }

  private header(): Buffer {
    const descriptor = Buffer.from([0x64, WRITE_BLOCK_ID << 4]); // version 01, independent, content checksum
    const out = Buffer.alloc(7);
    out.writeUInt32LE(FRAME_MAGIC, 0);
    descriptor.copy(out, 4);
    out[6] = (xxh32(descriptor) >>> 8) & 0xff;
    return out;
  }

  private block(data: Uint8Array): void {
    this.content.update(data);
    const out = Buffer.allocUnsafe(4 + lz4CompressBound(data.length));
    const size = lz4CompressBlock(data, out.subarray(4), this.level);
    if (size < data.length) {
      out.writeUInt32LE(size, 0);
      this.push(out.subarray(0, 4 + size));
    } else {
      const raw = Buffer.allocUnsafe(4 + data.length);
      raw.writeUInt32LE((data.length | 0x80000000) >>> 0, 0);
      raw.set(data, 4);
      this.push(raw);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (!this.headerWritten) {
        this.push(this.header());
        this.headerWritten = true;
      }
      let i = 0;
      if (this.stagingLength > 0) {
        const take = Math.min(this.blockSize - this.stagingLength, chunk.length);
        chunk.copy(this.staging, this.stagingLength, 0, take);
        this.stagingLength += take;
        i = take;
        if (this.stagingLength === this.blockSize) {
          this.block(this.staging);
          this.stagingLength = 0;
        }
      }
      for (; chunk.length - i >= this.blockSize; i += this.blockSize) {
        this.block(chunk.subarray(i, i + this.blockSize));
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
      if (!this.headerWritten) this.push(this.header());
      if (this.stagingLength > 0) this.block(this.staging.subarray(0, this.stagingLength));
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.content.digest(), 4); // EndMark (0) + content checksum
      this.push(trailer);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}

type DecoderState =
  | { kind: 'magic' }
  | { kind: 'descriptor' }
  | { kind: 'blockHeader' }
  | { kind: 'block'; size: number; compressed: boolean }
  | { kind: 'contentChecksum' }
  | { kind: 'skip'; remaining: number };

/** Streaming LZ4 frame decompressor. */
export class Lz4DecompressStream extends FramedDecompressStream {
  private state: DecoderState = { kind: 'magic' };
  private blockMax = 0;
  private independent = true;
  private blockChecksum = false;
  private contentChecksum = false;
  private contentSize: bigint | null = null;
  private produced = 0n;
  private content = new Xxh32();
  private history: Buffer = Buffer.alloc(0);

  constructor() {
    super('lz4');
  }

  protected atFrameBoundary(): boolean {
    return this.state.kind === 'magic' && this.input.length === 0;
  }

  private takeBytes(n: number): Buffer | null {
    return this.input.take(n);
  }

  protected drain(): void {
    for (;;) {
      const state = this.state;
      switch (state.kind) {
        case 'magic': {
          const magic = this.input.peek(4);
          if (!magic) return;
          const value = magic.readUInt32LE(0);
          if (value === FRAME_MAGIC) {
            this.input.skip(4);
            this.state = { kind: 'descriptor' };
          } else if ((value & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
            const header = this.takeBytes(8);
            if (!header) return;
            this.state = { kind: 'skip', remaining: header.readUInt32LE(4) };
          } else if (value === LEGACY_MAGIC) {
            throw new CompressionError('lz4: legacy frame format is not supported');
          } else {
            throw new CompressionError('lz4: not an LZ4 frame (bad magic number)');
          }
          break;
        }
        case 'skip': {
          state.remaining -= this.input.skip(state.remaining);
          if (state.remaining > 0) return;
          this.state = { kind: 'magic' };
          break;
        }
        case 'descriptor': {
          const start = this.input.peek(2);
          if (!start) return;
          const flg = start[0]!;
          const bd = start[1]!;
          const length = 2 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
          const descriptor = this.takeBytes(length);
          if (!descriptor) return;
          if (flg >>> 6 !== 1) throw new CompressionError('lz4: unsupported frame version');
          if (flg & 0x02 || bd & 0x8f) throw new CompressionError('lz4: corrupt frame descriptor');
          if (flg & 0x01) throw new CompressionError('lz4: frames with a dictionary are not supported');
          const blockMax = BLOCK_SIZES[(bd >>> 4) & 7];
          if (blockMax === undefined) throw new CompressionError('lz4: invalid block size');
          const expected = (xxh32(descriptor.subarray(0, length - 1)) >>> 8) & 0xff;
          if (descriptor[length - 1] !== expected) {
            throw new CompressionError('lz4: frame descriptor checksum mismatch');
          }
          this.blockMax = blockMax;
          this.independent = (flg & 0x20) !== 0;
          this.blockChecksum = (flg & 0x10) !== 0;
          this.contentChecksum = (flg & 0x04) !== 0;
          this.contentSize = flg & 0x08 ? descriptor.readBigUInt64LE(2) : null;
          this.produced = 0n;
          this.content = new Xxh32();
          this.history = Buffer.alloc(0);
          this.state = { kind: 'blockHeader' };
          break;
        }
        case 'blockHeader': {
          const header = this.takeBytes(4);
          if (!header) return;
          const value = header.readUInt32LE(0);
          if (value === 0) {
            this.state = this.contentChecksum ? { kind: 'contentChecksum' } : { kind: 'magic' };
            if (!this.contentChecksum) this.endFrame();
            break;
          }
          const size = value & 0x7fffffff;
          if (size > this.blockMax) throw new CompressionError('lz4: block larger than the frame allows');
          this.state = { kind: 'block', size, compressed: (value & 0x80000000) === 0 };
          break;
        }
        case 'block': {
          const total = state.size + (this.blockChecksum ? 4 : 0);
          const data = this.takeBytes(total);
          if (!data) return;
          const body = data.subarray(0, state.size);
          if (this.blockChecksum && xxh32(body) !== data.readUInt32LE(state.size)) {
            throw new CompressionError('lz4: block checksum mismatch');
          }
          this.output(state.compressed ? this.decodeBlock(body) : Buffer.from(body));
          this.state = { kind: 'blockHeader' };
          break;
        }
        case 'contentChecksum': {
          const checksum = this.takeBytes(4);
          if (!checksum) return;
          if (checksum.readUInt32LE(0) !== this.content.digest()) {
            throw new CompressionError('lz4: content checksum mismatch (corrupt data)');
          }
          this.endFrame();
          this.state = { kind: 'magic' };
          break;
        }
      }
    }
  }

  private decodeBlock(body: Buffer): Buffer {
    const prefix = this.independent ? 0 : this.history.length;
    const dst = Buffer.allocUnsafe(prefix + this.blockMax);
    if (prefix > 0) this.history.copy(dst, 0);
    const end = lz4DecompressBlock(body, dst, prefix);
    return dst.subarray(prefix, end);
  }

  private output(data: Buffer): void {
    if (!this.independent) {
      const keep = MAX_DISTANCE + 1;
      this.history =
        data.length >= keep
          ? Buffer.from(data.subarray(data.length - keep))
          : Buffer.concat([
              this.history.subarray(Math.max(0, this.history.length + data.length - keep)),
              data,
            ]);
    }
    this.content.update(data);
    this.produced += BigInt(data.length);
    if (data.length > 0) this.push(data);
  }

  private endFrame(): void {
    if (this.contentSize !== null && this.contentSize !== this.produced) {
      throw new CompressionError('lz4: content size mismatch');
    }
  }
}
