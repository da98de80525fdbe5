/**
 * A tar archive PostgreSQL streams (BASE_BACKUP's base.tar or <oid>.tar) written out as a plain
 * directory through Storage, as pg_basebackup -Fp writes it: directories, regular files (with
 * the archive's mtimes, private modes) and, in pg_tblspc, a link per tablespace to where the
 * backup keeps it. Files are written durably (Storage.writeFile; each directory synced once at
 * the end, as pg_basebackup does, instead of after each of its files); while one is synced the next
 * ones arrive, with at most PENDING_WRITES files in flight, so memory stays bounded (small files
 * are held whole, at most SMALL_FILE bytes each; larger ones stream from the socket).
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { Storage } from '../storage/index.js';
import { readTar } from '../transfer/tar-reader.js';

const PENDING_WRITES = 16;
const SMALL_FILE = 1 << 20;

export interface ExtractOptions {
  /** Where the archive's members go in `storage` (`<id>/data`, `<id>/<oid>`). */
  root: string;
  /** The target of pg_tblspc/<oid> in a plain backup; null to leave the link out. */
  tablespaceLink(oid: number): string | null;
  /**
   * Also sees each regular file's bytes as they arrive, by its path in the data directory
   * (`pathPrefix` + member name): the data page checksums, checked during the copy instead of in
   * a second read of it.
   */
  observe?: (file: { path: string }) => ((chunk: Buffer) => void) | null;
  /** Prefixed to member names for `observe`: '' for base.tar, `pg_tblspc/<oid>/` for a tablespace. */
  pathPrefix?: string;
}

export interface ExtractedArchive {
  files: number;
  bytes: number;
  /** The backup_label member's text (base.tar has it), else null. */
  label: string | null;
}

/** Writes `body` (a tar stream) under `options.root`; resolves once every file is durable. */
export async function extractArchive(
  body: Readable,
  storage: Storage,
  options: ExtractOptions,
): Promise<ExtractedArchive> {
  const pending = new Set<Promise<void>>();
  let failure: Error | null = null;
  const track = (write: Promise<void>) => {
    const settled: Promise<void> = write.then(
      () => {
        pending.delete(settled);
      },
      (error: unknown) => {
        pending.delete(settled);
        failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    pending.add(settled);
  };
  const result: ExtractedArchive = { files: 0, bytes: 0, label: null };
  /** Where files were written or directories made: synced once at the end. */
  const directories = new Set<string>();
  try {
    await readTar(body, async (member, read) => {
      if (failure) throw failure;
      while (pending.size >= PENDING_WRITES) await Promise.race(pending);
      const name = member.name.replace(/^\.\//, '').replace(/\/+$/, '');
      if (name === '' || name.split('/').some((part) => part === '..' || part === '.'))
        throw new Error(`unexpected tar member '${member.name}' in the backup stream`);
      const path = `${options.root}/${name}`;
      switch (member.type) {
        case '5':
          await storage.mkdir(path);
          directories.add(parentOf(path));
          return;
        case '2': {
          const oid = /^pg_tblspc\/(\d+)$/.exec(name)?.[1];
          if (!oid) throw new Error(`unexpected symbolic link '${name}' in the backup stream`);
          const target = options.tablespaceLink(Number(oid));
          if (target !== null && storage.symlink) await storage.symlink(target, path);
          return;
        }
        case '0':
          break;
        default:
          throw new Error(`unexpected tar member '${name}' of type '${member.type}' in the backup stream`);
      }
      // Each directory is synced once, once every file is written (below), not after each file.
      const write = { mode: 0o600, mtimeMs: member.mtime * 1000, deferDirectorySync: true };
      directories.add(parentOf(path));
      result.files += 1;
      result.bytes += member.size;
      const observer = options.observe?.({ path: `${options.pathPrefix ?? ''}${name}` }) ?? null;
      if (member.size <= SMALL_FILE) {
        const chunks: Buffer[] = [];
        await read((chunk) => {
          observer?.(chunk);
          chunks.push(chunk);
          return Promise.resolve();
        });
        const data = Buffer.concat(chunks);
        if (name === 'backup_label') result.label = data.toString('utf8');
        track(storage.writeFile(path, data, write));
        return;
      }
      const stream = new PassThrough({ highWaterMark: SMALL_FILE });
      const stored = storage.writeFile(path, stream, write);
      // A write that fails stops reading it: surface its error instead of waiting for 'drain'.
      const failed = stored.then(
        () => new Promise<never>(() => undefined),
        (error: unknown) => {
          throw error;
        },
      );
      failed.catch(() => undefined);
      await read(async (chunk) => {
        observer?.(chunk);
        if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), failed]);
      });
      stream.end();
      track(stored);
    });
  } catch (error) {
    await Promise.allSettled(pending);
    throw error;
  }
  await Promise.allSettled(pending);
  // Set by the writes' callbacks, which the compiler's narrowing does not see.
  const writeFailure = failure as Error | null;
  if (writeFailure) throw writeFailure;
  for (const directory of directories) await storage.syncDir?.(directory);
  return result;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
