/**
 * Reading, appending and rewriting a server's xlog.db file, durably and under its lock, through
 * the Storage of its directory (the archive's wals/, or xlogdb_directory for Barman 3.13+).
 */
import { basename, dirname } from 'node:path';
import { naming } from '../errors/system.js';
import type { Storage } from '../storage/index.js';
import { PosixStorage } from '../storage/index.js';
import type { ParsedXlogDb, XlogDbEntry } from './xlogdb.js';
import { formatXlogDbLine, parseXlogDb } from './xlogdb.js';

export class XlogDbFile {
  /** The file's path, for messages. */
  readonly file: string;

  /** `name` in `storage`'s root (xlog.db, or `<server>-xlog.db`). */
  constructor(
    readonly storage: Storage,
    readonly name: string,
  ) {
    this.file = storage.localPath ? storage.localPath(name) : `${storage.location}/${name}`;
  }

  /** The xlog.db at a local path (ServerLayout.xlogDbFile). */
  static at(file: string): XlogDbFile {
    return new XlogDbFile(new PosixStorage(dirname(file)), basename(file));
  }

  async read(): Promise<ParsedXlogDb> {
    let text: string;
    try {
      text = (await naming(this.file, this.storage.readFile(this.name))).toString('utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { entries: [], problems: [], columns: null };
      throw error;
    }
    return parseXlogDb(text);
  }

  /**
   * Appends lines (one write, one fsync; on a fresh line, see Storage.appendLines). The caller
   * holds the xlogdb lock. The column count follows the existing file so a Barman 3.14+
   * catalogue stays 5-column.
   */
  async append(entries: readonly XlogDbEntry[], columns: 4 | 5 = 4): Promise<void> {
    if (entries.length === 0) return;
    await this.storage.appendLines(
      this.name,
      entries.map((entry) => formatXlogDbLine(entry, columns)).join(''),
    );
  }

  /** Replaces the whole file atomically (delete, rebuild). The caller holds the xlogdb lock. */
  async rewrite(entries: readonly XlogDbEntry[], columns: 4 | 5 = 4): Promise<void> {
    await this.removeAbandonedTemps();
    await this.storage.writeFile(
      this.name,
      entries.map((entry) => formatXlogDbLine(entry, columns)).join(''),
    );
  }

  /** Removes what a rewrite killed before its rename left. The caller holds the xlogdb lock. */
  async removeAbandonedTemps(): Promise<void> {
    await this.storage.removeInterruptedWrites('', this.name);
  }
}
