/**
 * Where barman-ts's own connections find a password, as libpq does (node-pg itself only takes
 * `password`, and its bundled ~/.pgpass support ignores `passfile` and prints a deprecation
 * warning): `password` in the conninfo, then PGPASSWORD, then the password file named by
 * `passfile` in the conninfo, by PGPASSFILE, or ~/.pgpass. The file is read only when the server
 * asks for a password, and ignored (here: refused, saying why) when it is not a plain file or
 * when group or other users may read it. Programs barman-ts runs (pg_basebackup, pg_receivewal)
 * get the password through their environment (see programConnection), never their arguments.
 */
import { readFile, stat } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';
import { isOpenMode } from '../util/private-files.js';
import type { ConnInfo } from './conninfo.js';
import { formatConnInfo, parseConnInfo } from './conninfo.js';

/** Debian's libpq default socket directory (also barman-ts's default host): `localhost` in a password file. */
export const DEFAULT_SOCKET_DIRECTORY = '/var/run/postgresql';

/** What a password file line is matched against. */
export interface PasswordTarget {
  host: string;
  port: string;
  database: string;
  user: string;
}

/**
 * The password file's key for a connection, with libpq's defaults: host (or hostaddr) as given,
 * `localhost` for the default socket directory or none; the port or 5432; the user or the OS
 * user; the database or the user name, and `replication` for a physical replication connection.
 */
export function passwordTarget(
  info: ConnInfo,
  options: { replication?: boolean; env?: NodeJS.ProcessEnv } = {},
): PasswordTarget {
  const env = options.env ?? process.env;
  const host = info.get('host') || env.PGHOST || info.get('hostaddr') || '';
  const user = connectionUser(info, env);
  return {
    host: host === '' || host === DEFAULT_SOCKET_DIRECTORY ? 'localhost' : host,
    port: info.get('port') || env.PGPORT || '5432',
    database: options.replication ? 'replication' : info.get('dbname') || env.PGDATABASE || user,
    user,
  };
}

/** The role a connection logs in as: `user`, PGUSER, or the OS user (libpq's default). */
export function connectionUser(info: ConnInfo, env: NodeJS.ProcessEnv = process.env): string {
  return info.get('user') || env.PGUSER || userInfo().username;
}

/** The password file libpq would read: `passfile` in the conninfo, PGPASSFILE, or ~/.pgpass. */
export function passwordFilePath(info: ConnInfo, env: NodeJS.ProcessEnv = process.env): string {
  return info.get('passfile') || env.PGPASSFILE || join(env.HOME || homedir(), '.pgpass');
}

/**
 * The password of the first line of a password file matching `target`, or undefined. Lines are
 * `host:port:database:user:password`; a field that is just `*` matches anything (in the first
 * four); `\:` and `\\` are a literal colon and backslash; lines starting with `#` are comments.
 */
export function findPasswordInFile(text: string, target: PasswordTarget): string | undefined {
  const wanted = [target.host, target.port, target.database, target.user];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('#')) continue;
    const fields = splitFields(line);
    if (fields.length < 5) continue;
    if (wanted.every((value, index) => fields[index]!.wildcard || fields[index]!.value === value)) {
      return fields[4]!.value;
    }
  }
  return undefined;
}

/** `a\:b:*:c` -> a:b, a wildcard, c: colons split fields unless escaped, and `\x` is `x`. */
function splitFields(line: string): Array<{ value: string; wildcard: boolean }> {
  const fields = [{ value: '', raw: '' }];
  for (let index = 0; index < line.length; index += 1) {
    const field = fields[fields.length - 1]!;
    const character = line[index]!;
    if (character === '\\' && index + 1 < line.length) {
      index += 1;
      field.value += line[index];
      field.raw += `\\${line[index]}`;
    } else if (character === ':') {
      fields.push({ value: '', raw: '' });
    } else {
      field.value += character;
      field.raw += character;
    }
  }
  return fields.map((field) => ({ value: field.value, wildcard: field.raw === '*' }));
}

/**
 * The password for a connection the server asks one of (see the module comment). Throws a
 * BarmanError naming the password file when none can be found: libpq's "no password supplied",
 * with the reason a file was not used.
 */
export async function resolvePassword(
  info: ConnInfo,
  options: { replication?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const env = options.env ?? process.env;
  const inline = info.get('password');
  if (inline) return inline;
  if (env.PGPASSWORD) return env.PGPASSWORD;
  const file = passwordFilePath(info, env);
  const target = passwordTarget(info, options);
  let text: string;
  try {
    const stats = await stat(file);
    if (!stats.isFile()) throw noPassword(`password file "${file}" is not a plain file`);
    if (isOpenMode(stats.mode)) {
      throw noPassword(
        `password file "${file}" has group or world access; permissions should be u=rw (0600) or less`,
      );
    }
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof BarmanError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw noPassword(
      code === 'ENOENT'
        ? `no password in the conninfo or PGPASSWORD, and no password file "${file}"`
        : `cannot read password file "${file}" (${code ?? String(error)})`,
    );
  }
  const found = findPasswordInFile(text, target);
  if (found === undefined) {
    throw noPassword(
      `no line of password file "${file}" matches ${target.host}:${target.port}:${target.database}:${target.user}`,
    );
  }
  return found;
}

function noPassword(reason: string): BarmanError {
  return new BarmanError('postgres-no-password', `no password supplied: ${reason}`, {
    hint: 'Give the password with password= or passfile= in the conninfo, PGPASSWORD or PGPASSFILE, or ~/.pgpass (mode 0600).',
  });
}

/**
 * A connection string and environment for a libpq program (pg_basebackup, pg_receivewal):
 * `settings` added (application_name), the password taken out of the connection string and
 * passed as PGPASSWORD, so that it never appears in the program's command line, which every
 * local user can read. `passfile` stays: libpq reads it, as it reads PGPASSFILE.
 */
export function programConnection(
  conninfo: string,
  settings: Readonly<Record<string, string>> = {},
): { conninfo: string; env: NodeJS.ProcessEnv } {
  const info = parseConnInfo(conninfo);
  const password = info.get('password');
  info.delete('password');
  for (const [key, value] of Object.entries(settings)) info.set(key, value);
  return {
    conninfo: formatConnInfo(info),
    env: password ? { ...process.env, PGPASSWORD: password } : process.env,
  };
}
