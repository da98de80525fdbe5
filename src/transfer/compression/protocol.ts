/** Messages between CompressionPool and its worker threads. */
import type { CompressionLevel, CompressionName, TransferSizes } from './types.js';
import { CompressionError } from './types.js';

export interface WorkerTask {
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

export type WorkerReply =
  | { id: number; ok: true; sizes: TransferSizes; data?: ArrayBuffer }
  | { id: number; ok: false; error: SerializedError };

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
