/**
 * The copy of `backup_method = local-to-cloud`: PGDATA and each tablespace streamed as tar
 * archives in barman-cloud-backup's layout (`data.tar[.ext]`, `data_0001.tar[.ext]`…,
 * `<oid>.tar[.ext]`) to an uploader, with bounded memory (backpressure from the upload down to
 * the file reads). An archive is split into a new part when its tar bytes (before compression,
 * so never less than what is stored) would pass `maxSize`.
 *
 * Members (transfer/tar-writer.ts): ustar headers, a PAX 'x' header for names over 100 bytes
 * (or sizes over 8 GiB), directories as type '5' entries (so empty directories exist after extraction). A file's size
 * is taken when it is opened and exactly that many bytes are written: zeros when it shrank
 * during the copy, the first bytes only when it grew (WAL replay repairs both, as for
 * pg_basebackup). Files that vanish before they are opened are skipped.
 */
import { createHash } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { CompressionName } from '../transfer/compression/index.js';
import { createCompressStream } from '../transfer/compression/index.js';
import type { ManifestFile } from '../catalog/backup-manifest.js';
import type { ServerFacts } from './concurrent.js';
import { pgdataFilter } from './pgdata.js';
import { encryptStream, GPG_ENCRYPTION } from '../transfer/gpg.js';
import type { TarMemberInfo } from '../transfer/tar-writer.js';
import { TAR_BLOCK as BLOCK, tarMemberHeader, tarPaddingLength as padding } from '../transfer/tar-writer.js';

const CHUNK = 1 << 20;

/** Uploads `body` as the object `name` of the backup; resolves with the stored size. */
export type ArchiveUploader = (name: string, body: Readable) => Promise<number>;

export interface ArchiveOptions {
  compression: CompressionName | null;
  /** '' or '.gz', '.lz4', '.zst'… */
  extension: string;
  maxSize: number;
  upload: ArchiveUploader;
  signal?: AbortSignal;
  /** Collects every file written (path in the data directory, size, SHA-256) for backup_manifest. */
  manifest?: ManifestFile[];
  /**
   * `encryption = gpg`: each part, once compressed, streams through gpg to this recipient and is
   * stored as `<part>.gpg` (Barman's name of an encrypted archive): no plaintext leaves the process.
   */
  encryptTo?: string | null;
  /** Also sees each file's bytes, by its path in the data directory (data page checksums). */
  observe?: (file: { path: string }) => ((chunk: Buffer) => void) | null;
}

export interface UploadedArchive {
  name: string;
  /** Bytes stored (compressed). */
  size: number;
  /** Bytes of the files in it. */
  dataBytes: number;
}

/** Header info of a member from its stat. */
function memberInfo(info: { mode: number; mtimeMs: number; uid: number; gid: number }): TarMemberInfo {
  return { mode: info.mode, mtimeSeconds: info.mtimeMs / 1000, uid: info.uid, gid: info.gid };
}

interface Part {
  name: string;
  input: PassThrough;
  bytes: number;
  dataBytes: number;
  done: Promise<number>;
  failed: Promise<never>;
}

/** One archive (`data`, `<oid>`) written as one or more parts. */
export class TarPartWriter {
  private part: Part | null = null;
  private index = 0;
  readonly uploaded: UploadedArchive[] = [];

  constructor(
    private readonly base: string,
    private readonly options: ArchiveOptions,
  ) {}

  private partName(): string {
    const suffix = this.index === 0 ? '' : `_${String(this.index).padStart(4, '0')}`;
    const sealed = this.options.encryptTo ? `.${GPG_ENCRYPTION}` : '';
    return `${this.base}${suffix}.tar${this.options.extension}${sealed}`;
  }

