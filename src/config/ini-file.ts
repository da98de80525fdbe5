/**
 * A reader for the INI dialect of Python's ConfigParser as Barman uses it (strict=False, basic
 * interpolation done later). We do not use the `ini` package here: it strips inline `;`/`#`
 * comments (which would truncate conninfo passwords and shell commands), has no continuation
 * lines, no `key: value` form and no line numbers for error messages. See docs/architecture.md.
 */
import type { ConfigProblem } from './problems.js';

export interface IniEntry {
  key: string;
  /** Raw text: not unquoted, not interpolated. */
  value: string;
  file: string;
  line: number;
}

export interface IniSection {
  name: string;
  file: string;
  line: number;
  entries: Map<string, IniEntry>;
  /** Syntax problems found inside this section; they disable the server it defines. */
  problems: ConfigProblem[];
}

export interface IniDocument {
  file: string;
  /** Sections in first-seen order; a repeated section name is merged (later keys win). */
  sections: Map<string, IniSection>;
  /**
   * Problems outside any section (e.g. an option before the first `[section]`), and warnings
   * about the file as a whole (an option set twice), which every command prints.
   */
  problems: ConfigProblem[];
}

const SECTION_RE = /^\[(.+)\]\s*$/;
const OPTION_RE = /^([^=:]*?)\s*[=:]\s*(.*)$/;

export function parseIni(text: string, file: string): IniDocument {
  const document: IniDocument = { file, sections: new Map(), problems: [] };
  let section: IniSection | undefined;
  let current: { entry: IniEntry; indent: number } | undefined;

  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const stripped = rawLine.trim();
    const indent = rawLine.length - rawLine.trimStart().length;

    if (stripped === '' || stripped.startsWith('#') || stripped.startsWith(';')) {
      // A blank line ends a multi-line value (Barman's configurations never rely on blank lines inside one).
      if (stripped === '') current = undefined;
      return;
    }
    if (current && indent > current.indent) {
      current.entry.value = `${current.entry.value}\n${stripped}`;
      return;
    }
    current = undefined;

    const header = SECTION_RE.exec(stripped);
    if (header && indent === 0) {
      const name = header[1]!.trim();
      section = document.sections.get(name);
      if (!section) {
        section = { name, file, line, entries: new Map(), problems: [] };
        document.sections.set(name, section);
      }
      return;
    }

    const option = OPTION_RE.exec(stripped);
    if (!option || option[1] === '') {
      const problem: ConfigProblem = {
        severity: 'error',
        message: `cannot parse line '${stripped}': expected 'option = value' or '[section]'`,
        file,
        line,
        ...(section ? { section: section.name } : {}),
      };
      (section ? section.problems : document.problems).push(problem);
      return;
    }
    const key = option[1]!.toLowerCase();
    if (!section) {
      document.problems.push({
        severity: 'error',
        message: `option '${key}' appears before any [section] header`,
        file,
        line,
      });
      return;
    }
    const entry: IniEntry = { key, value: option[2]!.trim(), file, line };
    const earlier = section.entries.get(key);
    if (earlier && earlier.file === file) {
      // As ConfigParser(strict=False), the later value wins: say so rather than drop one silently.
      document.problems.push({
        severity: 'warning',
        message: `'${key}' is set twice (lines ${earlier.line} and ${line}): the value of line ${line} is used`,
        file,
        line,
        section: section.name,
        option: key,
      });
    }
    section.entries.set(key, entry);
    current = { entry, indent };
  });
  return document;
}

/** Removes one pair of matching surrounding quotes, as Barman does for every value. */
export function unquote(value: string): string {
  const match = /^(["'])(.*)\1$/s.exec(value);
  return match ? match[2]! : value;
}
