/**
 * The Storage interface: how the catalogue and the WAL archive reach their files, so the same
 * code serves a local directory and an S3 bucket. One Storage per location (`storageFor`).
 * Paths are relative to the storage root, '/'-separated. Writes are durable when they return:
 * nothing is acknowledged before it would survive a crash. What a driver cannot do is said by
 * `features`, never discovered by a failure halfway.
 */
import type { Readable } from 'node:stream';
import type { FileCrc32c } from '../util/native-crc32c.js';
import type { ImmutableEntry, ImmutableProbeOptions } from './immutable.js';

export interface StorageEntry {
  name: string;
  kind: 'file' | 'directory' | 'other';
}

export interface StorageStat {
  size: number;
  mtimeMs: number;
  /** The mtime in nanoseconds where the file system keeps it (posix): catalogue lines record it exactly. */
  mtimeNs?: bigint;
  kind: 'file' | 'directory' | 'other';
  /** How many names the file has (hard links): given by drivers with `features.hardLink`. */
  links?: number;
}

/** A file below a path, from `listTree`. */
export interface StorageObject {
  /** Relative to the storage root. */
  path: string;
  size: number;
  mtimeMs: number;
  /** As StorageStat's: how many names the file has, from drivers with `features.hardLink`. */
  links?: number;
}

/** What a driver can do beyond the common operations. */
export interface StorageFeatures {
  /** `rename` is atomic (posix). Object stores copy then delete: `move` works on both. */
  atomicRename: boolean;
  /** `link` makes hard links (reuse_backup = link). */
  hardLink: boolean;
  /** `localPath` names a local file that local programs (rsync, tar, pg_combinebackup) can use. */
  localFiles: boolean;
  /** `appendLines` appends in place (xlog.db); object stores have no append. */
  append: boolean;
  /**
   * `stage` and `commitStaged` exist (posix): a WAL file is staged beside its destination from a
   * local file (hard link, copy, or a compressed copy a caller writes) and many are published
   * together, one directory sync per directory. Object stores upload each file whole instead.
   */
  stagedCommit: boolean;
}

/** A file `stage` prepared beside its destination, published by `commitStaged`. */
export interface StagedFile {
  /** The destination, relative to the storage root. */
  readonly path: string;
  /** The staged file's size and mtime: what the destination has once committed. */
  readonly size: number;
  readonly mtimeNs: bigint;
}

/** Where a staged file's bytes come from: all local files, which `stage` never changes. */
export type StageSource =
  /** A hard link to the local file (same file system), a copy where a link is refused. */
  | { link: string }
  /** A copy of the local file: a file of another user, which barman_user must own. */
  | { copy: string }
  /** The caller writes the staged file at the local path given (a compressed copy). */
  | { write: (localPath: string) => Promise<unknown> };

export interface WriteOptions {
  /** File mode for new files (posix only). */
  mode?: number;
  /** Modification time to set on the written file (posix only). */
  mtimeMs?: number;
  /**
   * Object stores: the smallest part of a multipart upload for this write (a WAL segment goes up
   * in one request up to this size); the driver's own part size when larger. Ignored by posix.
   */
  minPartSize?: number;
  /**
   * Object stores: bounded local staging of a streamed upload. Each part is written to a private
   * file in `directory` and uploaded from it, and the stream waits while one more part would put
   * more than `maxBytes` on disk (see s3/staging.ts). Ignored by posix: its writes already go to
   * local files, in their final place, so staging would only copy every byte twice.
   */
  staging?: CloudStaging | null;
  /**
   * Posix: the file is synced but its directory is not; the caller syncs it (`syncDir`) before
   * relying on the file, once for many files (a backup's copy). Ignored by object stores.
   */
  deferDirectorySync?: boolean;
}

/** Where and how much a streamed upload to an object store may stage locally. */
export interface CloudStaging {
  /** A local directory (created 0700 when missing). */
  directory: string;
  /** The staged bytes of this process in `directory` never exceed this; at least one part. */
  maxBytes: number;
}

