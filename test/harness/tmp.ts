// Process-level plumbing for the real-parts test rig: temp dirs, an exit registry that
// stops whatever a test started, free ports, running commands as other OS users.
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, realpath } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// ---------------------------------------------------------------------------------------------
// Exit registry

/** A synchronous cleanup: it may run inside process.on('exit'), where nothing async completes. */
export type ExitCleanup = () => void;

const exitCleanups: ExitCleanup[] = [];
let exitHooksInstalled = false;

/**
 * Runs `cleanup` when the process exits (normally, on an uncaught error, or on SIGINT/SIGTERM/SIGHUP)
 * unless the returned function unregisters it first. Cleanups run last-registered first.
 */
export function registerExitCleanup(cleanup: ExitCleanup): () => void {
  installExitHooks();
  exitCleanups.push(cleanup);
  return () => {
    const index = exitCleanups.indexOf(cleanup);
    if (index >= 0) exitCleanups.splice(index, 1);
  };
}

function runExitCleanups(): void {
  for (let cleanup = exitCleanups.pop(); cleanup; cleanup = exitCleanups.pop()) {
    try {
      cleanup();
    } catch (error) {
      console.error('test harness: exit cleanup failed:', error);
    }
  }
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', runExitCleanups);
  // A signal's default action ends the process without an 'exit' event. Clean up, then re-raise:
  // with our one-shot listener gone, the default action (or node:test's own handler) takes over.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runExitCleanups();
      process.kill(process.pid, signal);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Users

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function currentUserName(): string {
  return userInfo().username;
}

/** The passwd entry of `name`, or null when there is no such user. */
export async function findOsUser(name: string): Promise<OsUser | null> {
  let entry: string;
  try {
    entry = (await runAs(null, 'getent', ['passwd', name])).stdout.trim();
  } catch {
    return null; // getent exits 2 for an unknown user
  }
  const [, , uid, gid, , home] = entry.split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
}

export async function lookupOsUser(name: string): Promise<OsUser> {
  const user = await findOsUser(name);
  if (!user) throw new Error(`OS user '${name}' does not exist`);
  return user;
}

/** Returns the OS user `name`, creating it as a system user with a home directory when missing. */
export async function ensureOsUser(name: string): Promise<OsUser> {
  for (let attempt = 1; ; attempt++) {
    const existing = await findOsUser(name);
    if (existing) return existing;
    if (!isRoot()) throw new Error(`OS user '${name}' does not exist and only root can create it`);
    try {
      await runAs(null, 'useradd', ['--system', '--create-home', '--shell', '/bin/bash', name]);
    } catch (error) {
      // Test files run in parallel: another one may hold the passwd lock or have just created the user.
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Directories

export interface DirOptions {
  /** OS user that will own the directory (applied only when running as root). */
  owner?: string;
  /** Defaults to 0o755 so that other OS users (postgres, barman) can traverse it. */
  mode?: number;
}

/** Creates a fresh directory under os.tmpdir(); it is removed at process exit at the latest. */
export async function makeTempDir(prefix: string, options: DirOptions = {}): Promise<string> {
  // realpath: paths must match what /proc reports for processes running inside (no symlinks)
  const dir = await realpath(await mkdtemp(join(tmpdir(), `barman-ts-${prefix}-`)));
  registerExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  await applyDirOptions(dir, options);
  return dir;
}

/** mkdir (parents included) with an explicit mode and, when root, owner. */
export async function createDir(path: string, options: DirOptions = {}): Promise<string> {
  await mkdir(path, { recursive: true });
  await applyDirOptions(path, options);
  return path;
}

async function applyDirOptions(path: string, { owner, mode = 0o755 }: DirOptions): Promise<void> {
  await chmod(path, mode); // explicit: mkdir/mkdtemp modes are filtered by the umask
  await chownTo(path, owner);
}

/** chown `path` to `owner` (user and its primary group); a no-op when not root or no owner is given. */
export async function chownTo(path: string, owner: string | undefined): Promise<void> {
  if (!owner || !isRoot()) return;
  const { uid, gid } = await lookupOsUser(owner);
  await chown(path, uid, gid);
}

// ---------------------------------------------------------------------------------------------
// Running commands

export interface RunOptions {
  cwd?: string;
  /** Added to (or, with undefined, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** The environment for child processes: the parent's plus `extra`, never NODE_EXTRA_CA_CERTS. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // Servers pass it on to archive_command etc., where it costs ~50 ms per node start (pitfall P13).
  delete env.NODE_EXTRA_CA_CERTS;
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

export interface CompletedRun extends RunResult {
  /** Exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** How the command was shown in messages, e.g. `(as barman) barman list-server`. */
  display: string;
}

/**
 * Runs `command` with `args` (no shell) to completion, whatever its exit code. As root with a
 * `user`, it runs via `runuser -u user --`; otherwise (no user, or not root) as the current user.
 */
export function runCompletely(
  user: string | null,
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CompletedRun> {
  const switchUser = user !== null && isRoot() && user !== 'root';
  const [file, argv]: [string, string[]] = switchUser
    ? ['runuser', ['-u', user, '--', command, ...args]]
    : [command, [...args]];
  const display = [...(switchUser ? [`(as ${user})`] : []), command, ...args].join(' ');
  const timeoutMs = options.timeoutMs ?? 120_000;

  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      // Tools like pg_ctl fail when they cannot read their working directory (e.g. /root).
      cwd: options.cwd ?? (switchUser ? '/' : undefined),
      env: childEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on('error', () => {}); // the command may exit without reading its input
    child.stdin.end(options.input);

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${display}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        exitCode: code,
        signal,
        timedOut,
        display,
      });
    });
  });
}

