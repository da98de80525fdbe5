/**
 * The local side of a restore drill: its private directory (recovered PGDATA, relocated
 * tablespaces, socket, the drill's own pg_hba.conf), the free space there, and the PostgreSQL
 * started on the copy — on 127.0.0.1 and a free port, archiving off, connections only through
 * a socket in the 0700 directory (pg_hba: local trust, nothing else), the copy's own settings
 * pointing at production files overridden — and stopped and removed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BarmanError, describeError } from '../../errors/index.js';

export interface DrillDirectory {
  root: string;
  data: string;
  socket: string;
  log: string;
  tablespace(name: string): string;
}

/** A new private directory below `base` (created if missing, as barman_user). */
export async function createDrillDirectory(base: string, server: string): Promise<DrillDirectory> {
  await mkdir(base, { recursive: true, mode: 0o700 });
  const root = await mkdtemp(join(base, `barman-drill-${server}-`));
  await chmod(root, 0o700);
  const socket = join(root, 'socket');
  await mkdir(socket, { mode: 0o700 });
  await mkdir(join(root, 'tablespaces'), { mode: 0o700 });
  return {
    root,
    data: join(root, 'data'),
    socket,
    log: join(root, 'postgresql.log'),
    tablespace: (name) => join(root, 'tablespaces', name),
  };
}

export async function removeDrillDirectory(directory: DrillDirectory): Promise<void> {
  await rm(directory.root, { recursive: true, force: true });
}

/** Bytes an unprivileged user may still write on the file system of `path` (or its nearest parent). */
export async function freeBytes(path: string): Promise<number> {
  let current = path;
  for (;;) {
    try {
      const stats = await statfs(current);
      return stats.bavail * stats.bsize;
    } catch (error) {
      const parent = join(current, '..');
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error;
      current = parent;
    }
  }
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** A TCP port free on 127.0.0.1 now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port was given')),
      );
    });
  });
}

export class DrillPostgres {
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly logFile: string,
  ) {
    this.exit = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.exited = { code, signal };
        resolve();
      }),
    );
  }

  /**
   * Starts `postgres` on the recovered copy. Settings the copy may carry from production and
   * that would reach outside the drill (data_directory, hba_file, the archiver, sockets, SSL
   * files, a pid file elsewhere, the primary, subscriptions' apply workers) are overridden on the command line, which wins over both
   * configuration files.
   */
  static async start(postgres: string, directory: DrillDirectory): Promise<DrillPostgres> {
    const hba = join(directory.root, 'pg_hba.conf');
    const ident = join(directory.root, 'pg_ident.conf');
    await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
    await writeFile(ident, '', { mode: 0o600 });
    // A backup of a cluster whose postgresql.conf lives outside PGDATA (Debian) has none.
    const configFile = join(directory.data, 'postgresql.conf');
    if (!existsSync(configFile)) await writeFile(configFile, '', { mode: 0o600 });
    const port = await freePort();
    const settings: Record<string, string> = {
      config_file: configFile,
      data_directory: directory.data,
      hba_file: hba,
      ident_file: ident,
      external_pid_file: '',
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: directory.socket,
      archive_mode: 'off',
      archive_command: '',
      // Never reach production from a copy of it: no streaming from its primary, and no logical
      // replication apply worker (a subscription would consume the publisher's slot).
      primary_conninfo: '',
      primary_slot_name: '',
      // A delayed standby's setting in the copy would hold each commit back: replay at once.
      recovery_min_apply_delay: '0',
      max_logical_replication_workers: '0',
      ssl: 'off',
      logging_collector: 'off',
      log_destination: 'stderr',
      cluster_name: 'barman-restore-drill',
      hot_standby: 'on',
    };
    const args = [
      '-D',
      directory.data,
      ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ];
    const log = openSync(directory.log, 'a', 0o600);
    try {
      // Its own process group: the end of the drill can reach every process of the copy, even
      // a backend or startup process the postmaster no longer answers for.
      const child = spawn(postgres, args, {
        cwd: directory.data,
        stdio: ['ignore', log, log],
        detached: true,
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (error) =>
          reject(new BarmanError('drill-postgres', `cannot start ${postgres}: ${describeError(error)}`)),
        );
      });
      return new DrillPostgres(child, port, directory.log);
    } finally {
      closeSync(log);
    }
  }

  /** Null while running; otherwise how it ended, with the end of its log. */
  get ended(): string | null {
    if (!this.exited) return null;
    const how = this.exited.signal
      ? `was ended by ${this.exited.signal}`
      : `exited with code ${this.exited.code}`;
    return `PostgreSQL ${how}: ${this.logTail()}`;
  }

  /**
   * The last lines of the server's log that say something (FATAL, ERROR, PANIC, WARNING
   * first), without the refusals of the drill's own attempts to connect before it was ready.
   */
  logTail(lines = 3): string {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no log)';
    }
    const all = text
      .split('\n')
      .filter(
        (line) =>
          line.trim() !== '' &&
          !/FATAL: {2}the database system is (starting up|not yet accepting connections)/.test(line),
      );
    const serious = all.filter((line) => /\b(FATAL|PANIC|ERROR|WARNING):/.test(line));
    return (serious.length > 0 ? serious : all).slice(-lines).join(' | ') || '(empty log)';
  }

  /**
   * Fast shutdown (SIGINT); immediate (SIGQUIT) after `graceMs`, then SIGKILL; whatever of
   * its process group is still there then (a child the postmaster left behind) is killed too.
   */
  async stop(graceMs = 60_000): Promise<void> {
    for (const [signal, waitMs] of [
      ['SIGINT', graceMs],
      ['SIGQUIT', 10_000],
      ['SIGKILL', 10_000],
    ] as const) {
      if (this.exited) break;
      try {
        this.child.kill(signal);
      } catch {
        break;
      }
      await Promise.race([this.exit, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]);
    }
    this.signalGroup('SIGKILL');
  }

  /** A last resort on process exit: the copy must never outlive the drill. */
  killNow(): void {
    if (!this.exited) this.child.kill('SIGQUIT');
    this.signalGroup('SIGQUIT');
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // ESRCH: the group is empty, every process of the copy has ended.
    }
  }
}
