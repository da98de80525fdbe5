/**
 * Reads byte ranges of one backup file through Storage, which streams files from their start
 * (a bucket's objects included): ranges asked in increasing order cost one pass over the file;
 * a range before the current position reopens it. Holds at most one stream chunk besides the
 * range being returned, so memory does not grow with the file.
 */
import type { Readable } from 'node:stream';
import type { Storage } from '../../storage/index.js';

export class PositionedReader {
  private stream: Readable | null = null;
  private iterator: AsyncIterator<Buffer> | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private position = 0;

  constructor(
    private readonly storage: Storage,
    private readonly path: string,
    /** For messages: `<backup>: <file>`. */
    private readonly label: string,
  ) {}

  /** Exactly `length` bytes at `offset`; a file that ends before is an error naming it. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.iterator === null || offset < this.position) await this.reopen();
    await this.skip(offset - this.position);
    const parts: Buffer[] = [];
    let missing = length;
    while (missing > 0) {
      const chunk = await this.take(missing);
      if (chunk === null)
        throw new Error(
          `${this.label} ends at byte ${this.position}, before the ${length} bytes expected at offset ${offset}`,
        );
      parts.push(chunk);
      missing -= chunk.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  close(): void {
    this.stream?.destroy();
    this.stream = null;
    this.iterator = null;
  }

  private async reopen(): Promise<void> {
    this.close();
    this.stream = await this.storage.openRead(this.path);
    this.iterator = this.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.pending = Buffer.alloc(0);
    this.position = 0;
  }

  private async skip(count: number): Promise<void> {
    let left = count;
    while (left > 0) {
      const chunk = await this.take(left);
      if (chunk === null) return; // read() reports the short file with the offset asked
      left -= chunk.length;
    }
  }

  /** Up to `max` bytes from the stream, null at its end. */
  private async take(max: number): Promise<Buffer | null> {
    if (this.pending.length === 0) {
      const next = await this.iterator!.next();
      if (next.done) return null;
      this.pending = next.value;
    }
    const chunk = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(chunk.length);
    this.position += chunk.length;
    return chunk;
  }
}
