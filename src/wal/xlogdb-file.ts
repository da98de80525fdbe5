/** Reading, appending and rewriting a server's xlog.db file, durably and under its lock. */
import { readFile } from 'node:fs/promises';
import { appendFileDurably, writeFileDurably } from '../storage/posix.js';
import type { ParsedXlogDb, XlogDbEntry } from './xlogdb.js';
import { formatXlogDbLine, parseXlogDb } from './xlogdb.js';

export class XlogDbFile {
  constructor(readonly file: string) {}

  async read(): Promise<ParsedXlogDb> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { entries: [], problems: [], columns: null };
      throw error;
    }
    return parseXlogDb(text);
  }

  /**
   * Appends lines (one write, one fsync). The caller holds the xlogdb lock. The column count
   * follows the existing file so a Barman 3.14+ catalogue stays 5-column.
   */
  async append(entries: readonly XlogDbEntry[], columns: 4 | 5 = 4): Promise<void> {
    if (entries.length === 0) return;
    await appendFileDurably(this.file, entries.map((entry) => formatXlogDbLine(entry, columns)).join(''));
  }

  /** Replaces the whole file atomically (delete, rebuild). The caller holds the xlogdb lock. */
  async rewrite(entries: readonly XlogDbEntry[], columns: 4 | 5 = 4): Promise<void> {
    await writeFileDurably(this.file, entries.map((entry) => formatXlogDbLine(entry, columns)).join(''), {
      mode: 0o644,
    });
  }
}
