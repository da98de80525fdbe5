/**
 * xlog.db, the WAL catalogue: one line per archived file, tab-separated
 * `name size mtime compression[ encryption]`, appended in archival order. The reader is
 * tolerant (3, 4 or 5 fields; bad lines are reported with their line number, never fatal).
 */
import { parseWalName } from './names.js';

export interface XlogDbEntry {
  name: string;
  /** Bytes as stored (after compression). */
  size: number;
  /** Seconds since the epoch (float), the source file's mtime. */
  mtime: number;
  compression: string | null;
  /** Barman 3.14+ column; null when absent or `None`. */
  encryption: string | null;
}

export interface XlogDbProblem {
  line: number;
  content: string;
  message: string;
}

export interface ParsedXlogDb {
  entries: XlogDbEntry[];
  problems: XlogDbProblem[];
  /** Number of columns of the last well-formed line (4 = Barman 3.4-3.13, 5 = 3.14+). */
  columns: 3 | 4 | 5 | null;
}

/** Python's str(float): shortest round-trip digits, always with a decimal point. */
export function formatPythonFloat(value: number): string {
  const text = String(value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

export function formatXlogDbLine(entry: XlogDbEntry, columns: 4 | 5 = 4): string {
  const fields = [
    entry.name,
    String(entry.size),
    formatPythonFloat(entry.mtime),
    entry.compression ?? 'None',
  ];
  // An encrypted file's line always has Barman 3.14's fifth column: without it the file would
  // be read as plaintext. Barman 3.14+ reads 4- and 5-column lines in one file.
  if (columns === 5 || entry.encryption !== null) fields.push(entry.encryption ?? 'None');
  return `${fields.join('\t')}\n`;
}

export function parseXlogDb(text: string): ParsedXlogDb {
  const entries: XlogDbEntry[] = [];
  const problems: XlogDbProblem[] = [];
  let columns: ParsedXlogDb['columns'] = null;
  // A file not ending in a newline was cut during an append: its last line is reported, not trusted.
  const complete = text.endsWith('\n') || text === '';
  let lineNumber = 0;
  let start = 0;
  // Hand-rolled scan (indexOf, no regex per line): xlog.db can hold millions of lines.
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const last = end < 0;
    if (last) end = text.length;
    lineNumber += 1;
    const content = text.slice(start, end);
    start = end + 1;
    if (content.trim() === '') continue;
    if (last && !complete) {
      problems.push({ line: lineNumber, content, message: 'incomplete last line (interrupted write?)' });
      continue;
    }
    const fields =
      content.includes('\t') && !content.includes(' ') ? content.split('\t') : content.trim().split(/\s+/);
    if (fields.length < 3 || fields.length > 5) {
      problems.push({ line: lineNumber, content, message: `expected 3 to 5 fields, found ${fields.length}` });
      continue;
    }
    const [name, sizeText, mtimeText, compression, encryption] = fields as [
      string,
      string,
      string,
      string?,
      string?,
    ];
    if (!parseWalName(name)) {
      problems.push({ line: lineNumber, content, message: `'${name}' is not a WAL file name` });
      continue;
    }
    const size = Number(sizeText);
    const mtime = Number(mtimeText);
    if (
      !Number.isInteger(size) ||
      size < 0 ||
      sizeText === '' ||
      !Number.isFinite(mtime) ||
      mtimeText === ''
    ) {
      problems.push({ line: lineNumber, content, message: 'size or time is not a number' });
      continue;
    }
    entries.push({
      name,
      size,
      mtime,
      compression: compression === undefined || compression === 'None' ? null : compression,
      encryption: encryption === undefined || encryption === 'None' ? null : encryption,
    });
    columns = fields.length as 3 | 4 | 5;
  }
  return { entries, problems, columns };
}
