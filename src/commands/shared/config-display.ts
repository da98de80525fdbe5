/**
 * A server's configuration as operators see it: JSON-friendly values (for `-f json`, diagnose)
 * and Barman's Python-style console strings (for `show-server`). Secrets are redacted here.
 */
import type { ServerEntry } from '../../config/index.js';
import {
  formatGfsPolicy,
  formatInterval,
  formatLocation,
  formatProblem,
  formatRetentionPolicy,
} from '../../config/index.js';
import type { GfsPolicy, Interval, Location, RetentionPolicy } from '../../config/index.js';
import { pythonRepr, pythonStr } from '../../output/format.js';
import { redactSecrets, redactValue } from '../../util/redact.js';
import { isPassive } from './passive/state.js';

/** Keys whose values are structured and need a specific rendering. */
const LOCATION_KEYS = new Set(['basebackups_directory', 'wals_directory']);
const INTERVAL_KEYS = new Set(['last_backup_maximum_age', 'last_wal_maximum_age']);

/** Paths and flags derived from the options, shown beside them. */
export function derivedValues(server: ServerEntry): Record<string, unknown> {
  const config = server.config;
  const wals = config.wals_directory;
  const xlogdbFile = config.xlogdb_directory
    ? `${config.xlogdb_directory}/${server.name}-xlog.db`
    : wals.kind === 'posix'
      ? `${wals.path}/xlog.db`
      : `${wals.url}/xlog.db`;
  return {
    name: server.name,
    disabled: server.disabled,
    msg_list: server.problems.map(formatProblem),
    passive_node: isPassive(config),
    xlogdb_file: xlogdbFile,
    // Barman 3.13+: the model config-switch made active, or None.
    active_model: server.activeModel,
  };
}

/**
 * Every option and derived value as JSON-friendly data, sorted by key; `live` adds what PostgreSQL
 * reports (the remote status), whose null values never hide an option's (Barman's rule).
 */
export function serverConfigJson(
  server: ServerEntry,
  live: Record<string, unknown> = {},
): Record<string, unknown> {
  const config = server.config as unknown as Record<string, unknown>;
  const values: Record<string, unknown> = { ...derivedValues(server) };
  for (const [key, value] of Object.entries(config)) values[key] = jsonValue(key, value);
  for (const [key, value] of Object.entries(live)) {
    if (value !== null || !(key in values)) values[key] = value;
  }
  return redactValue(sortKeys(values));
}

/** JSON values as Barman 3.4 writes them: objects it has no JSON form for as their str(). */
function jsonValue(key: string, value: unknown): unknown {
  switch (key) {
    case 'backup_options':
      return `BackupOptions(${setRepr(value as string[] | null)})`;
    case 'recovery_options':
      return `RecoveryOptions(${setRepr(value as string[] | null)})`;
    case 'wal_retention_policy':
      return typeof value === 'string' ? value.toUpperCase() : null;
  }
  if (value === null || value === undefined) return null;
  if (LOCATION_KEYS.has(key)) return formatLocation(value as Location);
  if (key === 'retention_policy') return formatRetentionPolicy(value as RetentionPolicy);
  if (key === 'retention_gfs') return formatGfsPolicy(value as GfsPolicy);
  if (INTERVAL_KEYS.has(key)) return formatInterval(value as Interval);
  return value;
}

/** `show-server` console lines for one server: `\tkey: value`, sorted. */
export function serverConfigConsole(
  server: ServerEntry,
  live: Record<string, unknown> = {},
  showSources = false,
): string[] {
  const json = serverConfigJson(server, live);
  return Object.entries(json).map(
    ([key, value]) =>
      `\t${key}: ${redactSecrets(pythonStr(value))}` +
      (showSources && !(key in live) ? ` (source: ${configSourceText(server, key)})` : ''),
  );
}

/**
 * `diagnose --show-config-source`: each value as `{"value", "source"}` (Barman's shape: the file
 * that set it, or "default"), plus where in it: `section`, `line` and, for a value of the active
 * model, `model`.
 */
export function withConfigSources(
  server: ServerEntry,
  values: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => {
      const source = server.sources[key];
      if (!source || source.kind === 'default') return [key, { value, source: 'default' }];
      const where = { value, source: source.file, section: source.section, line: source.line };
      return [key, source.kind === 'model' ? { ...where, model: source.model } : where];
    }),
  );
}

/** `show-server --show-config-source`: where a value was set, for the end of its line. */
export function configSourceText(server: ServerEntry, key: string): string {
  const source = server.sources[key];
  if (!source || source.kind === 'default') return key in server.config ? 'default' : 'derived';
  const where = `${source.file}:${source.line} [${source.section}]`;
  return source.kind === 'model' ? `model '${source.model}', ${where}` : where;
}

function setRepr(words: readonly string[] | null): string {
  return words && words.length > 0 ? `{${words.map(pythonRepr).join(', ')}}` : '';
}

function sortKeys(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
