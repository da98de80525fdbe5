/**
 * The only importer of `pg`: every SQL statement barman-ts sends lives in this folder. One
 * PostgresClient is one session; backups keep theirs open from start to stop (a concurrent
 * backup ends with its session).
 */
import pg from 'pg';
import { BarmanError } from '../errors/index.js';
import { redactSecrets } from '../util/redact.js';
import type { ConnInfo } from './conninfo.js';
import { parseConnInfo } from './conninfo.js';
import { connectionUser, DEFAULT_SOCKET_DIRECTORY, resolvePassword } from './password.js';

export interface ConnectOptions {
  /** application_name unless the conninfo sets one (Barman: `barman`). */
  applicationName?: string;
  connectTimeoutSeconds?: number;
}

/** node-pg settings for a libpq connection string; `replication`: a physical replication connection. */
export function clientConfig(
  info: ConnInfo,
  options: ConnectOptions & { replication?: boolean },
): pg.ClientConfig {
  const port = info.get('port');
  const sslmode = info.get('sslmode');
  const connectTimeout = Number(info.get('connect_timeout') ?? options.connectTimeoutSeconds ?? 30);
  const replication = options.replication === true;
  return {
    host: info.get('host') ?? info.get('hostaddr') ?? process.env.PGHOST ?? DEFAULT_SOCKET_DIRECTORY,
    port: port ? Number(port) : undefined,
    user: connectionUser(info),
    // Asked only when the server wants a password: conninfo, PGPASSWORD, then the password file.
    password: () => resolvePassword(info, { replication }),
    database: info.get('dbname'),
    ...(replication ? { replication: 'true' } : {}),
    application_name: info.get('application_name') ?? options.applicationName ?? 'barman',
    options: info.get('options'),
    ssl:
      sslmode && !['disable', 'allow', 'prefer'].includes(sslmode)
        ? { rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' }
        : undefined,
    connectionTimeoutMillis: connectTimeout > 0 ? connectTimeout * 1000 : undefined,
    keepAlive: true,
  };
}

export class PostgresError extends BarmanError {
  constructor(message: string, cause?: unknown) {
    super('postgres', redactSecrets(message), { cause });
    this.name = 'PostgresError';
  }
}

export class PostgresClient {
  private closing = false;
  private lostError: Error | null = null;
  private readonly lostListeners: Array<(error: Error) => void> = [];

  private constructor(
    private readonly client: pg.Client,
    /** server_version_num, e.g. 150018. */
    readonly serverVersion: number,
  ) {
    const lost = (error: Error) => {
      if (this.closing || this.lostError) return;
      this.lostError = error;
      for (const listener of this.lostListeners.splice(0)) listener(error);
    };
    client.on('error', (error: Error) => lost(new PostgresError(error.message, error)));
    client.on('end', () => lost(new PostgresError('the connection was closed by the server')));
  }

  /**
   * Resolves with the reason when the session ends without close() (server shut down, backend
   * terminated, network lost): a concurrent backup dies with its session.
   */
  whenLost(): Promise<Error> {
    if (this.lostError) return Promise.resolve(this.lostError);
    return new Promise((resolve) => this.lostListeners.push(resolve));
  }

  static async connect(conninfo: string, options: ConnectOptions = {}): Promise<PostgresClient> {
    const client = new pg.Client(clientConfig(parseConnInfo(conninfo), options));
    // A broken connection during a long copy must not crash the process; the next query reports it.
    client.on('error', () => {});
    try {
      await client.connect();
      const rows = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
      return new PostgresClient(client, Number(rows.rows[0]!.v));
    } catch (error) {
      await client.end().catch(() => {});
      throw new PostgresError(
        `cannot connect to PostgreSQL (${describe(conninfo)}): ${(error as Error).message}`,
        error,
      );
    }
  }

  async query<Row extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params: unknown[] = [],
  ): Promise<Row[]> {
    try {
      return (await this.client.query<Row>(sql, params)).rows;
    } catch (error) {
      throw new PostgresError(`query failed: ${(error as Error).message}`, error);
    }
  }

  /** Neither closed nor lost: queries can still be sent. */
  get usable(): boolean {
    return !this.closing && this.lostError === null;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.client.end().catch(() => {});
  }

  /** `15.18`, `9.6.24` — PostgreSQL's text form of the version. */
  get versionText(): string {
    return versionText(this.serverVersion);
  }

  /** `15`, `9.6` — the major version, as identity.json stores it. */
  get majorVersion(): string {
    return majorVersion(this.serverVersion);
  }
}

/** server_version_num as text: `150018` -> `15.18`, `90624` -> `9.6.24`. */
export function versionText(version: number): string {
  return version >= 100000
    ? `${Math.floor(version / 10000)}.${version % 10000}`
    : `${Math.floor(version / 10000)}.${Math.floor(version / 100) % 100}.${version % 100}`;
}

/** `150018` -> `15`, `90624` -> `9.6`. */
export function majorVersion(version: number): string {
  return version >= 100000
    ? String(Math.floor(version / 10000))
    : `${Math.floor(version / 10000)}.${Math.floor(version / 100) % 100}`;
}

/** host/port/user/dbname of a conninfo for messages, never the password. */
export function describe(conninfo: string): string {
  try {
    const info = parseConnInfo(conninfo);
    return ['host', 'port', 'user', 'dbname']
      .filter((key) => info.has(key))
      .map((key) => `${key}=${info.get(key)}`)
      .join(' ');
  } catch {
    return 'invalid conninfo';
  }
}
