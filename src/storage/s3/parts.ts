/**
 * Cutting an upload stream into multipart parts without a new allocation per part: once a part
 * buffer has been uploaded it is handed back and the next part is copied into it. A stream is
 * mostly many 64 KiB–1 MiB chunks; gathering them into a fresh part-sized buffer every part made
 * the garbage collector a tenth of a backup's CPU time (external memory pressure forces full
 * collections). The first parts (before any is released) are gathered as a chunk list and
 * joined once, so a stream shorter than one part never allocates a whole part buffer.
 */

export class PartAssembler {
  /** Chunks of the part being gathered when no released buffer was available for it. */
  private chunks: Buffer[] = [];
  /** The released buffer the current part is copied into, if any. */
  private target: Buffer | null = null;
  private filled = 0;
  private readonly free: Buffer[] = [];
  /** Buffers this assembler allocated: only those are reused (a caller's chunk never is). */
  private readonly owned = new WeakSet<Buffer>();
  /** Parts cut so far. */
  private count = 0;

  /**
   * @param partSize size of part `index` (0-based)
   * @param keep released buffers kept for reuse (the parts in flight plus the one filling)
   */
  constructor(
    private readonly partSize: (index: number) => number,
    private readonly keep: number,
  ) {}

  /** Bytes gathered for the part not yet complete. */
  get pending(): number {
    return this.filled;
  }

  /** Takes `chunk` (not retained when a released buffer is being filled); returns the parts it completed. */
  push(chunk: Buffer): Buffer[] {
    const parts: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.filled === 0 && !this.target) this.target = this.takeFree();
      const size = this.target ? this.target.length : this.partSize(this.count);
      const take = Math.min(size - this.filled, chunk.length - offset);
      if (this.target) {
        chunk.copy(this.target, this.filled, offset, offset + take);
      } else {
        this.chunks.push(
          offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take),
        );
      }
      this.filled += take;
      offset += take;
      if (this.filled === size) parts.push(this.cut());
    }
    return parts;
  }

  /** The last, incomplete part (possibly empty); the assembler is empty afterwards. */
  rest(): Buffer {
    return this.cut();
  }

  /** Gives back a part buffer once its upload no longer needs it. */
  release(part: Buffer): void {
    if (this.free.length < this.keep && this.owned.has(part) && part.length === this.partSize(this.count))
      this.free.push(part);
  }

  private takeFree(): Buffer | null {
    const size = this.partSize(this.count);
    // Sizes double every 1,000 parts: buffers of the old size are dropped.
    while (this.free.length > 0 && this.free[this.free.length - 1]!.length !== size) this.free.pop();
    return this.free.pop() ?? null;
  }

  private cut(): Buffer {
    let part: Buffer;
    if (this.target) {
      part = this.filled === this.target.length ? this.target : this.target.subarray(0, this.filled);
    } else if (this.chunks.length === 1) {
      part = this.chunks[0]!;
    } else {
      part = Buffer.concat(this.chunks, this.filled);
    }
    if (part === this.target || this.chunks.length > 1) this.owned.add(part);
    this.target = null;
    this.chunks = [];
    this.filled = 0;
    this.count += 1;
    return part;
  }
}

/** S3 allows 10,000 parts; part sizes double every 1,000 parts so a stream of any size fits. */
const PARTS_PER_SIZE_STEP = 1000;

/** The size of part `index` (0-based) of a multipart upload whose parts start at `base` bytes. */
export function partSizeAt(base: number, index: number): number {
  return base * 2 ** Math.floor(index / PARTS_PER_SIZE_STEP);
}
