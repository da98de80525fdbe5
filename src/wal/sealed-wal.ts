/**
 * A WAL file sealed for `encryption = gpg`: compressed as configured, then encrypted to the
 * server's key, in memory — the plaintext never reaches a file. cloud-wal-archive uploads it;
 * `--async` spools it in this form and put-wal writes it so into incoming/ (named as its object,
 * `<name><ext>.gpg`: the name tells archive-wal its compression without the private key), so
 * neither queue holds plaintext WAL.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { CompressionLevel, CompressionPool } from '../transfer/compression/index.js';
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

/** `file` (a plain WAL file) compressed then encrypted to `settings.keyId`. */
export async function sealWal(file: string, settings: SealSettings, pool?: CompressionPool): Promise<Buffer> {
  let plain: Buffer;
  if (!settings.compression) plain = await readFile(file);
  else if (pool)
    plain = (await pool.compressFileToBuffer(settings.compression, file, { level: settings.level })).data;
  else return sealWalContent(await readFile(file), settings);
  return encryptToBuffer(settings.keyId, plain);
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
