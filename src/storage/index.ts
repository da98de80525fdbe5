/**
 * The Storage interface: how the catalogue and the WAL archive reach their files, so the same
 * code serves a local directory and (later) an S3 bucket. Paths are relative to the storage
 * root, '/'-separated. Writes are durable when they return: nothing is acknowledged before it
 * would survive a crash.
 */
import type { Readable } from 'node:stream';

export interface StorageEntry {
  name: string;
  kind: 'file' | 'directory' | 'other';
}

export interface StorageStat {
  size: number;
  mtimeMs: number;
  kind: 'file' | 'directory' | 'other';
}

export interface WriteOptions {
  /** File mode for new files (posix only). */
  mode?: number;
  /** Modification time to set on the written file (posix only). */
  mtimeMs?: number;
}

export interface Storage {
  /** Where this storage lives, for messages: a directory or an s3:// URL. */
  readonly location: string;
  stat(path: string): Promise<StorageStat | null>;
  /** Entries of a directory (prefix for object stores); [] when it does not exist. */
  list(path: string): Promise<StorageEntry[]>;
  readFile(path: string): Promise<Buffer>;
  /** Reads `length` bytes from the start (magic-number sniffing, WAL headers). */
  readHead(path: string, length: number): Promise<Buffer>;
  openRead(path: string): Promise<Readable>;
  /** Atomic and durable: readers see the old content or the whole new content, never a part. */
  writeFile(path: string, data: Buffer | string | Readable, options?: WriteOptions): Promise<void>;
  /** Appends and syncs (catalogue files such as xlog.db). */
  appendFile(path: string, data: Buffer | string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Atomic rename within this storage (durable: both directories are synced). */
  rename?(from: string, to: string): Promise<void>;
  /** Hard link (posix): the new name is durable when this resolves. */
  link?(from: string, to: string): Promise<void>;
  syncDir?(path: string): Promise<void>;
  /** The local file system path of `path`, for stores that have one. */
  localPath?(path: string): string;
  removeTree(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
}

export { PosixStorage } from './posix.js';
