/**
 * Turns parsed INI sections into typed, frozen configurations: option lookup with Barman's
 * precedence (defaults < [barman] < [server]), `%(name)s` interpolation with loop detection,
 * zod parsing of every value, then cross-field rules. Problems are collected, never thrown.
 */
import type { IniEntry, IniSection } from './ini-file.js';
import { unquote } from './ini-file.js';
import type { OptionSpec } from './option-spec.js';
import { findOption, OPTION_LIST } from './options.js';
import type { ConfigProblem } from './problems.js';
import { applyServerRules } from './rules.js';
import { applyActiveModel } from './models.js';
import { methodOptionProblems, unsupportedOptionProblems } from './support.js';
import { wormOptionProblems } from './worm-rules.js';
import type { GlobalConfig, ModelEntry, ServerConfig, ServerEntry, ValueSource } from './types.js';

export interface SectionSet {
  global: IniSection | undefined;
  /** ConfigParser's `[DEFAULT]`: its keys appear in every section. */
  defaults: IniSection | undefined;
}

const MAX_INTERPOLATION_DEPTH = 10;

class InterpolationError extends Error {}

/** Resolves option values for one section (or the global section when `section` is undefined). */
class SectionResolver {
  readonly problems: ConfigProblem[] = [];
  readonly sources: Record<string, ValueSource> = {};
  private readonly cache = new Map<string, string | null>();
  private readonly resolving: string[] = [];

  constructor(
    private readonly sets: SectionSet,
    private readonly section: IniSection | undefined,
    private readonly serverName: string | undefined,
  ) {}

  private get sectionName(): string {
    return this.section?.name ?? 'barman';
  }

  /** The entry that provides `key`, honouring scopes; undefined = use the built-in default. */
  private entryFor(key: string, option: OptionSpec | undefined): IniEntry | undefined {
    const own = this.section?.entries.get(key);
    if (own && !(option?.scope === 'global-only' && this.section)) return own;
    const fromDefaults = this.sets.defaults?.entries.get(key);
    if (fromDefaults) return fromDefaults;
    if (option === undefined || option.scope !== 'server') return this.sets.global?.entries.get(key);
    return undefined;
  }

  /** The interpolated raw string of `key`, or null when unset. Throws InterpolationError. */
  raw(key: string): string | null {
    if (key === 'name' && this.serverName !== undefined) return this.serverName;
    if (this.cache.has(key)) return this.cache.get(key)!;
    if (this.resolving.includes(key)) {
      throw new InterpolationError(
        `interpolation loop: ${[...this.resolving.slice(this.resolving.indexOf(key)), key].join(' -> ')}`,
      );
    }
    if (this.resolving.length > MAX_INTERPOLATION_DEPTH) {
      throw new InterpolationError(`interpolation nested deeper than ${MAX_INTERPOLATION_DEPTH} levels`);
    }
    this.resolving.push(key);
    try {
      const option = findOption(key);
      const entry = this.entryFor(key, option);
      let template: string | undefined;
      if (entry) {
        const value = unquote(entry.value);
        if (value === '' || value.toLowerCase() === 'none') {
          // Barman: an empty or `None` value unsets the option (no inheritance); we fall back to the default.
          template = option?.default;
          this.sources[key] = { kind: 'default' };
        } else {
          template = entry.value;
          this.sources[key] = {
            kind: 'file',
            file: entry.file,
            line: entry.line,
            section:
              this.section?.entries.get(key) === entry ? this.sectionName : sectionOf(entry, this.sets),
          };
        }
      } else if (option?.default !== undefined) {
        template = option.default;
        this.sources[key] = { kind: 'default' };
      } else if (option === undefined) {
        throw new InterpolationError(`'%(${key})s' refers to an unknown option`);
      }
      const value = template === undefined ? null : unquote(this.interpolate(template));
      this.cache.set(key, value);
      return value;
    } finally {
      this.resolving.pop();
    }
  }

