/**
 * Reading one member (backup_label) out of a pg_basebackup tar archive, possibly compressed
 * (base.tar.gz, .lz4, .zst), streaming: the archive is never extracted to disk; and what a
 * backup_label says.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';
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

export interface BackupLabel {
  text: string;
  lsn: string;
  file: string;
  timeline: number;
}

/** START WAL LOCATION / START TIMELINE of a backup_label (`where`, for the error, names it). */
export function parseBackupLabel(text: string, where: string): BackupLabel {
  const location = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/m.exec(text);
  const timeline = /^START TIMELINE: (\d+)$/m.exec(text);
  if (!location) throw new BarmanError('backup-label-invalid', `no START WAL LOCATION in ${where}`);
  return {
    text,
    lsn: location[1]!,
    file: location[2]!,
    timeline: timeline ? Number(timeline[1]) : Number.parseInt(location[2]!.slice(0, 8), 16),
  };
}
