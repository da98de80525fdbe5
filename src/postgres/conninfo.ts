/**
 * libpq connection strings: `key=value` pairs (values optionally single-quoted, `\'` and `\\`
 * escapes) or `postgresql://` URIs. Parsed here so barman-ts can add settings (application_name,
 * replication) and redact passwords without losing any other option.
 */
import { BarmanError } from '../errors/index.js';

export type ConnInfo = Map<string, string>;

export function parseConnInfo(text: string): ConnInfo {
  const trimmed = text.trim();
  if (/^postgres(ql)?:\/\//.test(trimmed)) return parseUri(trimmed);
  const result: ConnInfo = new Map();
  let index = 0;
  const skipSpaces = () => {
    while (index < trimmed.length && /\s/.test(trimmed[index]!)) index += 1;
  };
  while (index < trimmed.length) {
    skipSpaces();
    if (index >= trimmed.length) break;
    const keyStart = index;
    while (index < trimmed.length && /[A-Za-z0-9_]/.test(trimmed[index]!)) index += 1;
    const key = trimmed.slice(keyStart, index);
    skipSpaces();
    if (!key || trimmed[index] !== '=') {
      throw new BarmanError(
        'conninfo-invalid',
        `invalid connection string near '${trimmed.slice(keyStart, keyStart + 20)}'`,
      );
    }
    index += 1;
    skipSpaces();
    let value = '';
    if (trimmed[index] === "'") {
      index += 1;
      while (index < trimmed.length && trimmed[index] !== "'") {
        if (trimmed[index] === '\\' && index + 1 < trimmed.length) index += 1;
        value += trimmed[index];
        index += 1;
      }
      if (trimmed[index] !== "'")
        throw new BarmanError('conninfo-invalid', `unterminated quoted value for '${key}'`);
      index += 1;
    } else {
      while (index < trimmed.length && !/\s/.test(trimmed[index]!)) {
        if (trimmed[index] === '\\' && index + 1 < trimmed.length) index += 1;
        value += trimmed[index];
        index += 1;
      }
    }
    result.set(key, value);
  }
  return result;
}

function parseUri(uri: string): ConnInfo {
  const url = new URL(uri.replace(/^postgres(ql)?:/, 'http:'));
  const result: ConnInfo = new Map();
  if (url.hostname) result.set('host', decodeURIComponent(url.hostname));
  if (url.port) result.set('port', url.port);
  if (url.username) result.set('user', decodeURIComponent(url.username));
  if (url.password) result.set('password', decodeURIComponent(url.password));
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) result.set('dbname', database);
  for (const [key, value] of url.searchParams) result.set(key, value);
  return result;
}

/** Serialises back to libpq key=value form, quoting where needed. */
export function formatConnInfo(info: ConnInfo): string {
  return [...info.entries()]
    .map(
      ([key, value]) =>
        `${key}=${/^[^\s'\\]+$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`,
    )
    .join(' ');
}
