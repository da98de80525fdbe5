/**
 * A server process a test starts on a free 127.0.0.1 port (s3rver, moto_server): its output in a
 * log file, stopped by pid (the exit registry stops a forgotten one), ready once it accepts
 * connections; a start that fails is reported with the log's tail.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import {
  canConnect,
  childEnv,
  fileTail,
  isProcessAlive,
  processStartTime,
  registerExitCleanup,
  terminateProcess,
  terminateProcessSync,
  waitFor,
} from './tmp.js';

export interface ListeningDaemonOptions {
  /** For messages: `s3rver`, `moto_server`. */
  name: string;
  /** The program and its arguments; the spawned process must be the server itself (its pid is stopped). */
  command: string;
  args: readonly string[];
  port: number;
  logFile: string;
  /** The test directory the server owns: removed when it stops. */
  dir: string;
  timeoutMs: number;
}

export interface ListeningDaemon {
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** The last lines of its log, for messages. */
  logTail(): string;
}

export async function startListeningDaemon(options: ListeningDaemonOptions): Promise<ListeningDaemon> {
  const { name, logFile } = options;
  const logFd = openSync(logFile, 'a');
  const child = spawn(options.command, options.args, {
    stdio: ['ignore', logFd, logFd],
    env: childEnv(),
  });
  closeSync(logFd);
  // The exit registry, not a live child handle, keeps a forgotten server from outliving the tests.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    const reason = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${name} did not start: ${reason.message}`, { cause: reason });
  }
  const startTime = processStartTime(pid);
  const unregister = registerExitCleanup(() => terminateProcessSync(pid, 'SIGTERM', 5_000, startTime));
  const daemon: ListeningDaemon = {
    async stop() {
      await terminateProcess(pid, 'SIGTERM', 5_000, startTime);
      unregister();
      await rm(options.dir, { recursive: true, force: true });
    },
    logTail: () => fileTail(logFile),
  };
  try {
    await waitFor(
      `${name} on port ${options.port}`,
      async () => {
        if (!isProcessAlive(pid)) throw new Error(`${name} exited`);
        return canConnect(options.port);
      },
      { timeoutMs: options.timeoutMs },
    );
  } catch (error) {
    const logTail = daemon.logTail();
    await daemon.stop();
    throw new Error(
      `${name} did not start: ${(error as Error).message}\n--- ${logFile} (tail) ---\n${logTail}`,
      {
        cause: error,
      },
    );
  }
  return daemon;
}
