/**
 * A native client of physical streaming replication (what pg_receivewal speaks), for the
 * receive-wal that seals WAL as it arrives (`encryption = gpg`): `START_REPLICATION SLOT <slot>
 * PHYSICAL <lsn> TIMELINE <tli>` on a replication connection, then the server's CopyBothResponse
 * (pg-protocol's 'replicationStart'), XLogData ('w': the WAL bytes and where they start) and
 * keepalives ('k', answered at once when the server asks); the client sends standby status
 * updates ('r') every `statusIntervalMs` and whenever the caller makes more WAL durable. The
 * position reported as flushed (and applied) is only what the caller said is durable, so the
 * slot keeps everything after it. At the end of the timeline (the server's CopyDone, answered
 * with ours, then a result set with the next timeline and its start) the stream ends with them.
 */
import pg from 'pg';
import { clientConfig, describe, PostgresError } from './client.js';
import { parseConnInfo } from './conninfo.js';
import { formatLsn } from '../wal/names.js';

export interface WalStreamOptions {
  slot: string;
  /** Where streaming starts: a segment's start. */
  startLsn: bigint;
  timeline: number;
  statusIntervalMs: number;
}

/** Receives the WAL in order; called synchronously for each XLogData message. */
export type WalDataHandler = (lsn: bigint, bytes: Buffer) => void;

export type WalStreamEnd =
  | { reason: 'stopped' }
  /** The server's timeline ended; streaming continues on `nextTimeline` from `nextStart`. */
  | { reason: 'end-of-timeline'; nextTimeline: number | null; nextStart: string | null };

export interface WalStream {
  /** Settles when the stream ends: stopped, end of timeline, or an error (rejects). */
  readonly done: Promise<WalStreamEnd>;
  /** WAL up to `lsn` is durable: reported as flushed and applied at once. */
  flushed(lsn: bigint): void;
  /** Stops reading from the server (backpressure while the caller seals) and resumes. */
  pause(): void;
  resume(): void;
  /** Ends the stream: the connection is closed, `done` resolves with 'stopped'. */
  stop(): void;
}

/** Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch for replication timestamps. */
const POSTGRES_EPOCH_US = 946_684_800_000_000n;

/** A standby status update: written, flushed and applied positions, the clock, no reply asked. */
export function standbyStatusUpdate(write: bigint, flush: bigint, apply: bigint, nowMs: number): Buffer {
  const message = Buffer.alloc(34);
  message.write('r', 0, 'latin1');
  message.writeBigUInt64BE(write, 1);
  message.writeBigUInt64BE(flush, 9);
  message.writeBigUInt64BE(apply, 17);
  message.writeBigInt64BE(BigInt(Math.round(nowMs * 1000)) - POSTGRES_EPOCH_US, 25);
  message.writeUInt8(0, 33);
  return message;
}

interface CopyBothConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void };
  on(event: 'copyDone' | 'replicationStart', listener: () => void): void;
}

/** Opens the replication connection and starts streaming; `onData` gets the WAL in order. */
export async function startWalStream(
  conninfo: string,
  applicationName: string,
  options: WalStreamOptions,
  onData: WalDataHandler,
): Promise<WalStream> {
  const client = new pg.Client(clientConfig(parseConnInfo(conninfo), { applicationName, replication: true }));
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new PostgresError(
      `cannot open a replication connection (${describe(conninfo)}): ${(error as Error).message}`,
      error,
    );
  }
  const connection = (client as unknown as { connection: CopyBothConnection }).connection;
  const command = new StartReplicationCommand(options, onData);
  connection.on('copyDone', () => command.serverCopyDone());
  connection.on('replicationStart', () => command.replicationStarted());
  const timer = setInterval(() => command.sendStatus(), options.statusIntervalMs);
  client.query(command as unknown as pg.Submittable);
  const done = command.done.finally(() => {
    clearInterval(timer);
    void client.end().catch(() => {});
  });
  done.catch(() => undefined);
  return {
    done,
    flushed: (lsn) => command.setFlushed(lsn),
    pause: () => connection.stream.pause(),
    resume: () => connection.stream.resume(),
    stop: () => {
      command.stopping = true;
      void client.end().catch(() => {});
    },
  };
}

/** The START_REPLICATION exchange: a node-pg Submittable. */
class StartReplicationCommand {
  readonly text: string;
  readonly done: Promise<WalStreamEnd>;
  stopping = false;
  private resolve!: (end: WalStreamEnd) => void;
  private reject!: (error: Error) => void;
  private connection: CopyBothConnection | null = null;
  private received: bigint;
  private flushedLsn: bigint;
  private copying = false;
  private nextTimeline: Array<string | null> | null = null;
  private failure: Error | null = null;

  constructor(
    options: WalStreamOptions,
    private readonly onData: WalDataHandler,
  ) {
    this.text = `START_REPLICATION SLOT ${options.slot} PHYSICAL ${formatLsn(options.startLsn)} TIMELINE ${options.timeline}`;
    this.received = options.startLsn;
    // What comes before the start is not asked for: as pg_receivewal does, the first status says
    // it is flushed, which sets the restart point of a slot that had none.
    this.flushedLsn = options.startLsn;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined);
  }

  submit(connection: CopyBothConnection): void {
    this.connection = connection;
    connection.query(this.text);
  }

  /** The server's CopyBothResponse: streaming has started; the first status goes out at once. */
  replicationStarted(): void {
    this.copying = true;
    this.sendStatus();
  }

  setFlushed(lsn: bigint): void {
    if (lsn <= this.flushedLsn) return;
    this.flushedLsn = lsn;
    this.sendStatus();
  }

  sendStatus(): void {
    if (!this.connection || !this.copying || this.failure) return;
    this.connection.sendCopyFromChunk(
      standbyStatusUpdate(this.received, this.flushedLsn, this.flushedLsn, Date.now()),
    );
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.failure) return;
    const chunk = message.chunk;
    const kind = String.fromCharCode(chunk[0]!);
    if (kind === 'w') {
      const start = chunk.readBigUInt64BE(1);
      const bytes = chunk.subarray(25);
      if (start !== this.received) {
        this.fail(
          new PostgresError(
            `the server sent WAL from ${formatLsn(start)} while ${formatLsn(this.received)} was expected`,
          ),
        );
        return;
      }
      this.received = start + BigInt(bytes.length);
      try {
        this.onData(start, bytes);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    } else if (kind === 'k') {
      if (chunk[17] === 1) this.sendStatus();
    } else {
      this.fail(new PostgresError(`unexpected message '${kind}' in the replication stream`));
    }
  }

  /** End of the timeline: answered with our CopyDone; the next timeline's result set follows. */
  serverCopyDone(): void {
    if (!this.copying) return;
    this.copying = false;
    this.connection?.endCopyFrom();
  }

  handleRowDescription(): void {}

  handleDataRow(message: { fields: Array<string | null> }): void {
    this.nextTimeline = message.fields;
  }

  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.reject(error);
  }

  handleError(error: Error & { severity?: string }): void {
    if (this.stopping && !error.severity) {
      this.resolve({ reason: 'stopped' });
      return;
    }
    this.fail(
      new PostgresError(
        error.severity
          ? `START_REPLICATION failed: ${error.message}`
          : `the replication connection was lost: ${error.message}`,
        error,
      ),
    );
  }

  handleReadyForQuery(): void {
    if (this.failure) return;
    const next = this.nextTimeline;
    this.resolve({
      reason: 'end-of-timeline',
      nextTimeline: next?.[0] ? Number(next[0]) : null,
      nextStart: next?.[1] ?? null,
    });
  }
}
