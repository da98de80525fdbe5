/**
 * config-update (Barman 3.10+): a JSON array of changes, each `{"scope": "server"|"model",
 * "server_name"|"model_name": NAME, OPTION: VALUE, ...}`, is checked, queued in
 * `config_changes_queue` and then written into `<barman_home>/.barman.auto.conf`, which the loader
 * reads last. The queue is Barman's JSON: `[{"section": NAME, "changes_set": [{"key", "value",
 * "config_file"}]}]`, so a queue either program left is understood by the other. Pure text work
 * here; the files are read and written by commands/shared/config-changes.ts.
 *
 * Unlike Barman, which skips a bad element with a warning and writes any option name it is given,
 * a request with any unknown option, option not allowed there or invalid value is refused whole,
 * before anything is queued: a half-applied failover configuration is worse than none.
 */
import { BarmanError } from '../errors/index.js';
import { findOption } from './options.js';
import type { BarmanConfig } from './types.js';

export interface ConfigChange {
  key: string;
  value: string;
  config_file: string;
}

export interface ConfigChangeSet {
  section: string;
  changes_set: ConfigChange[];
}

const SECTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function refuse(message: string): never {
  throw new BarmanError('config-update-invalid', message, {
    hint: `expected a JSON array like '[{"scope": "server", "server_name": "pg", "conninfo": "host=..."}]'; nothing was changed`,
  });
}

/** Checks a config-update request against the configuration; the change sets to queue. */
export function parseConfigUpdate(
  json: string,
  config: BarmanConfig,
  autoConfFile: string,
): ConfigChangeSet[] {
  let request: unknown;
  try {
    request = JSON.parse(json);
  } catch (error) {
    refuse(`the configuration changes are not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(request)) refuse('the configuration changes must be a JSON array of objects');
  return request.map((element, index) => changeSetOf(element, index, config, autoConfFile));
}

function changeSetOf(
  element: unknown,
  index: number,
  config: BarmanConfig,
  autoConfFile: string,
): ConfigChangeSet {
  const at = `change #${index + 1}`;
  if (typeof element !== 'object' || element === null || Array.isArray(element))
    refuse(`${at} is not a JSON object`);
  const fields = { ...(element as Record<string, unknown>) };
  const scope = fields.scope;
  if (scope !== 'server' && scope !== 'model')
    refuse(`${at}: 'scope' is ${JSON.stringify(scope)}; it must be "server" or "model"`);
  const nameField = scope === 'server' ? 'server_name' : 'model_name';
  const section = fields[nameField];
  delete fields.scope;
  delete fields[nameField];
  if (typeof section !== 'string' || !SECTION_NAME.test(section) || section.includes('..'))
    refuse(`${at}: '${nameField}' must name a section (letters, digits, '_', '-', '.')`);
  if (section === 'all' || section === 'barman') refuse(`${at}: '${section}' is a reserved section name`);
  if (scope === 'server' && config.models.has(section))
    refuse(`${at}: '${section}' is a model, not a server (use "scope": "model")`);
  if (scope === 'model' && config.servers.has(section))
    refuse(`${at}: '${section}' is a server, not a model (use "scope": "server")`);
  if (scope === 'model' && !config.models.has(section)) {
    // A new model: Barman forces `model = on`; it needs the cluster it is for.
    fields.model = 'on';
    if (!('cluster' in fields)) refuse(`${at}: '${section}' is a new model and needs 'cluster'`);
  }
  const changes: ConfigChange[] = [];
  for (const [rawKey, rawValue] of Object.entries(fields)) {
    const key = rawKey.toLowerCase();
    const option = findOption(key);
    const where = `${at} [${section}] ${key}`;
    if (!option) refuse(`${where}: unknown option`);
    if (option.scope === 'global-only') refuse(`${where}: a global option, only allowed in [barman]`);
    if (scope === 'model' && !option.inModel) refuse(`${where}: not allowed in a model`);
    if (scope === 'server' && key === 'model') refuse(`${where}: a server cannot be turned into a model`);
    if (typeof rawValue !== 'string' && typeof rawValue !== 'number' && typeof rawValue !== 'boolean')
      refuse(`${where}: the value must be a string, number or boolean`);
    const value = String(rawValue);
    if (/[\r\n]/.test(value)) refuse(`${where}: the value must be on one line`);
    // A value interpolating other options is checked once the loader resolves it.
    if (!value.includes('%(') && value !== '' && value.toLowerCase() !== 'none') {
      const parsed = option.schema.safeParse(value);
      if (!parsed.success)
        refuse(`${where}: ${parsed.error.issues[0]?.message ?? `invalid value '${value}'`}`);
    }
    changes.push({ key, value, config_file: autoConfFile });
  }
  if (changes.length === 0) refuse(`${at}: no option to change in [${section}]`);
  return { section, changes_set: changes };
}

/** The queue file's change sets; a malformed queue is refused naming the file. */
export function parseQueue(text: string, file: string): ConfigChangeSet[] {
  const malformed = (why: string): never => {
    throw new BarmanError('config-queue-malformed', `Malformed configuration change queue ${file}: ${why}`, {
      hint: 'fix or remove the file (queued changes in it are lost) and run the config-update again',
    });
  };
  if (text.trim() === '') return [];
  let queue: unknown;
  try {
    queue = JSON.parse(text);
  } catch (error) {
    return malformed((error as Error).message);
  }
  if (!Array.isArray(queue)) return malformed('not a JSON array');
  return queue.map((set: unknown, index) => {
    const candidate = set as Partial<ConfigChangeSet> | null;
    if (typeof candidate?.section !== 'string' || !Array.isArray(candidate.changes_set))
      return malformed(`entry #${index + 1} has no 'section' and 'changes_set'`);
    for (const change of candidate.changes_set as unknown[]) {
      const c = change as Partial<ConfigChange> | null;
      if (typeof c?.key !== 'string' || typeof c.value !== 'string')
        return malformed(`entry #${index + 1} has a change without 'key' and 'value'`);
    }
    return candidate as ConfigChangeSet;
  });
}

export function serializeQueue(queue: readonly ConfigChangeSet[]): string {
  return JSON.stringify(queue, null, 2);
}

/**
 * `text` (an INI file) with `key = value` set in `[section]`: the key's line replaced where it
 * is, or added after the section's last option, or the section appended.
 */
export function setIniOption(text: string, section: string, key: string, value: string): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const header = lines.findIndex((line) => line.trim() === `[${section}]`);
  const entry = `${key} = ${value}`;
  if (header < 0) {
    if (lines.length > 0 && lines.at(-1)!.trim() !== '') lines.push('');
    lines.push(`[${section}]`, entry);
    return `${lines.join('\n')}\n`;
  }
  let end = lines.length;
  for (let index = header + 1; index < lines.length; index++) {
    if (/^\s*\[.+\]\s*$/.test(lines[index]!)) {
      end = index;
      break;
    }
  }
  const keyPattern = new RegExp(`^\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*[=:]`, 'i');
  for (let index = header + 1; index < end; index++) {
    if (keyPattern.test(lines[index]!)) {
      lines[index] = entry;
      return `${lines.join('\n')}\n`;
    }
  }
  let insertAt = end;
  while (insertAt > header + 1 && lines[insertAt - 1]!.trim() === '') insertAt--;
  lines.splice(insertAt, 0, entry);
  return `${lines.join('\n')}\n`;
}