export interface Storage {
  /** Where this storage lives, for messages: a directory or an s3:// URL. */
  readonly location: string;
  readonly features: StorageFeatures;
  stat(path: string): Promise<StorageStat | null>;
  /** Entries of a directory (prefix for object stores); [] when it does not exist. */
  list(path: string): Promise<StorageEntry[]>;
  /** Every file below `path`, at any depth, sorted by path; [] when there is none. */
  listTree(path: string): Promise<StorageObject[]>;
  /**
   * The files of the directory of `prefix` whose name starts with its last part (`wals/00/0001`
   * finds `wals/00/0001.gz` and `wals/00/0001.00000028.backup`), sorted by path; [] when none.
   * One request on object stores, where a WAL file's name is only known up to its extension.
   */
  listPrefix(prefix: string): Promise<StorageObject[]>;
  readFile(path: string): Promise<Buffer>;
  /** Reads `length` bytes from the start (magic-number sniffing, WAL headers). */
  readHead(path: string, length: number): Promise<Buffer>;
  openRead(path: string): Promise<Readable>;
  /**
   * Reads the whole file in order, handing each chunk to `onChunk`. A chunk is valid only during
   * the call (the posix driver reads into one reused buffer: no allocation, no garbage per chunk,
   * which is what lets verify-backup read at pg_verifybackup's speed); copy what must outlive it.
   */
  readChunks(path: string, onChunk: (chunk: Buffer) => void): Promise<void>;
  /**
   * The CRC-32C of the whole file (`bytes` read, a copy of its first `headBytes`, at most 64),
   * read and computed off the main thread in one call (posix with barman-ts's crc32c addon: on
   * libuv's thread pool, so several files are checksummed in parallel). Absent, or resolving
   * null (the addon did not build here), where the caller must read it with readChunks instead.
   */
  checksumFile?(
    path: string,
    options: { algorithm: 'CRC32C'; headBytes: number },
  ): Promise<FileCrc32c | null>;
  /** Atomic and durable: readers see the old content or the whole new content, never a part. */
  writeFile(path: string, data: Buffer | string | Readable, options?: WriteOptions): Promise<void>;
  /**
   * Appends text lines and syncs (xlog.db, `features.append`). They start on a fresh line: a
   * last line a crash left without its newline is not glued to the first one. A failed append
   * leaves the file as it was (no torn line for the next append to follow).
   */
  appendLines(path: string, lines: string): Promise<void>;
  /**
   * Removes what writes killed before they finished left in `directory` (posix: the temp files
   * beside their targets), those of the file `name` only when given. The caller excludes every
   * other writer there (holds its lock). Object stores resolve: an object appears whole or not.
   */
  removeInterruptedWrites(directory: string, name?: string): Promise<void>;
  /**
   * `features.stagedCommit`: prepares `path` from a local file, private to barman_user (0600)
   * and synced, under a temp name readers ignore; invisible until `commitStaged`. `mtimeMs`
   * sets the staged file's mtime. A failure leaves nothing behind.
   */
  stage?(path: string, source: StageSource, options?: { mtimeMs?: number }): Promise<StagedFile>;
  /**
   * Publishes staged files under their names (atomic renames), then syncs each directory once:
   * they are durable when this resolves. What a kill leaves staged, `removeInterruptedWrites` removes.
   */
  commitStaged?(files: readonly StagedFile[]): Promise<void>;
  /** Removes a file; a missing one is not an error. */
  remove(path: string): Promise<void>;
  /** Removes files (batched on object stores); missing ones are not an error. */
  removeMany(paths: readonly string[]): Promise<void>;
  /**
   * Fails with the reason when the location cannot be used: an object store's bucket that does
   * not exist or refuses these credentials; a directory (or, before it exists, its nearest
   * parent) that this user cannot write.
   */
  checkAccess(): Promise<void>;
  /** A durable copy of a file under another name (server-side on object stores). */
  copy(from: string, to: string): Promise<void>;
  /** Renames where the driver can (atomic), else copies then removes the source. */
  move(from: string, to: string): Promise<void>;
  /** Atomic rename within this storage (durable: both directories are synced). */
  rename?(from: string, to: string): Promise<void>;
  /** Hard link (posix): the new name is durable when this resolves. */
  link?(from: string, to: string): Promise<void>;
  syncDir?(path: string): Promise<void>;
  /**
   * A symbolic link at `path` to `target` (posix; object stores have none): a plain backup's
   * pg_tblspc/<oid>, as pg_basebackup -Fp leaves it.
   */
  symlink?(target: string, path: string): Promise<void>;
  /** Removes a directory if it is empty (posix; object stores have no directories): false when not. */
  removeEmptyDirectory?(path: string): Promise<boolean>;
  /** The local file system path of `path`, for stores that have one. */
  localPath?(path: string): string;
  removeTree(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /**
   * Rejects when this process may not add or remove entries of directory `path` (a read-only
   * base/), so a deletion can refuse before it removes anything; a missing directory is fine.
   * Object stores resolve: their permissions are known only by trying.
   */
  checkWritable(path: string): Promise<void>;
  /**
   * worm_mode: the files and directories below each of `paths` (each included) that write-once
   * storage keeps from being changed or removed now, at most `limit` (posix: immutable flag or
   * read-only mount; S3: object versions under an Object Lock retention or legal hold, with the
   * date it ends). A deletion asks first and refuses whole rather than stopping halfway.
   */
  findImmutable?(
    paths: readonly string[],
    limit: number,
    options?: ImmutableProbeOptions,
  ): Promise<ImmutableEntry[]>;
  /**
   * worm_mode's `check` (S3): whether the store itself enforces immutability (the bucket has
   * Object Lock enabled) and what it does, in words. Posix file systems cannot say.
   */
  immutabilityStatus?(): Promise<{ enforced: boolean; detail: string }>;
  /** Releases connections (S3); the storage is not used afterwards. */
  close(): void;
}

export { PosixStorage } from './posix.js';
export type { ImmutableEntry, ImmutableProbeOptions } from './immutable.js';
export { storageFor } from './for-location.js';
export type { StorageOptions } from './for-location.js';
