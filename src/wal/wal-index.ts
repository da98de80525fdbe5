/**
 * The archived WAL files a catalogue knows of, whatever holds the archive: xlog.db for a
 * directory (Barman's layout), the object listing for an s3:// wals_directory (barman-cloud's
 * layout has no xlog.db: the listing is the index, with the compression in each name).
 */
import type { ServerConfig } from '../config/index.js';
import { storageFor } from '../storage/index.js';
import { parseCloudWalPath } from './cloud-layout.js';
import { GPG_ENCRYPTION } from '../transfer/gpg.js';
import type { XlogDbEntry, XlogDbProblem } from './xlogdb.js';
import { XlogDbFile } from './xlogdb-file.js';
import type { ServerLayout } from '../catalog/layout.js';

export interface WalIndex {
  /** Sorted by name for a listing; in file order for xlog.db. */
  entries: XlogDbEntry[];
  /** xlog.db lines that could not be parsed (a listing has none). */
  problems: XlogDbProblem[];
}

export async function readWalIndex(config: ServerConfig, layout: ServerLayout): Promise<WalIndex> {
  if (config.wals_directory.kind === 'posix') return XlogDbFile.at(layout.xlogDbFile).read();
  const storage = await storageFor(config, config.wals_directory);
  try {
    const entries = (await storage.listTree(''))
      .flatMap((object): XlogDbEntry[] => {
        const parsed = parseCloudWalPath(object.path);
        return parsed
          ? [
              {
                name: parsed.name,
                size: object.size,
                mtime: object.mtimeMs / 1000,
                compression: parsed.compression,
                encryption: parsed.encrypted ? GPG_ENCRYPTION : null,
              },
            ]
          : [];
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { entries, problems: [] };
  } finally {
    storage.close();
  }
}
