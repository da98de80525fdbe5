/**
 * What the metrics read outside the catalogue, each bounded so one slow part cannot stall a
 * scrape: the local WAL queues (incoming/ — which is cloud-wal-archive --async's spool for an
 * s3:// wals_directory —, streaming/, errors/: one directory listing and a stat per file), and
 * PostgreSQL's pg_stat_archiver over one short-lived session under a timeout.
 */
import type { ServerConfig } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import type { ArchiverStatus } from '../../../postgres/index.js';
import { archiverStatus, PostgresClient } from '../../../postgres/index.js';
import { PosixStorage } from '../../../storage/index.js';

export type WalQueue = 'incoming' | 'streaming' | 'errors';

export interface QueueFacts {
  queue: WalQueue;
  files: number;
  bytes: number;
  /** Age of the oldest file waiting, seconds; null when the queue is empty. */
  oldestAgeSeconds: number | null;
}

/**
 * Files waiting in one of the server's local WAL directories. Temp files of put-wal and
 * archive_command (dot files, `*.tmp`) are still being written and pg_receivewal's `.partial`
 * is the segment it is writing: none of them waits. A directory not created yet is empty.
 */
export async function queueFacts(config: ServerConfig, queue: WalQueue, nowMs: number): Promise<QueueFacts> {
  const directory =
    queue === 'incoming'
      ? config.incoming_wals_directory
      : queue === 'streaming'
        ? config.streaming_wals_directory
        : config.errors_directory;
  const storage = new PosixStorage(directory);
  const entries = await storage.list('').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  const facts: QueueFacts = { queue, files: 0, bytes: 0, oldestAgeSeconds: null };
  for (const entry of entries) {
    if (entry.kind !== 'file' || entry.name.startsWith('.') || entry.name.endsWith('.tmp')) continue;
    if (queue === 'streaming' && entry.name.endsWith('.partial')) continue;
    const info = await storage.stat(entry.name).catch(() => null);
    if (!info) continue; // archived meanwhile
    facts.files += 1;
    facts.bytes += info.size;
    const age = Math.max(0, (nowMs - info.mtimeMs) / 1000);
    facts.oldestAgeSeconds = Math.max(facts.oldestAgeSeconds ?? age, age);
  }
  return facts;
}

export type ArchiverProbe = { up: true; archiver: ArchiverStatus } | { up: false; error: string };

/**
 * pg_stat_archiver of the server's PostgreSQL, or why not within `timeoutSeconds` (connection
 * and query together). A connection that completes after the timeout is closed at once.
 */
export async function probeArchiver(config: ServerConfig, timeoutSeconds: number): Promise<ArchiverProbe> {
  const conninfo = config.conninfo;
  if (!conninfo) return { up: false, error: `no conninfo for server '${config.name}'` };
  let timedOut = false;
  let session: PostgresClient | null = null;
  let timer: NodeJS.Timeout | undefined;
  const work = (async (): Promise<ArchiverProbe> => {
    const client = await PostgresClient.connect(conninfo, { connectTimeoutSeconds: timeoutSeconds });
    session = client;
    try {
      if (timedOut) return { up: false, error: 'timed out' };
      return { up: true, archiver: await archiverStatus(client) };
    } finally {
      await client.close();
    }
  })().catch((error: unknown): ArchiverProbe => ({ up: false, error: describeError(error) }));
  const timeout = new Promise<ArchiverProbe>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      // A query still waiting ends with its session (the work promise then settles on its own).
      void session?.close();
      resolve({ up: false, error: `no answer from PostgreSQL within ${timeoutSeconds} seconds` });
    }, timeoutSeconds * 1000);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
