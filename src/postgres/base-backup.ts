/**
 * A native client of BASE_BACKUP over a physical replication connection (PostgreSQL 15+ syntax
 * and stream format), what pg_basebackup does, without a program or a local copy: the archives
 * the server sends reach the caller as streams, one after another. The server first sends the
 * start position (a result set) and the tablespaces (a second one), then one CopyOutResponse
 * whose CopyData messages are 'n' (a new archive: name, tablespace location), 'd' (bytes of the
 * current archive or manifest), 'p' (progress) and 'm' (the manifest follows), then the end
 * position (a third result set). Backpressure reaches the server: while the caller does not read,
 * the socket is paused, so memory stays bounded and the server's send blocks.
 */
import { Readable } from 'node:stream';
import pg from 'pg';
import { clientConfig, describe, PostgresError } from './client.js';
import { parseConnInfo } from './conninfo.js';
import { UploadManifestCommand } from './upload-manifest.js';

/** The first major version whose BASE_BACKUP takes parenthesised options and sends the 'n'/'d' stream. */
export const BASE_BACKUP_MIN_VERSION = 150000;

export interface BaseBackupOptions {
  label: string;
  /** CHECKPOINT 'fast' (else 'spread'). */
  fastCheckpoint: boolean;
  /** MAX_RATE in kB/s (bandwidth_limit), or null for no limit. */
  maxRateKbps: number | null;
  /** MANIFEST 'yes' with SHA256 checksums; the manifest then reaches `BaseBackupConsumer.manifest`. */
  manifest: boolean;
  /**
   * TABLESPACE_MAP: base.tar holds a tablespace_map (what tar-format backups need); false for a
   * plain data directory, where pg_tblspc keeps its links, as pg_basebackup -Fp asks.
   */
  tablespaceMap?: boolean;
  /**
   * VERIFY_CHECKSUMS false: the server does not check data page checksums (barman-ts checks them
   * on the copy and reports every corrupt page instead of failing the backup).
   */
  verifyChecksums?: boolean;
  /** Options placed after the others, as written (issue 13: `INCREMENTAL` after UPLOAD_MANIFEST). */
  extraOptions?: readonly string[];
  /** Runs on the connection before BASE_BACKUP (issue 13: UPLOAD_MANIFEST of the parent backup). */
  prepare?: (connection: ReplicationSession) => Promise<void>;
}

/** What a `prepare` step may do on the replication connection. */
export interface ReplicationSession {
  query(text: string): Promise<Array<Array<string | null>>>;
  /** UPLOAD_MANIFEST with `manifest` (a backup_manifest) as its COPY data. */
  uploadManifest(manifest: Readable): Promise<void>;
}

export interface BaseBackupStart {
  /** The start position, as PostgreSQL writes LSNs (`0/2000028`). */
  lsn: string;
  timeline: number;
  tablespaces: Array<{ oid: number; location: string; sizeBytes: number | null }>;
  /** The server's estimate of the whole backup (PROGRESS), data directory included. */
  estimatedBytes: number;
}

export interface BaseBackupEnd {
  lsn: string;
  timeline: number;
}

export interface BackupArchiveStream {
  /** The server's name: `base.tar` for the data directory, `<oid>.tar` for a tablespace. */
  name: string;
  /** The tablespace's location, null for the data directory. */
  tablespaceLocation: string | null;
  /** The archive's tar bytes; the consumer must read it to its end (or fail). */
  body: Readable;
}

/** Receives the backup; each method's promise is awaited before the next archive is handed over. */
export interface BaseBackupConsumer {
  started?(start: BaseBackupStart): void | Promise<void>;
  archive(archive: BackupArchiveStream): Promise<void>;
  manifest?(body: Readable): Promise<void>;
  /** Bytes sent so far (PROGRESS), against the tablespaces' estimated sizes. */
  progress?(sentBytes: number): void;
}

