import { Transform, type TransformCallback } from 'node:stream';
import { CompressionError } from './types.js';

/** A FIFO of buffers that hands out contiguous slices, copying only when a slice spans chunks. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes without consuming them, or null when fewer are queued. */
  peek(n: number): Buffer | null {
    if (this.length < n) return null;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const merged = Buffer.allocUnsafe(n);
    let copied = 0;
    let index = 0;
    let offset = this.head;
    while (copied < n) {
      const chunk = this.chunks[index]!;
      const count = Math.min(chunk.length - offset, n - copied);
      chunk.copy(merged, copied, offset, offset + count);
      copied += count;
      if (offset + count === chunk.length) {
        index++;
        offset = 0;
      } else {
        offset += count;
      }
    }
    // Replace the merged prefix by one chunk so that the copy is not repeated.
    const rest = this.chunks.slice(index);
    if (offset > 0) rest[0] = rest[0]!.subarray(offset);
    this.chunks = [merged, ...rest];
    this.head = 0;
    return merged;
  }

  /** Consumes and returns the first `n` bytes, or null when fewer are queued. */
  take(n: number): Buffer | null {
    const out = this.peek(n);
    if (out === null) return null;
    this.skip(n);
    return out;
  }

  /** Drops up to `n` bytes; returns how many were dropped. */
  skip(n: number): number {
    let remaining = Math.min(n, this.length);
    const dropped = remaining;
    while (remaining > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.head;
      if (available > remaining) {
        this.head += remaining;
        remaining = 0;
      } else {
        this.chunks.shift();
        this.head = 0;
        remaining -= available;
      }
    }
    this.length -= dropped;
    return dropped;
  }
}

/**
 * A decompressing stream over a framed format: input is queued, `drain` decodes every whole frame
 * it holds, and the end of the input must fall on a frame boundary (`atFrameBoundary`), or the
 * stream fails as truncated.
 */
export abstract class FramedDecompressStream extends Transform {
  protected readonly input = new ByteQueue();

  constructor(private readonly format: string) {
    super({ readableHighWaterMark: 1 << 20 });
  }

  protected abstract drain(): void;
  protected abstract atFrameBoundary(): boolean;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.input.push(chunk);
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.drain();
      if (!this.atFrameBoundary()) throw new CompressionError(`${this.format}: truncated input`);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}
