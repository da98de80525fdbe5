/**
 * The index of a WAL archive from its files, as Barman's rebuild-xlogdb makes it: segments and
 * `.backup` files of every hash directory (sorted), `.history` files of the archive root; in
 * Barman's layout compression is detected by magic bytes and size and mtime come from the file
 * system, in barman-cloud's from the object listing (the extension names the compression).
 * `.partial` and temp files are skipped and reported.
 */
import { GPG_ENCRYPTION, isGpgEncrypted } from '../transfer/gpg.js';
import type { Storage } from '../storage/index.js';
import type { RebuildResult, WalArchive } from './archive.js';
import { parseCloudWalPath } from './cloud-layout.js';
import type { CustomCompression } from '../transfer/compression/index.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import { parseWalName } from './names.js';
import type { XlogDbEntry } from './xlogdb.js';

export type { RebuildResult } from './archive.js';

export async function scanWalArchive(archive: WalArchive): Promise<RebuildResult> {
  const result: RebuildResult = {
    entries: [],
    counts: { history: 0, backupLabels: 0, walFiles: 0 },
    skipped: [],
  };
  const history: XlogDbEntry[] = [];
  const files: XlogDbEntry[] = [];
  const add = (entry: XlogDbEntry) => {
    const kind = parseWalName(entry.name)?.kind;
    if (kind === 'history') {
      history.push(entry);
      result.counts.history += 1;
    } else {
      files.push(entry);
      if (kind === 'backup') result.counts.backupLabels += 1;
      else result.counts.walFiles += 1;
    }
  };
  if (archive.layout === 'barman-cloud') {
    for (const object of await archive.storage.listTree('')) {
      const parsed = parseCloudWalPath(object.path);
      const kind = parsed ? parseWalName(parsed.name)?.kind : undefined;
      if (!parsed || kind === 'partial') {
        result.skipped.push(object.path);
        continue;
      }
      add({
        name: parsed.name,
        size: object.size,
        mtime: object.mtimeMs / 1000,
        compression: parsed.compression,
        encryption: parsed.encrypted ? GPG_ENCRYPTION : null,
      });
    }
    // By WAL name, as in a hash directory: an extension must not move a segment after its label.
    files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } else {
    await scanBarmanLayout(archive.storage, archive.custom, result, add);
  }
  // Barman lists history files first, then the hash directories' files in name order.
  result.entries = [...history, ...files];
  return result;
}

async function scanBarmanLayout(
  storage: Storage,
  custom: CustomCompression | null,
  result: RebuildResult,
  add: (entry: XlogDbEntry) => void,
): Promise<void> {
  const top = await storage.list('');
  for (const entry of top.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.kind === 'directory' && /^[0-9A-F]{16}$/.test(entry.name)) {
      const names = (await storage.list(entry.name)).map((child) => child.name).sort();
      for (const name of names) {
        const wal = parseWalName(name);
        if (!wal || (wal.kind !== 'segment' && wal.kind !== 'backup') || wal.name !== name) {
          result.skipped.push(`${entry.name}/${name}`);
          continue;
        }
        const file = await describe(storage, `${entry.name}/${name}`, name, custom);
        if (file) add(file);
      }
    } else if (entry.kind === 'file' && parseWalName(entry.name)?.kind === 'history') {
      const file = await describe(storage, entry.name, entry.name, custom);
      if (file) add(file);
    }
  }
}

async function describe(
  storage: Storage,
  path: string,
  name: string,
  custom: CustomCompression | null,
): Promise<XlogDbEntry | null> {
  const info = await storage.stat(path);
  if (info?.kind !== 'file') return null;
  const head = await storage.readHead(path, MAGIC_HEADER_LENGTH);
  return {
    name,
    size: info.size,
    // Python's st_mtime, from the nanoseconds where the file system has them.
    mtime: info.mtimeNs !== undefined ? Number(info.mtimeNs) / 1e9 : info.mtimeMs / 1000,
    // An encrypted file's compression is inside the encryption: None, as Barman's rebuild says.
    ...(isGpgEncrypted(head)
      ? { compression: null, encryption: GPG_ENCRYPTION }
      : { compression: identifyCompression(head, custom), encryption: null }),
  };
}
