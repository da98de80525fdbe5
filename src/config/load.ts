/**
 * Finds and reads the configuration: the main file (-c, $BARMAN_CONFIG_FILE, ~/.barman.conf,
 * /etc/barman.conf, /etc/barman/barman.conf), then every `*.conf` of
 * `configuration_files_directory` in name order. Later files override earlier ones.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BarmanError, describeError } from '../errors/index.js';
import type { IniDocument, IniSection } from './ini-file.js';
import { parseIni } from './ini-file.js';
import { findMirrorProblems } from './mirrors.js';
import { findPathConflicts, withProblems } from './path-conflicts.js';
import type { ConfigProblem } from './problems.js';
import { formatProblem } from './problems.js';
import type { SectionSet } from './resolve.js';
import { orphanModelProblems } from './models.js';
import { isModelSection, resolveGlobal, resolveModel, resolveServer } from './resolve.js';
import type { BarmanConfig, ModelEntry, ServerEntry } from './types.js';

export interface LoadOptions {
  /** Value of `-c/--config`. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** The default search list (tests); normally defaultConfigCandidates(home). */
  candidates?: readonly string[];
}

export function defaultConfigCandidates(home = homedir()): string[] {
  return [join(home, '.barman.conf'), '/etc/barman.conf', '/etc/barman/barman.conf'];
}

export function findConfigFile(options: LoadOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.configFile !== undefined) {
    const problem = notAFile(options.configFile);
    if (problem) {
      throw new BarmanError('config-not-found', `Configuration file '${options.configFile}' ${problem}`, {
        // Barman prints the line alone for a missing file; a directory gets a word more.
        ...(problem.includes('directory') ? { hint: 'pass the path of the barman.conf file with -c' } : {}),
      });
    }
    return options.configFile;
  }
  const fromEnv = env.BARMAN_CONFIG_FILE;
  if (fromEnv) {
    const problem = notAFile(fromEnv);
    if (problem) {
      throw new BarmanError(
        'config-not-found',
        `Configuration file '${fromEnv}' (from BARMAN_CONFIG_FILE) ${problem}`,
        problem.includes('directory')
          ? { hint: 'set BARMAN_CONFIG_FILE to the path of the barman.conf file, or pass -c' }
          : {},
      );
    }
    return fromEnv;
  }
  const candidates = options.candidates ?? defaultConfigCandidates(options.home);
  const found = candidates.find(isFile);
  if (!found) {
    throw new BarmanError('config-not-found', 'Could not find any configuration file at default locations.', {
      hint: `Create one of ${candidates.join(', ')}, or pass -c FILE (see barman.conf.example).`,
    });
  }
  return found;
}

