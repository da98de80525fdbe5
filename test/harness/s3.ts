// A local S3-compatible server (s3rver) for integration tests, one child process per call.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ServerConfig } from '../../src/config/index.js';
import { BARMAN_BIN } from './barman.js';
import { startListeningDaemon } from './daemon.js';
import { freePort, makeTempDir } from './tmp.js';

export interface S3ServerOptions {
  /** Buckets created before the server starts listening. */
  buckets?: readonly string[];
}

export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: 'us-east-1';
  /** Where s3rver keeps buckets and objects (one directory per bucket). */
  readonly dataDir: string;
  /** Credentials for child processes (e.g. barman-cloud-* or our own CLI). */
  readonly env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; AWS_DEFAULT_REGION: string };
  /** Options for `new S3Client(...)` that work with s3rver: path-style addressing, fixed region. */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Stops the server and removes its data. Idempotent. */
  stop(): Promise<void>;
}

// s3rver accepts exactly this key pair unless configured otherwise.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const REGION = 'us-east-1';
const S3RVER_BIN = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const dir = await makeTempDir('s3');
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 's3rver.log');
  const port = await freePort();
  const buckets = (options.buckets ?? []).flatMap((bucket) => ['--configure-bucket', bucket]);

  // s3rver creates the buckets before it listens, so a connection means it is ready.
  const daemon = await startListeningDaemon({
    name: 's3rver',
    // node itself is the child (no shell in between), so its pid is the server's (pitfall P16).
    command: process.execPath,
    // s3rver encrypts its ListObjects continuation tokens with DES, which Node's OpenSSL 3 only
    // has in its legacy provider: without it, a listing longer than a page (or a stat of a
    // "directory") answers HTTP 500. Real S3 has no such limit.
    args: [
      '--openssl-legacy-provider',
      S3RVER_BIN,
      '--directory',
      dataDir,
      '--address',
      '127.0.0.1',
      '--port',
      String(port),
      ...buckets,
    ],
    port,
    logFile,
    dir,
    timeoutMs: 20_000,
  });

  const endpoint = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    region: REGION,
    dataDir,
    env: {
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_DEFAULT_REGION: REGION,
    },
    clientConfig: {
      endpoint,
      region: REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    },
    stop() {
      return (stopping ??= daemon.stop());
    },
  };
}

/**
 * The server options `storageFor` reads, for tests that open a Storage directly: the S3 driver
 * pointed at `s3` (or none, for a directory).
 */
export function storageTestConfig(s3: S3Server | null): ServerConfig {
  return {
    aws_region: 'us-east-1',
    aws_profile: null,
    aws_endpoint_url: s3?.endpoint ?? null,
    aws_encryption: null,
    aws_sse_kms_key_id: null,
    aws_read_timeout: 30,
    cloud_upload_min_chunk_size: 5 * 1024 * 1024,
    parallel_jobs: 2,
    cloud_delete_batch_size: 1000,
  } as unknown as ServerConfig;
}

/**
 * PostgreSQL's archive_command running barman-ts's `cloud-wal-archive SERVER %p` with `config`
 * and the credentials of `s3` (plus `env`, e.g. GNUPGHOME), as the cloud tests archive WAL.
 */
export function cloudWalArchiveCommand(
  s3: S3Server,
  config: string,
  options: { server?: string; env?: Record<string, string> } = {},
): string {
  const env = {
    ...options.env,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  return `env ${assignments.join(' ')} ${process.execPath} ${BARMAN_BIN} -c ${config} -q cloud-wal-archive ${options.server ?? 'main'} %p`;
}
