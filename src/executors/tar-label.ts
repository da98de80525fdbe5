/**
 * Reading one member (backup_label) out of a pg_basebackup tar archive, possibly compressed
 * (base.tar.gz, .lz4, .zst), streaming: the archive is never extracted to disk.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CompressionName } from '../transfer/compression/index.js';
import { createDecompressStream } from '../transfer/compression/index.js';
import { readTar } from '../transfer/tar-reader.js';
import { archiveCompression } from '../transfer/tar-archives.js';

/** The base archive pg_basebackup wrote in `directory` (base.tar[.gz|.lz4|.zst]). */
export async function findBaseArchive(
  directory: string,
): Promise<{ path: string; compression: CompressionName | null } | null> {
  for (const name of await readdir(directory)) {
    const archive = archiveCompression(name);
    if (archive?.base === 'base') return { path: join(directory, name), compression: archive.compression };
  }
  return null;
}

const STOP = new Error('member found');

/** The text of `member` in the archive, or null when it is not there. */
export async function readTarMember(
  archive: string,
  compression: CompressionName | null,
  member: string,
): Promise<string | null> {
  const raw = createReadStream(archive);
  const stream: Readable = compression ? raw.pipe(createDecompressStream(compression)) : raw;
  let found: string | null = null;
  try {
    await readTar(stream, async (entry, body) => {
      if (found !== null || entry.name.replace(/^\.\//, '') !== member) return;
      const chunks: Buffer[] = [];
      await body((chunk) => {
        chunks.push(chunk);
        return Promise.resolve();
      });
      found = Buffer.concat(chunks).toString('utf8');
      // pg_basebackup writes backup_label first: stop instead of decompressing the whole archive.
      throw STOP;
    });
  } catch (error) {
    if (error !== STOP) throw error;
  } finally {
    raw.destroy();
    stream.destroy();
  }
  return found;
}
