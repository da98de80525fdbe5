/**
 * Multipart uploads, the one thing of object stores a backup must tidy up itself: an upload a
 * killed backup (or a bucket that stopped answering) leaves unfinished keeps its parts stored,
 * and billed, until it is aborted. The Storage interface has no such notion, so the S3 driver's
 * own methods are reached through the narrow MultipartUploads interface below, and a journal
 * next to the backup lock remembers the uploads still open.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/index.js';
import type { CloudStaging, Storage } from '../storage/index.js';
import { writeFileDurably } from '../storage/durable-files.js';
import type { MultipartListener } from '../storage/s3/index.js';

/** The S3 driver's multipart-upload methods (S3Storage has them; PosixStorage has none). */
export interface MultipartUploads {
  /**
   * Like writeFile, telling `multipartListener` when a multipart upload starts and ends; the
   * stored size. With `staging`, the parts go through bounded local files (WriteOptions.staging).
   */
  upload(
    path: string,
    data: Readable,
    options: { multipartListener?: MultipartListener; staging?: CloudStaging | null },
  ): Promise<{ size: number }>;
  /** Unfinished uploads under `path` (ListMultipartUploads; not every store has it). */
  listUploads(path: string): Promise<Array<{ key: string; uploadId: string }>>;
  abortUpload(key: string, uploadId: string): Promise<void>;
  /** Aborts; false only when the store could not be reached (the upload may still be there). */
  tryAbortUpload(key: string, uploadId: string): Promise<boolean>;
}

export function multipartUploadsOf(storage: Storage): MultipartUploads | null {
  const candidate = storage as Partial<MultipartUploads>;
  return typeof candidate.upload === 'function' &&
    typeof candidate.listUploads === 'function' &&
    typeof candidate.abortUpload === 'function' &&
    typeof candidate.tryAbortUpload === 'function'
    ? (storage as unknown as MultipartUploads)
    : null;
}

/** The journal of a server's backups: `.<server>-backup.uploads` beside its backup lock. */
export function uploadJournalOf(config: ServerConfig): UploadJournal {
  return new UploadJournal(join(config.barman_lock_directory, `.${config.name}-backup.uploads`));
}

/**
 * The multipart uploads of this server's backups that the store has not yet completed or
 * aborted, in a small file next to the backup lock (one `key uploadId` line each), written
 * before each upload starts and after it ends. A backup whose bucket stopped answering, or that
 * was killed, leaves its upload here, and the next backup aborts it, so no parts stay stored
 * (and billed) even where ListMultipartUploads is missing.
 */
export class UploadJournal implements MultipartListener {
  private readonly open = new Map<string, string>();
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  /** The uploads left by earlier backups; they stay listed until ended() is called for them. */
  async load(): Promise<Array<{ key: string; uploadId: string }>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    for (const line of text.split('\n')) {
      // Upload ids have no spaces; keys might.
      const space = line.lastIndexOf(' ');
      if (space > 0) this.open.set(line.slice(space + 1), line.slice(0, space));
    }
    return [...this.open].map(([uploadId, key]) => ({ key, uploadId }));
  }

  started(key: string, uploadId: string): Promise<void> {
    this.open.set(uploadId, key);
    return this.save();
  }

  ended(_key: string, uploadId: string): Promise<void> {
    this.open.delete(uploadId);
    return this.save();
  }

  /** Saves run one after another, each writing the whole current set. */
  private save(): Promise<void> {
    const lines = [...this.open].map(([uploadId, key]) => `${key} ${uploadId}\n`).join('');
    this.saving = this.saving.then(() => writeFileDurably(this.path, lines));
    return this.saving;
  }
}
