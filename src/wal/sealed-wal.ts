/**
 * A WAL file as an encrypted object store keeps it (`encryption = gpg` with an s3://
 * wals_directory): compressed as configured, then encrypted to the server's key, in memory —
 * the plaintext never reaches a file. cloud-wal-archive uploads it; `--async` spools it in this
 * form (named as its object, `<name><ext>.gpg`), so the spool holds no plaintext WAL either.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { CompressionLevel, CompressionPool } from '../transfer/compression/index.js';
import { encryptStream } from '../transfer/gpg.js';
import type { CloudCompression } from './cloud-layout.js';
import { cloudWalPath, ENCRYPTED_OBJECT_SUFFIX, parseWalObjectName } from './cloud-layout.js';
import { parseWalName } from './names.js';

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
  else {
    const { compressBuffer } = await import('../transfer/compression/index.js');
    plain = await compressBuffer(settings.compression, await readFile(file), { level: settings.level });
  }
  const encryption = encryptStream(settings.keyId, plain);
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const chunk of encryption.stdout) chunks.push(chunk as Buffer);
  })();
  await Promise.all([reading, encryption.done]);
  return Buffer.concat(chunks);
}

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