  private open(): Part {
    const input = new PassThrough({ highWaterMark: CHUNK });
    let body: Readable = input;
    if (this.options.compression) {
      const compress = createCompressStream(this.options.compression);
      input.on('error', (error) => compress.destroy(error));
      body = input.pipe(compress);
    }
    const name = this.partName();
    this.index += 1;
    let done: Promise<number>;
    if (this.options.encryptTo) {
      // Compressed, then encrypted; stored once gpg has exited 0 and the upload has ended.
      const sealed = encryptStream(this.options.encryptTo, body);
      done = Promise.all([this.options.upload(name, sealed.stdout), sealed.done]).then(([size]) => size);
    } else {
      done = this.options.upload(name, body);
    }
    const failed = done.then(
      () => {
        throw new Error(`the upload of ${name} ended before its archive was complete`);
      },
      (error: unknown) => {
        throw error;
      },
    );
    failed.catch(() => undefined);
    done.catch(() => undefined);
    this.part = { name, input, bytes: 0, dataBytes: 0, done, failed };
    return this.part;
  }

  private async write(part: Part, chunk: Buffer): Promise<void> {
    part.bytes += chunk.length;
    if (part.input.write(chunk)) return;
    try {
      await Promise.race([once(part.input, 'drain'), part.failed]);
    } catch {
      // An upload that gives up destroys its input (an AbortError here): report the upload's
      // reason instead, which `failed` carries once the upload has settled (and aborted).
      await part.failed;
    }
  }

  /** The part to add a member of `bytes` tar bytes to: the current one, or a new one when full. */
  private async partFor(bytes: number): Promise<Part> {
    this.options.signal?.throwIfAborted();
    if (this.part && this.part.bytes > 0 && this.part.bytes + bytes + 2 * BLOCK > this.options.maxSize)
      await this.finish();
    return this.part ?? this.open();
  }

  async addDirectory(name: string, info: TarMemberInfo): Promise<void> {
    const block = tarMemberHeader(`${name}/`, '5', 0, info);
    await this.write(await this.partFor(block.length), block);
  }

  /** A symbolic link (type '2'), as a restored data directory has it. */
  async addSymlink(name: string, target: string, info: TarMemberInfo): Promise<void> {
    const block = tarMemberHeader(name, '2', 0, { ...info, linkname: target });
    await this.write(await this.partFor(block.length), block);
  }

  async addBuffer(name: string, data: Buffer, mode = 0o600): Promise<void> {
    await this.addMember(name, data.length, { mode, mtimeSeconds: Date.now() / 1000 }, (write) =>
      write(data),
    );
  }

  /**
   * Adds a regular file of exactly `size` bytes, which `source` hands to `write` (a file on
   * disk, or a member of an archive PostgreSQL streams); the member and its padding stay in one part.
   */
  async addMember(
    name: string,
    size: number,
    info: TarMemberInfo,
    source: (write: (chunk: Buffer) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const block = tarMemberHeader(name, '0', size, info);
    const part = await this.partFor(block.length + size + padding(size));
    await this.write(part, block);
    // The digest of exactly the bytes the archive holds (zeros included), as recovery restores them.
    const hash = this.options.manifest ? createHash('sha256') : null;
    const observer = this.options.observe?.({ path: this.pathOf(name) }) ?? null;
    let written = 0;
    await source(async (chunk) => {
      this.options.signal?.throwIfAborted();
      written += chunk.length;
      if (written > size) throw new Error(`${name} has more than the ${size} bytes announced`);
      hash?.update(chunk);
      observer?.(chunk);
      await this.write(part, chunk);
    });
    if (written !== size) throw new Error(`${name} has ${written} bytes instead of the ${size} announced`);
    await this.write(part, Buffer.alloc(padding(size)));
    part.dataBytes += size;
    if (hash) this.record(name, size, info.mtimeSeconds * 1000, hash.digest('hex'));
  }

  /** Tablespace members are `pg_tblspc/<oid>/…` in the manifest, as in a restored data directory. */
  private pathOf(name: string): string {
    return this.base === 'data' ? name : `pg_tblspc/${this.base}/${name}`;
  }

  private record(name: string, size: number, mtimeMs: number, sha256: string): void {
    this.options.manifest?.push({
      path: this.pathOf(name),
      size,
      mtimeMs,
      sha256,
    });
  }

  /** Adds the file at `path` as `name`; false when it vanished before it could be opened. */
  async addFile(path: string, name: string): Promise<boolean> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    try {
      const info = await handle.stat();
      await this.addMember(name, info.size, memberInfo(info), async (write) => {
        let remaining = info.size;
        while (remaining > 0) {
          const want = Math.min(remaining, CHUNK);
          const buffer = Buffer.allocUnsafe(want);
          const { bytesRead } = await handle.read(buffer, 0, want, null);
          if (bytesRead === 0) {
            // Shrank (truncated by PostgreSQL) during the copy: zeros, WAL replay fixes it.
            while (remaining > 0) {
              const zeros = Buffer.alloc(Math.min(remaining, CHUNK));
              await write(zeros);
              remaining -= zeros.length;
            }
            break;
          }
          // Grew during the copy: its first bytes only.
          await write(buffer.subarray(0, bytesRead));
          remaining -= bytesRead;
        }
      });
      return true;
    } finally {
      await handle.close();
    }
  }