export function loadConfig(options: LoadOptions = {}): BarmanConfig {
  const configFile = findConfigFile(options);
  const main = readIniFile(configFile);
  const syntaxError = [...main.problems, ...(main.sections.get('barman')?.problems ?? [])].find(
    (problem) => problem.severity === 'error',
  );
  if (syntaxError) {
    throw new BarmanError('config-syntax', `Cannot parse the configuration: ${formatProblem(syntaxError)}`);
  }
  const documents: IniDocument[] = [main];
  // The reader's warnings about the whole file (an option set twice).
  const problems: ConfigProblem[] = [...main.problems];

  const mainGlobal = main.sections.get('barman');
  const includeDir = mainGlobal?.entries.get('configuration_files_directory');
  if (includeDir) {
    const directory = includeDir.value.replace(/^(["'])(.*)\1$/, '$2');
    for (const file of listConfFiles(directory, problems, includeDir)) {
      let document: IniDocument;
      try {
        document = readIniFile(file);
      } catch (error) {
        problems.push({
          severity: 'error',
          message: error instanceof BarmanError ? error.message : String(error),
          file,
        });
        continue;
      }
      problems.push(...document.problems);
      const global = document.sections.get('barman');
      if (global && global.entries.size > 0) {
        problems.push({
          severity: 'error',
          message: 'an included file must not contain a non-empty [barman] section; this file is ignored',
          file,
          line: global.line,
          section: 'barman',
        });
        continue;
      }
      documents.push(document);
    }
  }

  let merged = mergeDocuments(documents);
  let sets: SectionSet = { global: merged.get('barman'), defaults: merged.get('DEFAULT') };
  const { global, raw, problems: globalProblems } = resolveGlobal(sets);
  const fatal = globalProblems.find((problem) => problem.severity === 'error');
  if (fatal) {
    throw new BarmanError('config-invalid', formatProblem(fatal), {
      hint:
        fatal.option === 'barman_home' && fatal.message.includes('is not set')
          ? 'Every configuration needs barman_home in its [barman] section.'
          : undefined,
    });
  }
  problems.push(...globalProblems);
  // config-update's file, read last so its values win (Barman 3.10+); never a [barman] section.
  const autoConf = readAutoConf(global.barman_home, problems);
  if (autoConf) {
    documents.push(autoConf);
    merged = mergeDocuments(documents);
    sets = { global: merged.get('barman'), defaults: merged.get('DEFAULT') };
  }

  const servers = new Map<string, ServerEntry>();
  const models = new Map<string, ModelEntry>();
  const names = [...merged.keys()].filter((name) => name !== 'barman' && name !== 'DEFAULT').sort();
  // Models first: a server's active model is laid over its values as it is resolved.
  for (const name of names.filter((name) => isModelSection(merged.get(name)!)))
    models.set(name, resolveModel(name, merged.get(name)!, sets));
  for (const name of names.filter((name) => !models.has(name)))
    servers.set(name, resolveServer(name, merged.get(name)!, sets, global, models));
  for (const [name, orphan] of orphanModelProblems(models, servers)) {
    const model = models.get(name)!;
    models.set(name, Object.freeze({ ...model, problems: Object.freeze([...model.problems, ...orphan]) }));
  }
  // Every command tells about a broken model, not only config-switch and the servers using it.
  for (const model of models.values()) problems.push(...model.problems);
  // Across servers: directories two of them share disable both.
  for (const [name, conflicts] of findPathConflicts(servers.values())) {
    servers.set(name, withProblems(servers.get(name)!, conflicts));
  }
  // A mirror names another server of this file, and a location of its own.
  for (const [name, mirrorProblems] of findMirrorProblems(servers)) {
    servers.set(name, withProblems(servers.get(name)!, mirrorProblems));
  }

  return Object.freeze({
    configFile,
    files: Object.freeze(documents.map((document) => document.file)),
    global,
    globalRaw: Object.freeze(raw),
    servers,
    models,
    problems: Object.freeze(problems),
  });
}

/** Barman 3.10's file of config-update's changes, in barman_home. */
export const AUTO_CONF_NAME = '.barman.auto.conf';

function readAutoConf(barmanHome: string, problems: ConfigProblem[]): IniDocument | null {
  const file = join(barmanHome, AUTO_CONF_NAME);
  if (!isFile(file)) return null;
  let document: IniDocument;
  try {
    document = readIniFile(file);
  } catch (error) {
    problems.push({ severity: 'error', message: describeError(error), file });
    return null;
  }
  problems.push(...document.problems);
  const global = document.sections.get('barman');
  if (global && global.entries.size > 0) {
    problems.push({
      severity: 'error',
      message: 'config-update writes only server and model sections: this [barman] section is ignored',
      file,
      line: global.line,
      section: 'barman',
    });
    document.sections.delete('barman');
  }
  return document;
}

function readIniFile(file: string): IniDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EACCES'
        ? 'permission denied'
        : code === 'ENOENT'
          ? 'no such file'
          : code === 'EISDIR'
            ? 'it is a directory'
            : String(code ?? describeError(error));
    throw new BarmanError('config-unreadable', `Cannot read configuration file '${file}': ${reason}`, {
      cause: error,
    });
  }
  return parseIni(text, file);
}

function listConfFiles(
  directory: string,
  problems: ConfigProblem[],
  entry: { file: string; line: number },
): string[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (error) {
    problems.push({
      severity: 'warning',
      message: `cannot read directory '${directory}' (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      file: entry.file,
      line: entry.line,
      section: 'barman',
      option: 'configuration_files_directory',
    });
    return [];
  }
  const files = names
    .filter((name) => name.endsWith('.conf'))
    .sort()
    .map((name) => join(directory, name));
  for (const file of files) {
    const problem = notAFile(file);
    if (problem)
      problems.push({
        severity: 'warning',
        message: `'${file}' ${problem}; it is not read`,
        file: entry.file,
        line: entry.line,
        section: 'barman',
        option: 'configuration_files_directory',
      });
  }
  return files.filter(isFile);
}

function mergeDocuments(documents: IniDocument[]): Map<string, IniSection> {
  const merged = new Map<string, IniSection>();
  for (const document of documents) {
    for (const section of document.sections.values()) {
      const existing = merged.get(section.name);
      if (!existing) {
        merged.set(section.name, {
          ...section,
          entries: new Map(section.entries),
          problems: [...section.problems],
        });
        continue;
      }
      for (const [key, entry] of section.entries) existing.entries.set(key, entry);
      existing.problems.push(...section.problems);
    }
  }
  return merged;
}

/** Why `path` cannot be read as a configuration file, or null when it is a file. */
function notAFile(path: string): string | null {
  if (path === '') return 'is an empty path';
  try {
    const stat = statSync(path);
    if (stat.isFile()) return null;
    return stat.isDirectory() ? 'is a directory, not a file' : 'is not a regular file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'does not exist';
    if (code === 'ENOTDIR') return 'does not exist (a part of its path is a file)';
    if (code === 'EACCES') return 'cannot be reached: permission denied on a directory of its path';
    return `cannot be read (${code ?? describeError(error)})`;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
