/**
 * A WAL file sealed for `encryption = gpg`: compressed as configured, then encrypted to the
 * server's key, the plaintext never reaching a file. cloud-wal-archive uploads it as it streams;
 * `--async` spools it in this form and put-wal writes it so into incoming/ (named as its object,
 * `<name><ext>.gpg`: the name tells archive-wal its compression without the private key), so
 * neither queue holds plaintext WAL.
 */
import { createReadStream } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import { basename } from 'node:path';
import type { CompressionLevel } from '../transfer/compression/index.js';
import { encryptStream } from '../transfer/gpg.js';
import type { CloudCompression } from './cloud-layout.js';
import {
  CLOUD_WAL_EXTENSIONS,
  cloudWalPath,
  ENCRYPTED_OBJECT_SUFFIX,
  parseWalObjectName,
} from './cloud-layout.js';
import { parseWalName } from './names.js';
import type { ServerConfig } from '../config/index.js';
import { canonicalCompression } from '../transfer/compression/types.js';

export interface SealSettings {
  compression: CloudCompression | null;
  level: CompressionLevel;
  /** The recipient (`encryption_key_id`). */
  keyId: string;
}

/**
 * `file` (a plain WAL file) compressed then encrypted to `settings.keyId`, streamed: compressed
 * as it is read and as gpg reads it (zlib on libuv's threads while gpg encrypts; archive-wal's
 * way, archive-store.ts), the ciphertext read from `stdout` as gpg writes it, so no whole
 * segment is held in memory. `stdout` fails instead of ending when gpg fails, so a consumer
 * never takes a truncated or empty output for a sealed file.
 */
export async function sealWalStream(file: string, settings: SealSettings): Promise<Readable> {
  let plain: Readable = createReadStream(file, { highWaterMark: 1 << 20 });
  if (settings.compression) {
    const { createCompressStream } = await import('../transfer/compression/streams.js');
    // A read or compression failure destroys the last stream with it: gpg's run then fails.
    plain = pipeline(plain, createCompressStream(settings.compression, { level: settings.level }), () => {});
  }
  const encryption = encryptStream(settings.keyId, plain);
  // Settled by the generator below, or ignored when the consumer stops early (the stream is destroyed).
  encryption.done.catch(() => {});
  async function* sealed(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of encryption.stdout) yield chunk as Buffer;
      await encryption.done;
    } finally {
      // A consumer that stopped early (a failed upload) ends gpg: it gets EPIPE and exits.
      encryption.stdout.destroy();
      plain.destroy();
    }
  }
  return Readable.from(sealed(), { objectMode: false });
}

/** `content` (a WAL file's bytes, received by put-wal) compressed then encrypted to `settings.keyId`. */
export async function sealWalContent(content: Buffer, settings: SealSettings): Promise<Buffer> {
  let plain = content;
  if (settings.compression) {
    const { compressBuffer } = await import('../transfer/compression/index.js');
    plain = await compressBuffer(settings.compression, content, { level: settings.level });
  }
  return encryptToBuffer(settings.keyId, plain);
}

async function encryptToBuffer(keyId: string, plain: Buffer): Promise<Buffer> {
  const encryption = encryptStream(keyId, plain);
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const chunk of encryption.stdout) chunks.push(chunk as Buffer);
  })();
  await Promise.all([reading, encryption.done]);
  return Buffer.concat(chunks);
}

/**
 * How put-wal seals a server's WAL files (`encryption = gpg` on a directory archive), or null
 * when it does not encrypt. `compression = custom` cannot be named by an extension: such files
 * are sealed uncompressed (archive-wal stores them as they are).
 */
export function putWalSealing(config: ServerConfig): SealSettings | null {
  if (config.encryption !== 'gpg' || !config.encryption_key_id) return null;
  const name = config.compression;
  const format = name === null || name === 'none' ? null : canonicalCompression(name);
  return {
    compression: format === null || format === 'custom' ? null : format,
    level: config.compression_level,
    keyId: config.encryption_key_id,
  };
}

/** Every compression a sealed file's name can tell (the codecs with an extension). */
export const SEALED_COMPRESSIONS = Object.keys(CLOUD_WAL_EXTENSIONS) as CloudCompression[];

/** The file name of a sealed WAL file: its object's (`<name><ext>.gpg`). */
export function sealedName(walName: string, compression: CloudCompression | null): string {
  return basename(cloudWalPath(walName, compression, true));
}

/**
 * What a spooled file name holds: a plain WAL file (its own name), a sealed one
 * (`<name><ext>.gpg`, with its compression), or null for a stranger.
 */
export function parseSpooledName(
  file: string,
):
  | { name: string; sealed: false }
  | { name: string; sealed: true; compression: CloudCompression | null }
  | null {
  if (!file.endsWith(ENCRYPTED_OBJECT_SUFFIX))
    return parseWalName(file)?.name === file ? { name: file, sealed: false } : null;
  const parsed = parseWalObjectName(file);
  return parsed?.encrypted ? { name: parsed.name, sealed: true, compression: parsed.compression } : null;
}
