/**
 * The local spool of `cloud-wal-archive --async`: the server's incoming_wals_directory. A WAL
 * file is acknowledged once its copy is durable here (copied to a dot-temp name, fsynced,
 * linked under its own name, directory fsynced); the upload worker removes it only after S3 has
 * stored a verified copy. No AWS SDK here: enqueueing must stay cheap. With `encryption = gpg`
 * the spooled copy is sealed (sealed-wal.ts): compressed and encrypted before it is written.
 */
import { constants as fsConstants, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { basename, join } from 'node:path';
import { BarmanError } from '../errors/index.js';
import { fsyncDirectory, makeFilePrivateAndDurable, tempPathFor } from '../storage/durable-files.js';
import { compareWalNames, parseWalName } from './names.js';
import type { PassphraseSource } from '../transfer/passphrase.js';
import type { SealSettings } from './sealed-wal.js';
import { parseSpooledName, sealedName, sealWalStream } from './sealed-wal.js';

/** The lock task of the spool's upload worker (one worker per server uploads the spool). */
export const CLOUD_UPLOAD_LOCK_TASK = 'cloud-wal-upload';

export type EnqueueOutcome = 'queued' | 'already-queued';

/** How `--async` seals a file before it is spooled (`encryption = gpg`), and reads one back. */
export interface SpoolSealing extends SealSettings {
  passphrase: PassphraseSource | null;
}

/**
 * Queues `file`; with `sealing`, in its sealed form (compressed, then encrypted: no plaintext
 * WAL at rest in the spool), named as its object will be.
 */
export async function enqueueWal(
  spoolDirectory: string,
  file: string,
  sealing: SpoolSealing | null = null,
): Promise<EnqueueOutcome> {
  const name = basename(file);
  const wal = parseWalName(name);
  if (!wal || wal.name !== name) {
    throw new BarmanError('bad-wal-name', `'${name}' is not a valid WAL file name`);
  }
  await mkdir(spoolDirectory, { recursive: true });
  const target = join(spoolDirectory, sealing ? sealedName(name, sealing.compression) : name);
  const temp = tempPathFor(target);
  try {
    if (sealing) {
      // Streamed from gpg into the new file: no whole segment in memory.
      await pipeline(
        await sealWalStream(file, sealing),
        createWriteStream(temp, { flags: 'wx', mode: 0o600 }),
      );
    } else {
      // copy_file_range: the bytes stay in the kernel, nothing to checksum in between.
      await copyFile(file, temp, fsConstants.COPYFILE_EXCL);
    }
    await makeFilePrivateAndDurable(temp);
    try {
      // link, not rename: it never replaces a file already queued under this name.
      await link(temp, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (sealing ? await sameAsSealed(target, file, sealing) : await sameBytes(target, file))
        return 'already-queued';
      throw new BarmanError(
        'wal-duplicate-differs',
        `${name} is already queued in ${spoolDirectory} with a different content`,
        { hint: 'PostgreSQL will retry; check whether two clusters archive into this server' },
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new BarmanError('spool-no-space', `no space left in ${spoolDirectory} to queue ${name}`);
    }
    throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
  await fsyncDirectory(spoolDirectory);
  return 'queued';
}

/** Whether the sealed `spooled` holds `file`'s bytes (decrypted: gpg's output differs each run). */
async function sameAsSealed(spooled: string, file: string, sealing: SpoolSealing): Promise<boolean> {
  const { localWalFile, openDecompressed } = await import('./compare.js');
  const stream = await openDecompressed(localWalFile(spooled), null, undefined, sealing.passphrase);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).equals(await readFile(file));
}

/**
 * Files waiting in the spool (plain `<name>`, or sealed `<name><ext>.gpg`), oldest WAL first
 * (temp files and strangers skipped).
 */
export async function spooledWals(spoolDirectory: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(spoolDirectory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const walNames = new Map<string, string>();
  for (const file of names) {
    const parsed = parseSpooledName(file);
    if (parsed) walNames.set(file, parsed.name);
  }
  return [...walNames.keys()].sort((a, b) => compareWalNames(walNames.get(a)!, walNames.get(b)!));
}

/** Byte comparison of two uncompressed files (not compare.ts: that one loads every codec). */
async function sameBytes(a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const [leftStat, rightStat] = await Promise.all([left.stat(), right.stat()]);
    if (leftStat.size !== rightStat.size) return false;
    const size = 1 << 20;
    const [leftBuffer, rightBuffer] = [Buffer.alloc(size), Buffer.alloc(size)];
    for (let position = 0; position < leftStat.size; position += size) {
      const [l, r] = await Promise.all([
        left.read(leftBuffer, 0, size, position),
        right.read(rightBuffer, 0, size, position),
      ]);
      if (l.bytesRead !== r.bytesRead) return false;
      if (!leftBuffer.subarray(0, l.bytesRead).equals(rightBuffer.subarray(0, r.bytesRead))) return false;
    }
    return true;
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}
