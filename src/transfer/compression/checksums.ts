/**
 * The two checksums the framed formats need: CRC-32C (Castagnoli) for the snappy framing format
 * and backup manifests' CRC32C, and xxHash32 for the LZ4 frame format. CRC-32C runs on the CPU's
 * CRC instruction: first barman-ts's own addon (native/crc32c, built by node-gyp at install;
 * three interleaved streams, about 20 GB/s — verify-backup of pg_basebackup's manifests reads
 * every byte through it), else @node-rs/crc32's prebuilt binary (one stream through a function
 * call per 8 bytes, about 3-4 GB/s; platforms the addon does not build on), else the plain
 * JavaScript one below (about 1 GB/s). All give the same values; each is loaded on first use.
 */
import { createRequire } from 'node:module';
import { crc32cAddon } from '../../util/native-crc32c.js';

/** Slice-by-16 tables for the reflected CRC-32C polynomial 0x82F63B78. */
const CRC32C_TABLE = (() => {
  const table = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n]!;
    for (let k = 1; k < 16; k++) {
      c = table[c & 0xff]! ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
})();

/** Word reads below assume the bytes of a 32-bit word in little-endian order (x86, ARM). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

type Crc32c = (data: Buffer, crc?: number) => number;

let hardwareCrc32c: Crc32c | null | undefined;

function loadHardwareCrc32c(): Crc32c | null {
  // The addon exports no crc32c on a CPU without SSE 4.2; a failed build leaves no addon at all.
  const own = crc32cAddon()?.crc32c;
  if (typeof own === 'function') return own;
  try {
    const module = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: Crc32c | null };
    if (typeof module.crc32c === 'function') return module.crc32c;
  } catch {
    // Not installed or not loadable here: the JavaScript one.
  }
  return null;
}

/** CRC-32C of `data`, continuing from `crc` (the value returned for the previous bytes). */
export function crc32c(data: Uint8Array, crc = 0): number {
  if (hardwareCrc32c === undefined) hardwareCrc32c = loadHardwareCrc32c();
  if (hardwareCrc32c === null) return portableCrc32c(data, crc);
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return hardwareCrc32c(bytes, crc) >>> 0;
}

/**
 * CRC-32C in plain JavaScript. Sixteen bytes a step, read as four aligned 32-bit words: about
 * twice the speed of byte reads.
 */
export function portableCrc32c(data: Uint8Array, crc = 0): number {
  const t = CRC32C_TABLE;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  if (LITTLE_ENDIAN && n >= 64) {
    const head = (4 - (data.byteOffset & 3)) & 3;
    while (i < head) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
    const words = new Int32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
    const end = words.length - (words.length & 3);
    for (let w = 0; w < end; w += 4) {
      const a = c ^ words[w]!;
      const b = words[w + 1]!;
      const d = words[w + 2]!;
      const e = words[w + 3]!;
      c =
        t[3840 + (a & 0xff)]! ^
        t[3584 + ((a >>> 8) & 0xff)]! ^
        t[3328 + ((a >>> 16) & 0xff)]! ^
        t[3072 + (a >>> 24)]! ^
        t[2816 + (b & 0xff)]! ^
        t[2560 + ((b >>> 8) & 0xff)]! ^
        t[2304 + ((b >>> 16) & 0xff)]! ^
        t[2048 + (b >>> 24)]! ^
        t[1792 + (d & 0xff)]! ^
        t[1536 + ((d >>> 8) & 0xff)]! ^
        t[1280 + ((d >>> 16) & 0xff)]! ^
        t[1024 + (d >>> 24)]! ^
        t[768 + (e & 0xff)]! ^
        t[512 + ((e >>> 8) & 0xff)]! ^
        t[256 + ((e >>> 16) & 0xff)]! ^
        t[e >>> 24]!;
    }
    i += end * 4;
  }
  while (i < n) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The snappy framing format's masked CRC-32C of a chunk's uncompressed data. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function read32(data: Uint8Array, i: number): number {
  return data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
}

/** Incremental xxHash32 (seed 0 unless given). */
export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private total = 0;
  private readonly pending = new Uint8Array(16);
  private pendingLength = 0;

  constructor(private readonly seed = 0) {
    this.v1 = (seed + P1 + P2) | 0;
    this.v2 = (seed + P2) | 0;
    this.v3 = seed | 0;
    this.v4 = (seed - P1) | 0;
  }

  update(data: Uint8Array): this {
    this.total += data.length;
    let i = 0;
    const n = data.length;
    if (this.pendingLength > 0) {
      const take = Math.min(16 - this.pendingLength, n);
      this.pending.set(data.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      i = take;
      if (this.pendingLength < 16) return this;
      this.stripes(this.pending, 0, 16);
      this.pendingLength = 0;
    }
    const end = i + ((n - i) & ~15);
    if (end > i) this.stripes(data, i, end);
    if (end < n) {
      this.pending.set(data.subarray(end), 0);
      this.pendingLength = n - end;
    }
    return this;
  }

  private stripes(data: Uint8Array, start: number, end: number): void {
    let { v1, v2, v3, v4 } = this;
    for (let i = start; i < end; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(read32(data, i), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(read32(data, i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(read32(data, i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(read32(data, i + 12), P2)) | 0, 13), P1);
    }
    this.v1 = v1;
    this.v2 = v2;
    this.v3 = v3;
    this.v4 = v4;
  }

  digest(): number {
    let h: number;
    if (this.total >= 16) {
      h = (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0;
    } else {
      h = (this.seed + P5) | 0;
    }
    h = (h + this.total) | 0;
    const p = this.pending;
    let i = 0;
    for (; i + 4 <= this.pendingLength; i += 4) {
      h = Math.imul(rotl((h + Math.imul(read32(p, i), P3)) | 0, 17), P4);
    }
    for (; i < this.pendingLength; i++) {
      h = Math.imul(rotl((h + Math.imul(p[i]!, P5)) | 0, 11), P1);
    }
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

export function xxh32(data: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(data).digest();
}