export class BaseBackupError extends PostgresError {
  constructor(
    message: string,
    readonly sqlState: string | null = null,
    cause?: unknown,
  ) {
    super(message, cause);
    this.name = 'BaseBackupError';
  }
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The BASE_BACKUP command of `options` (PROGRESS always, TABLESPACE_MAP unless told not to, WAIT false). */
export function baseBackupCommand(options: BaseBackupOptions): string {
  const parts = [
    `LABEL ${quote(options.label)}`,
    'PROGRESS',
    `CHECKPOINT ${options.fastCheckpoint ? "'fast'" : "'spread'"}`,
    // WAL archiving is checked by the backup's WAL wait, not by the server.
    'WAIT false',
    ...(options.tablespaceMap === false ? [] : ['TABLESPACE_MAP']),
    ...(options.verifyChecksums === false ? ['VERIFY_CHECKSUMS false'] : []),
    ...(options.maxRateKbps ? [`MAX_RATE ${Math.min(Math.max(options.maxRateKbps, 32), 1048576)}`] : []),
    ...(options.manifest ? ["MANIFEST 'yes'", "MANIFEST_CHECKSUMS 'SHA256'"] : ["MANIFEST 'no'"]),
    ...(options.extraOptions ?? []),
  ];
  return `BASE_BACKUP (${parts.join(', ')})`;
}

/**
 * Takes a base backup with `conninfo` (a streaming_conninfo; `replication=true` is added),
 * handing its archives to `consumer`. Rejects with a BaseBackupError when the server refuses or
 * the connection is lost, and with the consumer's error when the consumer fails (the connection
 * is then closed, which ends the backup on the server).
 */
export async function takeBaseBackup(
  conninfo: string,
  applicationName: string,
  options: BaseBackupOptions,
  consumer: BaseBackupConsumer,
): Promise<{ start: BaseBackupStart; end: BaseBackupEnd }> {
  const client = new pg.Client(clientConfig(parseConnInfo(conninfo), { applicationName, replication: true }));
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new BaseBackupError(
      `cannot open a replication connection (${describe(conninfo)}): ${(error as Error).message}`,
      null,
      error,
    );
  }
  try {
    if (options.prepare) {
      await options.prepare({
        query: async (text) =>
          (await client.query({ text, rowMode: 'array' })).rows as Array<Array<string | null>>,
        uploadManifest: async (manifest) => {
          const command = new UploadManifestCommand(manifest);
          client.query(command);
          await command.done;
        },
      });
    }
    const command = new BaseBackupCommand(baseBackupCommand(options), consumer);
    client.query(command);
    return await command.done;
  } finally {
    await client.end().catch(() => {});
  }
}

interface Connection {
  query(text: string): void;
  stream: { pause(): void; resume(): void; destroy(): void };
}

/** What the archive streams carry per chunk: CopyData payloads gathered up to this size. */
const BATCH_BYTES = 1 << 20;

/** The state of one BASE_BACKUP: a pg Submittable (what node-pg calls for each message). */
class BaseBackupCommand {
  readonly done: Promise<{ start: BaseBackupStart; end: BaseBackupEnd }>;
  private resolve!: (value: { start: BaseBackupStart; end: BaseBackupEnd }) => void;
  private reject!: (error: Error) => void;
  private connection: Connection | null = null;
  private resultSets: Array<Array<Array<string | null>>> = [];
  private current: Readable | null = null;
  /** The consumer's work so far: each stream is handed over once the one before is consumed. */
  private work: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private start: BaseBackupStart | null = null;
  private sawCopy = false;
  /** CopyData payloads not yet handed to `current`, gathered into one buffer. */
  private batch: Buffer | null = null;
  private batchBytes = 0;

