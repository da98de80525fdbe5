/** Reading, appending and rewriting a server's xlog.db file, durably and under its lock. */
import { open, readFile } from 'node:fs/promises';
import { naming } from '../errors/system.js';
import { appendFileDurably, removeTempCopies, writeFileDurably } from '../storage/posix.js';
import type { ParsedXlogDb, XlogDbEntry } from './xlogdb.js';
import { formatXlogDbLine, parseXlogDb } from './xlogdb.js';

export class XlogDbFile {
  constructor(readonly file: string) {}

  async read(): Promise<ParsedXlogDb> {
    let text: string;
    try {
      text = await naming(this.file, readFile(this.file, 'utf8'));
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
    // A line torn by a power cut must not be glued to the next one: start on a fresh line.
    const separator = (await endsWithoutNewline(this.file)) ? '\n' : '';
    await appendFileDurably(
      this.file,
      separator + entries.map((entry) => formatXlogDbLine(entry, columns)).join(''),
    );
  }

  /** Replaces the whole file atomically (delete, rebuild). The caller holds the xlogdb lock. */
  async rewrite(entries: readonly XlogDbEntry[], columns: 4 | 5 = 4): Promise<void> {
    await this.removeAbandonedTemps();
    await writeFileDurably(this.file, entries.map((entry) => formatXlogDbLine(entry, columns)).join(''));
  }

  /** Removes what a rewrite killed before its rename left. The caller holds the xlogdb lock. */
  async removeAbandonedTemps(): Promise<void> {
    await removeTempCopies(this.file);
  }
}

async function endsWithoutNewline(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    await naming(file, handle.read(last, 0, 1, size - 1));
    return last[0] !== 0x0a;
  } finally {
    await handle.close();
  }
}
