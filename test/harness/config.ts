/**
 * The one way integration tests write a barman.conf: sections as objects, values formatted in one
 * place (iniValue), harness defaults that keep everything inside the test's temp dir. Bad-input
 * tests that need deliberately broken INI text write it themselves.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { currentUserName } from './tmp.js';

export type IniValue = string | number | boolean;
/** One section's options; null or undefined leaves the option out (a default included). */
export type IniSection = Readonly<Record<string, IniValue | null | undefined>>;

export interface BarmanConfigSpec {
  /** The test's temp dir: the file is written there and the defaults point into it. */
  dir: string;
  /** The file: a name inside `dir` or an absolute path; default `barman.conf`. */
  file?: string;
  /** [barman] options, after (and overriding) the defaults. */
  global?: IniSection;
  /** Server sections, in order. */
  servers?: Readonly<Record<string, IniSection>>;
  /**
   * Default 0o600. 0o644 when another OS user (PostgreSQL's archive_command, a barman_user the
   * CLI switches to) reads the file.
   */
  mode?: number;
}

/**
 * The defaults of the [barman] section: the current OS user, barman_home `<dir>/home` (where
 * Barman's lock files go too unless barman_lock_directory is set) and log_file `<dir>/log/barman.log`.
 */
export function harnessGlobals(dir: string): IniSection {
  return { barman_user: currentUserName(), barman_home: `${dir}/home`, log_file: `${dir}/log/barman.log` };
}

/** A value as barman.conf holds it. Written verbatim (`%(name)s` interpolation applies); no line breaks. */
export function iniValue(value: IniValue): string {
  const text = typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  if (/[\r\n]/.test(text)) throw new Error(`barman.conf value with a line break: ${JSON.stringify(text)}`);
  return text;
}

function iniSection(name: string, options: IniSection): string {
  const lines = Object.entries(options)
    .filter((entry): entry is [string, IniValue] => entry[1] !== null && entry[1] !== undefined)
    .map(([key, value]) => `${key} = ${iniValue(value)}\n`);
  return `[${name}]\n${lines.join('')}`;
}

/** The text of the configuration `spec` describes (writeBarmanConfig writes it). */
export function barmanConfigText(spec: Omit<BarmanConfigSpec, 'file' | 'mode'>): string {
  const sections = [iniSection('barman', { ...harnessGlobals(spec.dir), ...spec.global })];
  for (const [name, options] of Object.entries(spec.servers ?? {})) sections.push(iniSection(name, options));
  return sections.join('\n');
}

/** Writes the configuration `spec` describes and returns its path. */
export function writeBarmanConfig(spec: BarmanConfigSpec): string {
  const file = spec.file ?? 'barman.conf';
  const path = isAbsolute(file) ? file : join(spec.dir, file);
  writeFileSync(path, barmanConfigText(spec), { mode: spec.mode ?? 0o600 });
  chmodSync(path, spec.mode ?? 0o600); // an existing file keeps its mode otherwise
  return path;
}

/**
 * An archive_command delivering each WAL file whole into every directory of `incoming` (several
 * servers — barman-ts's and Barman's — archiving one cluster): copied into `spool`, on the same
 * file system, then renamed into place, so that no archiver ever reads a partial file.
 */
export function incomingArchiveCommand(spool: string, incoming: readonly string[]): string {
  return incoming
    .map((directory, index) => `cp %p ${spool}/${index}.%f && mv ${spool}/${index}.%f ${directory}/%f`)
    .join(' && ');
}
