/**
 * A pool of worker threads for CPU-bound file work — compression, and verify-backup's checksums
 * of a plain backup on a local disk — so that archiving a batch of WAL files or verifying a
 * backup uses every core. Workers start on demand (up to `threads`), hold one task at a time, are
 * unref'd while idle (an idle pool never keeps the process alive) and terminated by close().
 * Custom filters are subprocesses already and run directly, without a worker.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compressFile, compressFileToBuffer, decompressFile } from './files.js';
import { resolveLevel } from './levels.js';
import {
  deserializeError,
  type CompressionTask,
  type DigestRequest,
  type FileDigest,
  type WorkerReply,
  type WorkerTask,
} from './protocol.js';
import type { CompressionName, CompressOptions, DecompressOptions, TransferSizes } from './types.js';
import { canonicalCompression, CompressionError } from './types.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** Flags of this process that make no sense in a worker (`node --input-type=module -e`, `node --test`). */
function workerExecArgv(): string[] {
  return process.execArgv.filter((flag) => !/^--(input-type|test|eval|print)\b/.test(flag) && flag !== '-e');
}

interface PendingTask {
  task: WorkerTask;
  resolve: (sizes: TransferSizes, data?: ArrayBuffer, digest?: FileDigest) => void;
  reject: (error: Error) => void;
  onProgress?: (bytesSoFar: number) => void;
}

interface Slot {
  worker: Worker;
  current: PendingTask | null;
}

export class CompressionPool {
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly queue: PendingTask[] = [];
  /** Custom-filter jobs running outside the workers, awaited by close(). */
  private readonly direct = new Set<Promise<unknown>>();
  private nextId = 1;
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  /**
   * `workerUrl`: the worker module, worker.js by default; verify-backup's checksums run on
   * catalog/digest-worker.js, which speaks the same protocol but loads no compression library
   * (a worker thread's start is counted in every verification).
   */
  constructor(
    threads: number = availableParallelism(),
    private readonly workerUrl: URL = WORKER_URL,
  ) {
    this.threads = Math.max(1, Math.floor(Number.isFinite(threads) ? threads : 1));
  }

  /** Compresses `source` into `destination` on a worker thread. */
  compressFile(
    name: CompressionName,
    source: string,
    destination: string,
    options: CompressOptions = {},
  ): Promise<TransferSizes> {
    if (canonicalCompression(name) === 'custom') {
      return this.runDirect(() => compressFile(name, source, destination, options));
    }
    try {
      resolveLevel(canonicalCompression(name), options.level); // invalid levels fail here, not in a worker
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new CompressionError(String(error)));
    }
    return this.submit('compress', name, source, destination, options.level);
  }

  /**
   * Reads the file `source` whole and compresses it into memory on a worker thread (files of a
   * few MiB: the whole file and its compressed copy are held at once).
   */
  compressFileToBuffer(
    name: CompressionName,
    source: string,
    options: CompressOptions = {},
  ): Promise<{ data: Buffer; bytesIn: number }> {
    if (canonicalCompression(name) === 'custom') {
      return this.closing ? Promise.reject(this.closedError()) : compressFileToBuffer(name, source, options);
    }
    try {
      resolveLevel(canonicalCompression(name), options.level);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new CompressionError(String(error)));
    }
    if (this.closing) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      const task: CompressionTask = {
        id: this.nextId++,
        operation: 'compress-to-buffer',
        name,
        source,
        destination: '',
        level: options.level,
      };
      this.queue.push({
        task,
        resolve: (sizes, data) =>
          resolve({ data: data ? Buffer.from(data) : Buffer.alloc(0), bytesIn: sizes.bytesIn }),
        reject,
      });
      this.dispatch();
    });
  }

  /**
   * Reads the file `path` below the local directory `root` (a PosixStorage root: the worker
   * reads it through a PosixStorage of its own) and digests it on a worker thread. `onProgress`
   * hears the bytes read so far of a long file now and then.
   */
  digestFile(
    root: string,
    path: string,
    request: DigestRequest,
    onProgress?: (bytesSoFar: number) => void,
  ): Promise<FileDigest> {
    if (this.closing) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => {
      const task: WorkerTask = { id: this.nextId++, operation: 'digest', root, path, ...request };
      this.queue.push({
        task,
        // The head crossed the thread as a plain Uint8Array.
        resolve: (_sizes, _data, digest) =>
          digest
            ? resolve({ ...digest, head: digest.head ? Buffer.from(digest.head) : null })
            : reject(new Error(`the worker sent no digest of ${path}`)),
        reject,
        onProgress,
      });
      this.dispatch();
    });
  }

  /** Decompresses `source` into `destination` on a worker thread. */
  decompressFile(
    name: CompressionName,
    source: string,
    destination: string,
    options: DecompressOptions = {},
  ): Promise<TransferSizes> {
    if (canonicalCompression(name) === 'custom') {
      return this.runDirect(() => decompressFile(name, source, destination, options));
    }
    return this.submit('decompress', name, source, destination, undefined);
  }

  /**
   * Stops accepting work, lets the tasks already submitted finish, then terminates the workers.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0 || this.slots.some((slot) => slot.current)) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await Promise.allSettled([...this.direct]);
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private closedError(): CompressionError {
    return new CompressionError('the compression pool is closed');
  }

  private runDirect(job: () => Promise<TransferSizes>): Promise<TransferSizes> {
    if (this.closing) return Promise.reject(this.closedError());
    const promise = job();
    const tracked = promise.catch(() => undefined).finally(() => this.direct.delete(tracked));
    this.direct.add(tracked);
    return promise;
  }

  private submit(
    operation: CompressionTask['operation'],
    name: CompressionName,
    source: string,
    destination: string,
    level: CompressOptions['level'],
  ): Promise<TransferSizes> {
    if (this.closing) return Promise.reject(this.closedError());
    return new Promise<TransferSizes>((resolve, reject) => {
      const task: CompressionTask = { id: this.nextId++, operation, name, source, destination, level };
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((candidate) => candidate.current === null);
      if (!slot) {
        if (this.slots.length >= this.threads) return;
        slot = this.startWorker();
      }
      const pending = this.queue.shift()!;
      slot.current = pending;
      slot.worker.ref();
      slot.worker.postMessage(pending.task);
    }
    if (this.slots.every((slot) => slot.current === null)) {
      const waiters = this.idleWaiters.splice(0);
      for (const wake of waiters) wake();
    }
  }

  private startWorker(): Slot {
    const worker = new Worker(this.workerUrl, { execArgv: workerExecArgv() });
    const slot: Slot = { worker, current: null };
    worker.unref();
    worker.on('message', (reply: WorkerReply) => {
      const pending = slot.current;
      if (!pending || pending.task.id !== reply.id) return;
      if ('progress' in reply) {
        pending.onProgress?.(reply.progress);
        return;
      }
      slot.current = null;
      worker.unref();
      if (reply.ok) pending.resolve(reply.sizes, reply.data, reply.digest);
      else pending.reject(deserializeError(reply.error));
      this.dispatch();
    });
    const lost = (error: Error): void => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      const pending = slot.current;
      slot.current = null;
      pending?.reject(new CompressionError(`compression worker failed: ${error.message}`, { cause: error }));
      this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}
