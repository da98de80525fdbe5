/** Messages between CompressionPool and its worker threads. */
import type { CompressionLevel, CompressionName, TransferSizes } from './types.js';
import { CompressionError } from './types.js';

export type WorkerTask = CompressionTask | DigestTask;

/** What verify-backup's digest of one file (catalog/file-digest.ts) reads and answers. */
export interface DigestRequest {
  /** A manifest `Checksum-Algorithm` the verifier knows, or null for no checksum. */
  algorithm: string | null;
  /** Bytes of the file's start to hand back (global/pg_control's system identifier), or 0. */
  headBytes: number;
}

export interface FileDigest {
  /** Bytes actually read. */
  bytes: number;
  /** Lowercase hex of the manifest algorithm's checksum; null when none was asked for. */
  checksum: string | null;
  /** A copy of the first `headBytes` bytes (fewer when the file is shorter); null when none were asked for. */
  head: Buffer | null;
}

/** verify-backup: the file `path` below the local directory `root` read and digested. */
export interface DigestTask extends DigestRequest {
  id: number;
  operation: 'digest';
  root: string;
  path: string;
}

export interface CompressionTask {
  id: number;
  /** 'compress-to-buffer': `source` read whole and compressed into memory (no destination). */
  operation: 'compress' | 'decompress' | 'compress-to-buffer';
  name: CompressionName;
  source: string;
  destination: string;
  level: CompressionLevel | undefined;
}

export interface SerializedError {
  name: string;
  message: string;
  code: string | undefined;
  hint: string | undefined;
}

/** A task's end. */
export type WorkerResult =
  | { id: number; ok: true; sizes: TransferSizes; data?: ArrayBuffer; digest?: FileDigest }
  | { id: number; ok: false; error: SerializedError };

/** A task's end, or (digests) a long task's bytes read so far: the task goes on. */
export type WorkerReply = WorkerResult | { id: number; progress: number };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const { code, hint } = error as Error & { code?: unknown; hint?: unknown };
    return {
      name: error.name,
      message: error.message,
      code: typeof code === 'string' ? code : undefined,
      hint: typeof hint === 'string' ? hint : undefined,
    };
  }
  return { name: 'Error', message: String(error), code: undefined, hint: undefined };
}

export function deserializeError(error: SerializedError): Error {
  if (error.name === 'CompressionError') return new CompressionError(error.message, { hint: error.hint });
  const rebuilt = new Error(error.message) as Error & { code?: string };
  rebuilt.name = error.name;
  if (error.code !== undefined) rebuilt.code = error.code;
  return rebuilt;
}
