/**
 * Extracts pg_basebackup tar archives (base.tar[.gz|.lz4|.zst], <oid>.tar…) into a directory,
 * streaming: decompression and writing overlap, memory stays bounded whatever the size.
 * Entries that would escape the target (absolute paths, `..`) are refused.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, open, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { Readable } from 'node:stream';
import type { ManifestEntry } from '../catalog/backup-manifest.js';
import { BarmanError, describeError } from '../errors/index.js';
import { isSystemError } from '../errors/system.js';
import type { CompressionName } from '../transfer/compression/index.js';
import { CompressionError, createDecompressStream } from '../transfer/compression/index.js';
import { readTar } from '../transfer/tar-reader.js';
import { writeAll } from '../storage/durable-files.js';
import { privateMode } from '../util/private-files.js';

export interface ExtractOptions {
  /** Member path (no leading './') -> skip it, make it an empty directory, or extract it. */
  decide?: (path: string) => 'skip' | 'empty' | 'copy';
  /**
   * What the backup's manifest says of a file (path relative to the archive's root): its size and,
   * when the manifest has one, its SHA-256, checked as the bytes are written. Undefined: unlisted.
   */
  expected?: (path: string) => ManifestEntry | undefined;
  onFile?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * Into a staging directory (barman_home by default): group and other permissions are dropped
   * from the members' modes, as in the catalogue. A destination keeps the archive's modes.
   */
  privateModes?: boolean;
}

export interface ExtractStats {
  files: number;
  bytes: number;
}

/** Extracts a tar stream (read from anywhere: a file, an S3 object); `archive` names it in errors. */
export async function extractTarStream(
  raw: Readable,
  archive: string,
  compression: CompressionName | null,
  target: string,
  options: ExtractOptions = {},
): Promise<ExtractStats> {
  await mkdir(target, { recursive: true, mode: 0o700 });
  // Piped only now, with the reader about to listen: a decoder failing while nothing listens
  // would be an unhandled 'error' event.
  const stream: Readable = compression ? raw.pipe(createDecompressStream(compression)) : raw;
  raw.on('error', (error) => stream.destroy(error));
  const stats: ExtractStats = { files: 0, bytes: 0 };
  const directories: Array<{ path: string; mode: number; mtime: number }> = [];
  const links: string[] = [];
  const modeOf = (mode: number) => (options.privateModes ? privateMode(mode) : mode);
  try {
    await readTar(stream, async (member, body) => {
      options.signal?.throwIfAborted();
      const relative = member.name.replace(/^\.\//, '').replace(/\/+$/, '');
      if (relative === '' || relative === '.') return;
      const normalized = normalize(relative);
      if (normalized.startsWith('/') || normalized === '..' || normalized.startsWith('../')) {
        throw new BarmanError(
          'tar-unsafe-path',
          `refusing tar member '${member.name}' in ${archive}: it leaves the target directory`,
        );
      }
      // Nothing is ever written through a link this archive created (it could point anywhere).
      if (links.some((link) => normalized.startsWith(`${link}/`))) {
        throw new BarmanError(
          'tar-unsafe-path',
          `refusing tar member '${member.name}' in ${archive}: it is below a symbolic link of the archive`,
        );
      }
      const decision = options.decide?.(normalized) ?? 'copy';
      if (decision === 'skip') return;
      const path = join(target, normalized);
      if (decision === 'empty') {
        await mkdir(path, { recursive: true, mode: 0o700 });
        return;
      }
      switch (member.type) {
        case '5':
          await mkdir(path, { recursive: true, mode: 0o700 });
          directories.push({ path, mode: modeOf(member.mode || 0o700), mtime: member.mtime });
          return;
        case '2':
          await mkdir(dirname(path), { recursive: true, mode: 0o700 });
          await unlink(path).catch(() => undefined);
          await symlink(member.linkname, path);
          links.push(normalized);
          return;
        case '0':
        case '7': {
          await mkdir(dirname(path), { recursive: true, mode: 0o700 });
          const expected = options.expected?.(normalized);
          const hash = expected?.sha256 ? createHash('sha256') : null;
          const handle = await open(path, 'w', modeOf(member.mode || 0o600));
          try {
            await body((chunk) => {
              hash?.update(chunk);
              return writeAll(handle, chunk);
            });
          } finally {
            await handle.close();
          }
          if (expected) {
            const digest = hash?.digest('hex') ?? null;
            if (expected.size !== member.size || (digest !== null && digest !== expected.sha256)) {
              throw new BarmanError(
                'backup-corrupt',
                `'${normalized}' in ${archive} does not match the backup manifest ` +
                  (expected.size !== member.size
                    ? `(${member.size} bytes, the manifest says ${expected.size})`
                    : `(SHA-256 ${digest}, the manifest says ${expected.sha256})`),
                { hint: 'the backup is damaged in storage: recover another backup' },
              );
            }
          }
          await chmod(path, modeOf(member.mode || 0o600));
          await utimes(path, member.mtime, member.mtime);
          stats.files += 1;
          stats.bytes += member.size;
          options.onFile?.(member.size);
          return;
        }
        default:
          // Hard links, devices and the like never appear in pg_basebackup archives.
          throw new BarmanError(
            'tar-unsupported-member',
            `unsupported tar member type '${member.type}' for '${member.name}' in ${archive}`,
          );
      }
    });
  } catch (error) {
    throw damagedArchive(error, archive, compression);
  } finally {
    raw.destroy();
    stream.destroy();
  }
  for (const directory of directories.reverse()) {
    await chmod(directory.path, directory.mode);
    await utimes(directory.path, directory.mtime, directory.mtime);
  }
  return stats;
}

/**
 * A decompression or tar format failure names the archive: "unexpected end of file" alone does
 * not say which of a backup's archives is damaged. File and refusal errors pass as they are.
 */
function damagedArchive(error: unknown, archive: string, compression: CompressionName | null): unknown {
  if (error instanceof BarmanError && !(error instanceof CompressionError)) return error;
  if (isSystemError(error) || (error as Error | null)?.name === 'AbortError') return error;
  return new BarmanError(
    'backup-archive-damaged',
    `cannot extract ${archive}${compression ? ` (${compression})` : ''}: ${describeError(error)}`,
    { hint: 'the backup archive is damaged (truncated or corrupt): recover another backup', cause: error },
  );
}
