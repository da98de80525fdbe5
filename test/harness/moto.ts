/**
 * An S3 server that enforces Object Lock, for worm_mode's tests: Debian 13's moto_server
 * (python3-moto), run inside the Debian 13 root (scripts/debian13-root.sh installs it) on a free
 * 127.0.0.1 port, one process per call. s3rver (startS3Server) ignores Object Lock. moto keeps
 * everything in memory: stopping the server forgets every bucket. It accepts any credentials.
 */
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startListeningDaemon } from './daemon.js';
import { DEBIAN13_ROOT, DEBIAN13_SCRIPT, ensureDebian13Root } from './debian13.js';
import { freePort, makeTempDir } from './tmp.js';

export interface MotoBucket {
  name: string;
  /** Created with Object Lock enabled (and so versioning), as `aws s3api create-bucket --object-lock-enabled-for-bucket`. */
  objectLock: boolean;
}

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: 'us-east-1';
  /** Credentials for child processes (barman-ts's CLI). */
  readonly env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; AWS_DEFAULT_REGION: string };
  /** A client of this server, for tests that inspect objects and their retention. */
  readonly client: S3Client;
  /** Stops the server (its buckets are gone with it). Idempotent. */
  stop(): Promise<void>;
}

const ACCESS_KEY_ID = 'moto-test';
const SECRET_ACCESS_KEY = 'moto-test-secret';
const REGION = 'us-east-1';

export async function startMotoServer(buckets: readonly MotoBucket[] = []): Promise<MotoServer> {
  await ensureDebian13Root();
  const dir = await makeTempDir('moto');
  const logFile = join(dir, 'moto.log');
  const port = await freePort();
  const daemon = await startListeningDaemon({
    name: 'moto_server',
    // debian13-root.sh `run` execs chroot, which execs moto_server: the child's pid is the server's.
    command: 'bash',
    args: [DEBIAN13_SCRIPT, 'run', DEBIAN13_ROOT, '--', 'moto_server', '-H', '127.0.0.1', '-p', String(port)],
    port,
    logFile,
    dir,
    timeoutMs: 30_000,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  });
  const stopServer = async (): Promise<void> => {
    client.destroy();
    await daemon.stop();
  };
  try {
    for (const bucket of buckets) {
      await client.send(
        new CreateBucketCommand({ Bucket: bucket.name, ObjectLockEnabledForBucket: bucket.objectLock }),
      );
    }
  } catch (error) {
    const logTail = daemon.logTail();
    await stopServer();
    throw new Error(
      `moto_server could not create its buckets: ${(error as Error).message}\n--- ${logFile} (tail) ---\n${logTail}`,
      { cause: error },
    );
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    region: REGION,
    env: {
      AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
      AWS_DEFAULT_REGION: REGION,
    },
    client,
    stop() {
      return (stopping ??= stopServer());
    },
  };
}