/** Like runCompletely, but rejects when the command exits non-zero or outlives `timeoutMs`. */
export async function runAs(
  user: string | null,
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const run = await runCompletely(user, command, args, options);
  if (run.exitCode === 0) return { stdout: run.stdout, stderr: run.stderr };
  const why = run.timedOut
    ? `timed out after ${options.timeoutMs ?? 120_000} ms`
    : `exited with ${run.exitCode ?? run.signal}`;
  const output = (run.stderr.trim() || run.stdout.trim()).slice(-4000);
  throw new Error(`${run.display} ${why}${output ? `:\n${output}` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// Ports, polling, processes

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        return reject(new Error('freePort: no TCP address'));
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Whether a TCP connection to host:port is accepted right now. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls `condition` until it returns true; rejects with `what` in the message after the timeout. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 100 }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Whether `pid` is a live process. Zombies count as dead: PID 1 here reaps late (pitfall P17). */
export function isProcessAlive(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** The working directory of `pid`, or null when it cannot be read (gone, or not ours). */
export function processCwd(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/**
 * When `pid` started (clock ticks after boot, from /proc/<pid>/stat), or null when there is no
 * such process. With the pid it names one process for good: pids are reused (pid_max is 32768
 * here, and the suite starts processes by the thousand), so a server that died on its own must
 * not have its old pid signalled — that could stop another test's PostgreSQL.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the fields after the command name (which may hold spaces) start at field 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Sends `signal`, waits up to `graceMs` for the process to die, then SIGKILLs it. With
 * `startTime` (processStartTime when it was started), a process by that pid that started at
 * another time is someone else's, and is left alone.
 */
export async function terminateProcess(
  pid: number,
  signal: NodeJS.Signals,
  graceMs = 5_000,
  startTime?: string | null,
): Promise<void> {
  if (!sendSignal(pid, signal, startTime)) return;
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await sleep(50);
  if (sendSignal(pid, 'SIGKILL', startTime)) await waitFor(`pid ${pid} to die`, () => !isProcessAlive(pid));
}

/** terminateProcess for exit cleanups, which must not return before the work is done. */
export function terminateProcessSync(
  pid: number,
  signal: NodeJS.Signals,
  graceMs = 5_000,
  startTime?: string | null,
): void {
  if (!sendSignal(pid, signal, startTime)) return;
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) sleepSync(50);
  sendSignal(pid, 'SIGKILL', startTime);
}

function sendSignal(pid: number, signal: NodeJS.Signals, startTime?: string | null): boolean {
  if (!isProcessAlive(pid)) return false;
  if (startTime !== undefined && processStartTime(pid) !== startTime) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // exited in between
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The last `lines` lines of a text file, or a note that it could not be read. */
export function fileTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read ${path}: ${(error as Error).message})`;
  }
}