  /** Ends the current part (if any) and waits until it is stored. */
  async finish(): Promise<void> {
    const part = this.part;
    if (!part) return;
    this.part = null;
    part.input.end(Buffer.alloc(2 * BLOCK));
    const size = await part.done;
    this.uploaded.push({ name: part.name, size, dataBytes: part.dataBytes });
  }

  /** Abandons the current part: its upload fails (and a multipart upload is aborted). */
  async abort(error: Error): Promise<void> {
    const part = this.part;
    if (!part) return;
    this.part = null;
    part.input.destroy(error);
    await part.done.catch(() => undefined);
  }
}

async function entriesOf(directory: string): Promise<Dirent[]> {
  try {
    const entries = await readdir(directory, { withFileTypes: true });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Adds the tree under `root` (PGDATA or a tablespace) to `writer`, with pgdata.ts's exclusions. */
async function addTree(
  writer: TarPartWriter,
  root: string,
  relative: string,
  tablespace: boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const entry of await entriesOf(relative ? join(root, relative) : root)) {
    signal?.throwIfAborted();
    const name = relative ? `${relative}/${entry.name}` : entry.name;
    const path = join(root, name);
    // Tablespace links: each tablespace is its own archive, recover makes the links.
    if (!tablespace && relative === 'pg_tblspc') continue;
    let info: Stats;
    try {
      info = await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const isDirectory = info.isDirectory();
    if (!isDirectory && !info.isFile()) continue;
    const decision = pgdataFilter(name, isDirectory, tablespace);
    if (decision === 'skip') continue;
    if (isDirectory) {
      await writer.addDirectory(name, memberInfo(info));
      if (decision === 'copy') await addTree(writer, root, name, tablespace, signal);
    } else {
      await writer.addFile(path, name);
    }
  }
}

/**
 * Uploads the tablespaces, then PGDATA with global/pg_control in its last part. The returned
 * writer of `data` takes the backup_label part after pg_backup_stop.
 */
export async function uploadCluster(
  facts: ServerFacts,
  options: ArchiveOptions,
): Promise<{ data: TarPartWriter; tablespaces: TarPartWriter[] }> {
  const tablespaces: TarPartWriter[] = [];
  for (const tablespace of facts.tablespaces) {
    const writer = new TarPartWriter(String(tablespace.oid), options);
    tablespaces.push(writer);
    try {
      await addTree(writer, tablespace.location, '', true, options.signal);
      await writer.finish();
    } catch (error) {
      await writer.abort(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }
  const data = new TarPartWriter('data', options);
  try {
    await addTree(data, facts.pgdata, '', false, options.signal);
    if (!(await data.addFile(join(facts.pgdata, 'global', 'pg_control'), 'global/pg_control')))
      throw new Error(`${facts.pgdata}/global/pg_control is missing`);
    await data.finish();
  } catch (error) {
    await data.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  return { data, tablespaces };
}

/** The last part of `data`: backup_label and tablespace_map, as PostgreSQL returned them. */
export async function uploadLabel(
  data: TarPartWriter,
  backupLabel: string,
  tablespaceMap: string | null,
): Promise<void> {
  try {
    await data.addBuffer('backup_label', Buffer.from(backupLabel));
    if (tablespaceMap) await data.addBuffer('tablespace_map', Buffer.from(tablespaceMap));
    await data.finish();
  } catch (error) {
    await data.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}
