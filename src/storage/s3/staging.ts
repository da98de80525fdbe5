/**
 * Bounded local staging of streamed uploads (WriteOptions.staging): each multipart part is
 * written to a private file (0600, in a directory created 0700) as the stream arrives, read back
 * from it when its upload starts (the SDK's retries resend those bytes), and removed as soon as
 * S3 acknowledged it. A part file is opened only once its whole size fits under the limit next
 * to the parts already staged, so the stream waits (backpressure) while the uploads catch up and
 * the disk never holds more than the limit. Memory holds only the parts being sent.
 *
 * The limit is per process and directory: every upload of this process staging in one
 * directory shares it (a producer must finish one stream before it waits on another, or two
 * uploads could each hold the space the other needs). Files are named
 * `barman-ts-staged-<pid>-<n>`, so several servers and processes may share a directory, and the
 * files of a process that no longer runs (a killed backup) are removed when an upload into the
 * directory starts.
 */
import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stagingLimitProblem } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import { fromSystemError, isSystemError, withPath } from '../../errors/system.js';
import { prettySize } from '../../output/format.js';
import type { CloudStaging } from '../index.js';
import { isProcessAlive } from '../../util/process-alive.js';

const STAGED_NAME = /^barman-ts-staged-(\d+)-\d+$/;
let sequence = 0;

/** The bytes this process has staged in one directory. */
class StagingBudget {
  private used = 0;
  private waiters: Array<() => void> = [];

  /** Waits until `bytes` more fit under `max`; rejects as soon as `abandoned` does. */
  async reserve(bytes: number, max: number, abandoned: Promise<never>): Promise<void> {
    while (this.used + bytes > max) {
      await Promise.race([new Promise<void>((wake) => this.waiters.push(wake)), abandoned]);
    }
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used -= bytes;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

const budgets = new Map<string, StagingBudget>();

/** One part being staged, then staged: its file, size and MD5 (known once closed). */
export class StagedPart {
  size = 0;
  md5: Buffer | null = null;
  private readonly hash: Hash = createHash('md5');

  constructor(
    readonly path: string,
    private handle: FileHandle | null,
    /** The bytes reserved for it: the most it may hold. */
    readonly capacity: number,
  ) {}

  get room(): number {
    return this.capacity - this.size;
  }

  async write(chunk: Buffer): Promise<void> {
    if (!this.handle) throw new Error(`staged part ${this.path} is closed`);
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  /** Ends the file (no fsync: a staged part is of no use after a crash) and fixes its MD5. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
    this.md5 ??= this.hash.digest();
  }
}

/** The staged parts of one upload in its staging directory. */
export class StagingArea {
  private readonly parts = new Set<StagedPart>();
  /** Buffers of parts already sent, reused to read the next ones. */
  private readonly spare: Buffer[] = [];
  /** The whole buffer behind each body `read` returned. */
  private readonly lent = new WeakMap<Buffer, Buffer>();

  private constructor(
    readonly directory: string,
    readonly maxBytes: number,
    private readonly budget: StagingBudget,
    private readonly keep: number,
  ) {}

  /**
   * Refuses a limit smaller than the first part, creates the directory when missing and
   * removes the files dead processes left there. `keep`: read buffers kept for reuse.
   */
  static async open(staging: CloudStaging, partSize: number, keep: number): Promise<StagingArea> {
    const problem = stagingLimitProblem(staging.maxBytes, partSize);
    if (problem) throw new BarmanError('cloud-staging-too-small', problem);
    const directory = resolve(staging.directory);
    try {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      await removeLeftovers(directory);
    } catch (error) {
      throw stagingError(error, directory);
    }
    let budget = budgets.get(directory);
    if (!budget) budgets.set(directory, (budget = new StagingBudget()));
    return new StagingArea(directory, staging.maxBytes, budget, keep);
  }

  /** A new part file for at most `size` bytes, once they fit under the limit. */
  async create(size: number, abandoned: Promise<never>): Promise<StagedPart> {
    if (size > this.maxBytes) {
      // Parts double every 1,000 (S3 takes 10,000 at most): a long stream outgrows a small limit.
      throw new BarmanError(
        'cloud-staging-too-small',
        `the next upload part (${prettySize(size)}) is larger than the cloud staging limit ` +
          `(cloud_staging_max_size, or --cloud-staging-max-size) of ${prettySize(this.maxBytes)}: ` +
          'parts grow every 1,000 of them, so that a long stream fits in the 10,000 parts S3 allows',
        { hint: `set cloud_staging_max_size to ${prettySize(size)} or more` },
      );
    }
    await this.budget.reserve(size, this.maxBytes, abandoned);
    const path = join(this.directory, `barman-ts-staged-${process.pid}-${++sequence}`);
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      this.budget.release(size);
      throw stagingError(error, path);
    }
    const part = new StagedPart(path, handle, size);
    this.parts.add(part);
    return part;
  }

  /** Writes `chunk` into `part`, naming the file in a failure (a full disk, say). */
  async write(part: StagedPart, chunk: Buffer): Promise<void> {
    try {
      await part.write(chunk);
    } catch (error) {
      throw stagingError(error, part.path);
    }
  }

  /** The bytes of a closed part, read back from its file. */
  async read(part: StagedPart): Promise<Buffer> {
    // Part sizes only grow: a spare buffer too small for this part is of no further use.
    const spare = this.spare.filter((buffer) => buffer.length >= part.capacity);
    this.spare.length = 0;
    const buffer = spare.pop() ?? Buffer.allocUnsafe(part.capacity);
    this.spare.push(...spare);
    try {
      const handle = await open(part.path, 'r');
      try {
        let filled = 0;
        while (filled < part.size) {
          const { bytesRead } = await handle.read(buffer, filled, part.size - filled, filled);
          if (bytesRead === 0) throw new Error(`staged part ${part.path} is shorter than ${part.size} bytes`);
          filled += bytesRead;
        }
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw stagingError(error, part.path);
    }
    const body = buffer.subarray(0, part.size);
    this.lent.set(body, buffer);
    return body;
  }

  /** Removes a part the store has (its buffer, from `read`, may be reused). */
  async remove(part: StagedPart, body?: Buffer): Promise<void> {
    const buffer = body && this.lent.get(body);
    if (buffer && this.spare.length < this.keep) this.spare.push(buffer);
    await this.discard(part);
  }

  /** Removes every part still staged (after a failure, or a short stream sent in one request). */
  async close(): Promise<void> {
    await Promise.all([...this.parts].map((part) => this.discard(part)));
    this.spare.length = 0;
  }

  private async discard(part: StagedPart): Promise<void> {
    if (!this.parts.delete(part)) return;
    try {
      await part.close().catch(() => undefined);
      await unlink(part.path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
    } catch (error) {
      throw stagingError(error, part.path);
    } finally {
      this.budget.release(part.capacity);
    }
  }
}

/** Removes the staged files of processes that no longer run (a backup killed mid-upload). */
async function removeLeftovers(directory: string): Promise<void> {
  for (const name of await readdir(directory)) {
    const pid = Number(STAGED_NAME.exec(name)?.[1] ?? 0);
    if (pid === 0 || pid === process.pid || isProcessAlive(pid)) continue;
    // Best effort: another upload may remove it first, or it belongs to another user.
    await unlink(join(directory, name)).catch(() => undefined);
  }
}

/** A failed system call of staging, as an error naming the file and cloud_staging_directory. */
function stagingError(error: unknown, path: string): unknown {
  if (!isSystemError(error)) return error;
  return fromSystemError(withPath(error, path), 'cloud staging (cloud_staging_directory)');
}
