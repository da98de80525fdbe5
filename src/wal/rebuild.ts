/**
 * rebuild-xlogdb: regenerates xlog.db from the files in the WAL archive, as Barman does:
 * segments and `.backup` files of every hash directory (sorted), `.history` files of the
 * archive root; compression detected by magic bytes; size and mtime from the file system.
 * `.partial` and temp files are skipped and reported.
 */
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CustomCompression } from '../transfer/compression/index.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import { parseWalName } from './names.js';
import type { XlogDbEntry } from './xlogdb.js';

export interface RebuildResult {
  entries: XlogDbEntry[];
  counts: { history: number; backupLabels: number; walFiles: number };
  skipped: string[];
}

export async function scanWalArchive(
  walsDirectory: string,
  custom: CustomCompression | null,
): Promise<RebuildResult> {
  const result: RebuildResult = {
    entries: [],
    counts: { history: 0, backupLabels: 0, walFiles: 0 },
    skipped: [],
  };
  const top = await readdir(walsDirectory, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const history: XlogDbEntry[] = [];
  const files: XlogDbEntry[] = [];
  for (const entry of top.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(walsDirectory, entry.name);
    if (entry.isDirectory() && /^[0-9A-F]{16}$/.test(entry.name)) {
      for (const name of (await readdir(path)).sort()) {
        const wal = parseWalName(name);
        if (!wal || (wal.kind !== 'segment' && wal.kind !== 'backup') || wal.name !== name) {
          result.skipped.push(join(entry.name, name));
          continue;
        }
        const file = await describe(join(path, name), name, custom);
        if (!file) continue;
        files.push(file);
        if (wal.kind === 'backup') result.counts.backupLabels += 1;
        else result.counts.walFiles += 1;
      }
    } else if (entry.isFile() && parseWalName(entry.name)?.kind === 'history') {
      const file = await describe(path, entry.name, custom);
      if (file) {
        history.push(file);
        result.counts.history += 1;
      }
    }
  }
  // Barman lists history files first, then the hash directories' files in name order.
  result.entries = [...history, ...files];
  return result;
}

async function describe(
  path: string,
  name: string,
  custom: CustomCompression | null,
): Promise<XlogDbEntry | null> {
  const info = await lstat(path, { bigint: true });
  if (!info.isFile()) return null;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC_HEADER_LENGTH);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return {
      name,
      size: Number(info.size),
      mtime: Number(info.mtimeNs) / 1e9,
      compression: identifyCompression(head.subarray(0, bytesRead), custom),
      encryption: null,
    };
  } finally {
    await handle.close();
  }
}