  constructor(
    readonly text: string,
    private readonly consumer: BaseBackupConsumer,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined);
  }

  submit(connection: Connection): void {
    this.connection = connection;
    connection.query(this.text);
  }

  handleRowDescription(): void {
    if (this.sawCopy) this.endCurrent();
    this.resultSets.push([]);
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    this.resultSets.at(-1)?.push(message.fields);
  }

  handleCommandComplete(): void {
    if (this.resultSets.length === 2 && !this.start) {
      const [startRow] = this.resultSets[0]!;
      const sizeOf = (row: Array<string | null>) =>
        row[2] === null || row[2] === undefined ? null : Number(row[2]) * 1024;
      this.start = {
        estimatedBytes: this.resultSets[1]!.reduce((sum, row) => sum + (sizeOf(row) ?? 0), 0),
        lsn: startRow?.[0] ?? '',
        timeline: Number(startRow?.[1] ?? 0),
        tablespaces: this.resultSets[1]!.filter((row) => row[0] !== null).map((row) => ({
          oid: Number(row[0]),
          location: row[1] ?? '',
          sizeBytes: sizeOf(row),
        })),
      };
      const start = this.start;
      this.chain(async () => {
        await this.consumer.started?.(start);
      });
    }
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyData(message: { chunk: Buffer }): void {
    this.sawCopy = true;
    if (this.failure) return;
    const chunk = message.chunk;
    switch (String.fromCharCode(chunk[0]!)) {
      case 'n': {
        const nameEnd = chunk.indexOf(0, 1);
        const locationEnd = chunk.indexOf(0, nameEnd + 1);
        const name = chunk.subarray(1, nameEnd).toString('utf8');
        const location = chunk.subarray(nameEnd + 1, locationEnd).toString('utf8');
        const body = this.openStream();
        this.chain(() => this.consumer.archive({ name, tablespaceLocation: location || null, body }));
        break;
      }
      case 'm': {
        const body = this.openStream();
        this.chain(async () => {
          if (this.consumer.manifest) await this.consumer.manifest(body);
          else body.resume();
          await finished(body);
        });
        break;
      }
      case 'd':
        if (!this.current) {
          this.fail(new BaseBackupError('the server sent backup data before naming its archive'));
          return;
        }
        this.append(chunk.subarray(1));
        break;
      case 'p':
        this.consumer.progress?.(Number(chunk.readBigInt64BE(1)));
        break;
      default:
        this.fail(
          new BaseBackupError(`unexpected message '${String.fromCharCode(chunk[0]!)}' in the backup stream`),
        );
    }
  }

  /**
   * Copies a CopyData payload into the batch: the parser's buffer under it is reused for the next
   * socket read, and one copy into a batch of BATCH_BYTES spares the allocation (and the garbage)
   * of a buffer per message (~8 kB each).
   */
  private append(payload: Buffer): void {
    if (this.batch && this.batchBytes + payload.length > this.batch.length) this.flushBatch();
    if (payload.length >= BATCH_BYTES) {
      this.pushData(Buffer.from(payload));
      return;
    }
    this.batch ??= Buffer.allocUnsafe(BATCH_BYTES);
    payload.copy(this.batch, this.batchBytes);
    this.batchBytes += payload.length;
    if (this.batchBytes === this.batch.length) this.flushBatch();
  }

  private flushBatch(): void {
    if (!this.batch || this.batchBytes === 0) return;
    const data = this.batch.subarray(0, this.batchBytes);
    this.batch = null;
    this.batchBytes = 0;
    this.pushData(data);
  }

  private pushData(data: Buffer): void {
    // Paused until the consumer reads again (the stream's read()).
    if (!this.current?.push(data)) this.connection?.stream.pause();
  }

  private openStream(): Readable {
    this.endCurrent();
    // Object mode: each read hands over one batch as pushed (a byte stream's read() would
    // concatenate all it holds, a copy of megabytes), at most 4 batches held.
    const stream = new Readable({
      objectMode: true,
      highWaterMark: 4,
      read: () => this.connection?.stream.resume(),
    });
    stream.on('error', () => undefined);
    this.current = stream;
    // Until the consumer starts on it (after the previous one), data waits in the socket.
    return stream;
  }

  private endCurrent(): void {
    this.flushBatch();
    this.current?.push(null);
    this.current = null;
  }

  private chain(step: () => Promise<void>): void {
    this.work = this.work.then(async () => {
      if (this.failure) return;
      try {
        await step();
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** The consumer failed or the stream is not what it should be: the backup is over. */
  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.batch = null;
    this.current?.destroy(error);
    this.current = null;
    // Closing the connection ends the backup on the server.
    this.connection?.stream.resume();
    this.connection?.stream.destroy();
    this.reject(error);
  }

  handleError(error: Error & { code?: string; severity?: string }): void {
    // The server's ErrorResponse has a severity; anything else is the connection failing.
    const connectionLost = !error.severity;
    const wrapped = new BaseBackupError(
      connectionLost
        ? `the replication connection was lost during BASE_BACKUP: ${error.message}`
        : `BASE_BACKUP failed: ${error.message}`,
      connectionLost ? null : (error.code ?? null),
      error,
    );
    if (this.failure) return;
    this.failure = wrapped;
    this.current?.destroy(wrapped);
    this.current = null;
    // A consumer's own failure wins (it is why the connection ended).
    void this.work.then(() => this.reject(wrapped));
  }

  handleReadyForQuery(): void {
    if (this.failure) return;
    this.endCurrent();
    const endRow = this.resultSets[2]?.[0];
    const start = this.start;
    void this.work.then(() => {
      if (this.failure) return;
      if (!start || !endRow) {
        this.reject(new BaseBackupError('BASE_BACKUP ended without its start or end position'));
        return;
      }
      this.resolve({ start, end: { lsn: endRow[0] ?? '', timeline: Number(endRow[1] ?? 0) } });
    });
  }
}

function finished(stream: Readable): Promise<void> {
  if (stream.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
    stream.once('close', resolve);
  });
}
