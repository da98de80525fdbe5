/**
 * CRC-32C of a file patched in place, derived instead of read back: a patched relation segment
 * is its full backup's file, whose CRC-32C that backup's manifest lists, with a few runs of
 * blocks written over it. A CRC is linear over GF(2): for two messages of one length, crc(A) xor
 * crc(B) is the zero-initialised CRC of A xor B, and bytes followed by n zero bytes are that
 * CRC multiplied by x^(8n) modulo the polynomial. So replacing the bytes `old` at `offset` by
 * `new` in a file of `length` bytes changes its CRC by (crc(old) xor crc(new)) shifted over the
 * `length - offset - old.length` bytes after them; extending a file with zeros is a combine with
 * the CRC of those zeros. Reading back the patched files was 300-600 MiB read and checksummed
 * per recovery of the bench's chains; this reads only the runs overwritten (their old content).
 * Values are the finalised CRC-32C of `crc32c` (transfer/compression/checksums.ts), as
 * zlib's crc32_combine treats CRC-32's.
 */
import { crc32c } from '../../transfer/compression/checksums.js';

/** CRC-32C's polynomial, bit-reflected (as the CRC is computed: least significant bit first). */
const POLYNOMIAL = 0x82f63b78;

/** a * b modulo the polynomial, both reflected (bit 31 is x^0). */
function multiplyModulo(a: number, b: number): number {
  let product = 0;
  for (let bit = 0x80000000; bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) product ^= b;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31 (x^1 is 1 << 30 reflected). */
const POWERS = (() => {
  const powers = new Array<number>(32);
  powers[0] = 1 << 30;
  for (let k = 1; k < 32; k++) powers[k] = multiplyModulo(powers[k - 1]!, powers[k - 1]!);
  return powers;
})();

/** x^(8 * bytes) modulo the polynomial. */
function byteShift(bytes: number): number {
  let result = 0x80000000; // x^0
  let k = 3; // 8 = 2^3
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++)
    if (n % 2 === 1) result = multiplyModulo(POWERS[k % 32]!, result);
  return result;
}

/** The CRC-32C of A followed by B, from crc(A), crc(B) and B's length. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModulo(byteShift(lengthB), crcA) ^ crcB) >>> 0;
}

/** The CRC-32C of `bytes` zero bytes (the CRC of nothing is 0). */
export function crc32cOfZeros(bytes: number): number {
  // crc(M) = (zero-initialised CRC of M) xor (0xffffffff shifted over M) xor 0xffffffff: for
  // zeros the first term is 0.
  return (multiplyModulo(byteShift(bytes), 0xffffffff) ^ 0xffffffff) >>> 0;
}

/** Follows the CRC-32C of a file of fixed length through patches of its bytes. */
export class PatchedCrc32c {
  constructor(
    private crc: number,
    /** The file's length (after any extension): patches never change it. */
    private readonly length: number,
  ) {}

  /** The CRC of a file of `size` bytes with CRC `crc`, extended with zeros to `length`. */
  static extended(crc: number, size: number, length: number): PatchedCrc32c {
    if (length < size) throw new Error(`PatchedCrc32c: ${length} < ${size}: a cut file is read back`);
    return new PatchedCrc32c(
      length === size ? crc : crc32cCombine(crc, crc32cOfZeros(length - size), length - size),
      length,
    );
  }

  /** `before` at `offset` is replaced by `after` (of the same length). */
  replace(offset: number, before: Uint8Array, after: Uint8Array): void {
    if (before.length !== after.length || offset + after.length > this.length)
      throw new Error('PatchedCrc32c: a patch must keep the length and lie within the file');
    const change = (crc32c(before) ^ crc32c(after)) >>> 0;
    const following = this.length - offset - after.length;
    this.crc = (this.crc ^ multiplyModulo(byteShift(following), change)) >>> 0;
  }

  get value(): number {
    return this.crc;
  }
}
