/**
 * The per-file checksums a PostgreSQL backup manifest may name (`Checksum-Algorithm`): CRC32C,
 * pg_basebackup's default, and the SHA-2 family. Each is computed incrementally, so a file is
 * hashed as it streams past and never held whole.
 */
import { createHash } from 'node:crypto';
import { crc32c } from '../transfer/compression/checksums.js';

export interface ManifestHasher {
  update(chunk: Uint8Array): void;
  /** Lowercase hex, as PostgreSQL writes it. */
  digest(): string;
}

const SHA_ALGORITHMS: Record<string, string> = {
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};

/** A CRC-32C as a manifest lists it: PostgreSQL hex-encodes its four bytes as they lie in memory, little-endian. */
export function crc32cHex(crc: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(crc >>> 0);
  return bytes.toString('hex');
}

/** A manifest's CRC32C as a number; null when it is not 8 hex digits. */
export function parseCrc32cHex(hex: string): number | null {
  if (!/^[0-9a-f]{8}$/i.test(hex)) return null;
  return Buffer.from(hex, 'hex').readUInt32LE(0);
}

/** The hasher of a manifest algorithm name; null for `NONE` or a name PostgreSQL does not write. */
export function manifestHasher(algorithm: string): ManifestHasher | null {
  const sha = SHA_ALGORITHMS[algorithm.toUpperCase()];
  if (sha) {
    const hash = createHash(sha);
    return { update: (chunk) => void hash.update(chunk), digest: () => hash.digest('hex') };
  }
  if (algorithm.toUpperCase() === 'CRC32C') {
    let crc = 0;
    return {
      update: (chunk) => void (crc = crc32c(chunk, crc)),
      digest: () => crc32cHex(crc),
    };
  }
  return null;
}

/**
 * Whether the manifest's own `Manifest-Checksum` (SHA-256 of every byte before its line) is right.
 * Null when the text has no such line.
 */
export function manifestChecksumMatches(text: string): boolean | null {
  const match = /"Manifest-Checksum"\s*:\s*"([0-9a-fA-F]+)"\s*}\s*$/.exec(text);
  if (!match) return null;
  const lineStart = text.lastIndexOf('\n', match.index) + 1;
  const actual = createHash('sha256').update(text.slice(0, lineStart), 'utf8').digest('hex');
  return actual === match[1]!.toLowerCase();
}