  private interpolate(template: string): string {
    let result = '';
    let index = 0;
    while (index < template.length) {
      const percent = template.indexOf('%', index);
      if (percent < 0) {
        result += template.slice(index);
        break;
      }
      result += template.slice(index, percent);
      const rest = template.slice(percent);
      if (rest.startsWith('%%')) {
        result += '%';
        index = percent + 2;
        continue;
      }
      const reference = /^%\(([^)]+)\)s/.exec(rest);
      if (!reference) {
        throw new InterpolationError(`'%' must be followed by '%' or '(name)s' in '${template}'`);
      }
      const name = reference[1]!.toLowerCase();
      const value = this.raw(name);
      if (value === null) throw new InterpolationError(`'%(${name})s' refers to an option that is not set`);
      result += value;
      index = percent + reference[0].length;
    }
    return result;
  }

  /** Resolves and parses one option; on a bad value records an error and falls back to the default. */
  value(option: OptionSpec): unknown {
    let raw: string | null;
    try {
      raw = this.raw(option.key);
    } catch (error) {
      if (!(error instanceof InterpolationError)) throw error;
      // streaming_conninfo and the like default to conninfo, which a passive node does not need.
      if (option.default?.includes('%(conninfo)s') && this.passiveWithoutConninfo('conninfo')) return null;
      this.problems.push({ severity: 'error', message: error.message, ...this.locate(option.key) });
      return this.defaultValue(option);
    }
    if (raw === null) {
      if (option.required && !this.passiveWithoutConninfo(option.key)) {
        this.problems.push({
          severity: 'error',
          message: `required option '${option.key}' is not set`,
          ...this.locate(option.key),
          ...(this.section ? { file: this.section.file, line: this.section.line } : {}),
        });
      }
      return null;
    }
    const parsed = option.schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    this.problems.push({
      severity: 'error',
      message: parsed.error.issues[0]?.message ?? `invalid value '${raw}'`,
      ...this.locate(option.key),
    });
    return this.defaultValue(option);
  }

  /**
   * A passive node (primary_ssh_command set) and a mirror (mirror_of set) never connect to
   * PostgreSQL: conninfo is optional there.
   */
  private passiveWithoutConninfo(key: string): boolean {
    if (key !== 'conninfo') return false;
    try {
      return this.raw('primary_ssh_command') !== null || this.raw('mirror_of') !== null;
    } catch {
      return false;
    }
  }

  private defaultValue(option: OptionSpec): unknown {
    if (option.default === undefined) return null;
    try {
      const parsed = option.schema.safeParse(unquote(this.interpolate(option.default)));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** File, line, section and option of where `key` was set (or of the section when defaulted). */
  locate(key: string): Omit<ConfigProblem, 'severity' | 'message'> {
    const source = this.sources[key];
    if (source?.kind === 'file')
      return { file: source.file, line: source.line, section: source.section, option: key };
    return { section: this.sectionName, option: key };
  }
}

function sectionOf(entry: IniEntry, sets: SectionSet): string {
  if (sets.defaults?.entries.get(entry.key) === entry) return 'DEFAULT';
  return 'barman';
}

export function resolveGlobal(sets: SectionSet): {
  global: GlobalConfig;
  raw: Record<string, string>;
  problems: ConfigProblem[];
} {
  const resolver = new SectionResolver(sets, undefined, undefined);
  const global: Record<string, unknown> = {};
  for (const option of OPTION_LIST) {
    if (option.scope === 'global-only') global[option.key] = resolver.value(option);
  }
  const problems = [...resolver.problems];
  const raw: Record<string, string> = {};
  for (const [key, entry] of sets.global?.entries ?? []) {
    const option = findOption(key);
    raw[key] = unquote(entry.value);
    const at = { file: entry.file, line: entry.line, section: 'barman', option: key };
    if (!option) {
      problems.push({ severity: 'warning', message: `unknown option '${key}' (ignored)`, ...at });
    } else if (option.scope === 'server') {
      problems.push({
        severity: 'warning',
        message: `'${key}' can only be set in a server section; the value in [barman] is ignored`,
        ...at,
      });
    } else if (option.support.level === 'ignored') {
      problems.push({
        severity: 'warning',
        message: `not supported: ${option.support.reason}; ignored`,
        ...at,
      });
    }
    // A `not-supported` global option set here disables each server inheriting it (support.ts).
  }
  return { global: Object.freeze(global) as GlobalConfig, raw, problems };
}

export function resolveServer(
  name: string,
  section: IniSection,
  sets: SectionSet,
  global: GlobalConfig,
  models: ReadonlyMap<string, ModelEntry> = new Map(),
): ServerEntry {
  const resolver = new SectionResolver(sets, section, name);
  const problems: ConfigProblem[] = [...section.problems];
  const nameProblem = checkServerName(name);
  if (nameProblem)
    problems.push({
      severity: 'error',
      message: nameProblem,
      file: section.file,
      line: section.line,
      section: name,
    });

  for (const [key, entry] of section.entries) {
    const option = findOption(key);
    const at = { file: entry.file, line: entry.line, section: name, option: key };
    if (!option) {
      problems.push({ severity: 'error', message: `unknown option '${key}'`, ...at });
    } else if (option.scope === 'global-only') {
      problems.push({
        severity: 'warning',
        message: `'${key}' is a global option: set it in the [barman] section; ignored here`,
        ...at,
      });
    }
  }

  const values: Record<string, unknown> = {};
  for (const option of OPTION_LIST) {
    if (option.scope !== 'global-only') values[option.key] = resolver.value(option);
  }
  values.name = name;
  values.barman_home = global.barman_home;
  values.barman_lock_directory = global.barman_lock_directory;
  problems.push(...resolver.problems);
  // The active model's values replace the server's before the rules check the result.
  const model = applyActiveModel(name, values, models);
  problems.push(...model.problems);
  const sources: Record<string, ValueSource> = { ...resolver.sources, ...model.sources };
  const locate = (key: string): Omit<ConfigProblem, 'severity' | 'message'> => {
    const source = model.sources[key];
    if (source?.kind === 'model')
      return { file: source.file, line: source.line, section: source.section, option: key };
    return resolver.locate(key);
  };
  problems.push(...applyServerRules(values, locate));
  problems.push(...methodOptionProblems(values, locate));
  problems.push(...wormOptionProblems(values, locate));
  problems.push(...unsupportedOptionProblems(values, locate));

  return Object.freeze({
    name,
    disabled: problems.some((problem) => problem.severity === 'error'),
    problems: Object.freeze(problems),
    config: Object.freeze(values) as ServerConfig,
    sources: Object.freeze(sources),
    activeModel: model.activeModel,
  });
}

export function resolveModel(name: string, section: IniSection, sets: SectionSet): ModelEntry {
  const resolver = new SectionResolver({ ...sets, global: undefined }, section, name);
  const problems: ConfigProblem[] = [...section.problems];
  const options: Record<string, unknown> = {};
  for (const [key, entry] of section.entries) {
    const option = findOption(key);
    const at = { file: entry.file, line: entry.line, section: name, option: key };
    if (!option) {
      problems.push({ severity: 'error', message: `unknown option '${key}'`, ...at });
    } else if (!option.inModel) {
      problems.push({ severity: 'error', message: `'${key}' is not allowed in a model`, ...at });
    } else {
      options[key] = resolver.value(option);
    }
  }
  problems.push(...resolver.problems);
  const cluster = typeof options.cluster === 'string' ? options.cluster : null;
  const sources: Record<string, ValueSource> = {};
  for (const key of Object.keys(options)) {
    const source = resolver.sources[key];
    if (source) sources[key] = source;
  }
  if (cluster === null) {
    problems.push({
      severity: 'error',
      message: "a model needs the 'cluster' option",
      file: section.file,
      line: section.line,
      section: name,
    });
  }
  return Object.freeze({
    name,
    cluster,
    options: Object.freeze(options),
    sources: Object.freeze(sources),
    problems: Object.freeze(problems),
  });
}

/** Server names become directory and lock file names: keep them to a safe alphabet and length. */
const MAX_SERVER_NAME = 200;

function checkServerName(name: string): string | undefined {
  if (name === 'all')
    return "'all' is a reserved word and cannot be used as a server name; rename the section";
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.includes('..'))
    return `invalid server name '${name}': use letters, digits, '_', '-' and '.'`;
  // A file name holds 255 bytes; the longest one made from a server name is its lock files'.
  if (name.length > MAX_SERVER_NAME)
    return `server name '${name.slice(0, 20)}…' is too long (${name.length} characters, at most ${MAX_SERVER_NAME}): it names directories and lock files; rename the section`;
  return undefined;
}

export function isModelSection(section: IniSection): boolean {
  const entry = section.entries.get('model');
  if (!entry) return false;
  const parsed = findOption('model')!.schema.safeParse(unquote(entry.value));
  return parsed.success && parsed.data === true;
}

export type { ServerConfig };
