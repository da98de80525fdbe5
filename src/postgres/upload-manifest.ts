/**
 * UPLOAD_MANIFEST (PostgreSQL 17+), what `pg_basebackup --incremental` sends before an
 * incremental BASE_BACKUP: the replication command answers with a CopyInResponse, the client
 * sends the parent backup's backup_manifest as CopyData and ends with CopyDone; the server
 * checks it and keeps it for the next BASE_BACKUP (INCREMENTAL) of the same connection. The
 * manifest is streamed (it grows with the number of files) and each write waits for the socket.
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { PostgresError } from './client.js';

interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

/** A node-pg Submittable for UPLOAD_MANIFEST. */
export class UploadManifestCommand {
  readonly text = 'UPLOAD_MANIFEST';
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (error: Error) => void;
  private failure: Error | null = null;

  constructor(private readonly manifest: Readable) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined);
  }

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    void this.send(connection);
  }

  private async send(connection: CopyConnection): Promise<void> {
    try {
      for await (const chunk of this.manifest) {
        connection.sendCopyFromChunk(chunk as Buffer);
        if (connection.stream.writableNeedDrain) await once(connection.stream, 'drain');
      }
      connection.endCopyFrom();
    } catch (error) {
      this.failure = new PostgresError(
        `cannot read the parent backup's backup_manifest: ${(error as Error).message}`,
        error,
      );
      connection.sendCopyFail(this.failure.message);
    }
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  handleError(error: Error & { severity?: string }): void {
    // A CopyFail we sent comes back as the server's error: ours says more.
    this.failure ??= new PostgresError(`UPLOAD_MANIFEST failed: ${error.message}`, error);
    // A lost connection sends no ReadyForQuery.
    if (!error.severity) this.reject(this.failure);
  }

  handleReadyForQuery(): void {
    if (this.failure) this.reject(this.failure);
    else this.resolve();
  }
}
