/**
 * The files of a stored backup as PostgreSQL's backup manifest names them (relative to the data
 * directory, tablespaces under `pg_tblspc/<oid>/`), whatever holds them: a plain copy
 * (`<id>/data/` and `<id>/<oid>/` in Barman's layout) or tar archives (pg_basebackup's
 * `base.tar*` and barman-cloud's `data.tar*`, each tablespace's `<oid>.tar*`, parted or not,
 * compressed or not). verify-backup and generate-manifest read backups through this, through the
 * backup's Storage, so both work the same on a directory and on an s3:// catalogue.
 */
import type { Readable } from 'node:stream';
import type { Storage } from '../storage/index.js';
import type { CompressionName } from '../transfer/compression/index.js';
import { createDecompressStream } from '../transfer/compression/index.js';
import { archiveCompression } from '../transfer/tar-archives.js';
import { readTar } from '../transfer/tar-reader.js';
import { runWorkers } from '../util/workers.js';

/** Where a layout keeps a backup's files (recovery/layout.ts's BackupLayout satisfies it). */
export interface BackupFilesLayout {
  archiveDirectory(backupId: string): string;
  plainDirectory(backupId: string, part: string): string | null;
  pgdataArchive: string;
}

export interface ContentFile {
  /** As the manifest names it. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Where it is stored, for messages: a path, an s3:// URL, or `member of archive`. */
  place: string;
  /**
   * Plain copies: the file's path in the storage, so a reader on another thread (verify-backup's
   * checksum workers) can open it through a Storage of its own. Absent for archive members.
   */
  stored?: string;
}

/** Reads a file once, handing each chunk to `onChunk` in order. */
export type ContentReader = (onChunk: (chunk: Buffer) => void) => Promise<void>;

export interface BackupContent {
  /** Plain copy or archives. */
  readonly kind: 'plain' | 'tar';
  /** Where backup_manifest is (or goes), relative to the storage root. */
  readonly manifestPath: string;
  /** Plain copies: every file, known before reading (sizes for progress). Null for archives. */
  listing(): Promise<ContentFile[] | null>;
  /**
   * Visits every file and lets `visit` read it (at most once). Plain files are visited up to
   * `concurrency` at a time, biggest first; an archive's members one after another, archives in parallel.
   */
  forEach(
    concurrency: number,
    visit: (file: ContentFile, read: ContentReader) => Promise<void>,
  ): Promise<void>;
}

/** Tar archives of a backup: a PGDATA archive and tablespace archives; pg_wal.tar holds no backup file. */
interface Archive {
  name: string;
  base: string;
  compression: CompressionName | null;
}

/**
 * The content of backup `backupId` in `storage`: tar archives where the archive directory holds
 * any, else the plain copy of PGDATA and of each tablespace oid in `tablespaceOids`.
 */
export async function backupContent(
  storage: Storage,
  layout: BackupFilesLayout,
  backupId: string,
  tablespaceOids: readonly number[],
): Promise<BackupContent> {
  const archiveDirectory = layout.archiveDirectory(backupId);
  const manifestPath = `${archiveDirectory}/backup_manifest`;
  const archives: Archive[] = (await storage.list(archiveDirectory)).flatMap((entry) => {
    if (entry.kind !== 'file') return [];
    const parsed = archiveCompression(entry.name);
    return parsed && parsed.base !== 'pg_wal' ? [{ name: entry.name, ...parsed }] : [];
  });
  const dataDirectory = layout.plainDirectory(backupId, 'data');
  if (archives.length > 0 || dataDirectory === null)
    return tarContent(storage, archiveDirectory, layout.pgdataArchive, archives, manifestPath);
  const parts = [
    { directory: dataDirectory, prefix: '' },
    ...tablespaceOids.map((oid) => ({
      directory: layout.plainDirectory(backupId, String(oid))!,
      prefix: `pg_tblspc/${oid}/`,
    })),
  ];
  return plainContent(storage, parts, manifestPath);
}

function plainContent(
  storage: Storage,
  parts: ReadonlyArray<{ directory: string; prefix: string }>,
  manifestPath: string,
): BackupContent {
  let listed: Array<ContentFile & { stored: string }> | null = null;
  const listing = async () => {
    if (listed) return listed;
    const files: Array<ContentFile & { stored: string }> = [];
    for (const part of parts) {
      for (const object of await storage.listTree(part.directory)) {
        if (object.path === manifestPath) continue;
        files.push({
          path: part.prefix + object.path.slice(part.directory.length + 1),
          size: object.size,
          mtimeMs: object.mtimeMs,
          place: `${storage.location}/${object.path}`,
          stored: object.path,
        });
      }
    }
    listed = files;
    return files;
  };
  return {
    kind: 'plain',
    manifestPath,
    listing,
    async forEach(concurrency, visit) {
      // Biggest first: parallel readers then finish together instead of one reading a 1 GiB
      // segment alone at the end (verify-backup's checksum threads cannot split a file).
      const biggestFirst = [...(await listing())].sort((a, b) => b.size - a.size);
      await runWorkers(concurrency, biggestFirst, (file) =>
        visit(file, (onChunk) => storage.readChunks(file.stored, onChunk)),
      );
    },
  };
}

function tarContent(
  storage: Storage,
  directory: string,
  pgdataArchive: string,
  archives: readonly Archive[],
  manifestPath: string,
): BackupContent {
  return {
    kind: 'tar',
    manifestPath,
    listing: () => Promise.resolve(null),
    async forEach(concurrency, visit) {
      await runWorkers(concurrency, archives, async (archive) => {
        const place = `${storage.location}/${directory}/${archive.name}`;
        const prefix = archive.base === pgdataArchive ? '' : `pg_tblspc/${archive.base}/`;
        const raw = await storage.openRead(`${directory}/${archive.name}`);
        // Piped only now that the reader listens: a decoder error is never an unhandled event.
        const stream: Readable = archive.compression
          ? raw.pipe(createDecompressStream(archive.compression))
          : raw;
        raw.on('error', (error) => stream.destroy(error));
        await readTar(stream, async (member, body) => {
          if (member.type !== '0' && member.type !== '7') return; // directories, links
          const path = prefix + member.name.replace(/^\.\//, '');
          if (path === 'backup_manifest') return;
          const file = {
            path,
            size: member.size,
            mtimeMs: member.mtime * 1000,
            place: `${path} in ${place}`,
          };
          // A member `visit` does not read is skipped by readTar.
          await visit(file, (onChunk) =>
            body((chunk) => {
              onChunk(chunk);
              return Promise.resolve();
            }),
          );
        });
      });
    },
  };
}
