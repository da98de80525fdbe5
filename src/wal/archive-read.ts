/** Opening an archived WAL file, decompressed (loaded with the codecs, only when a file is read). */
import type { Readable } from 'node:stream';
import type { ArchivedWal, WalArchive } from './archive.js';
import { openDecompressed } from './compare.js';

export async function openArchivedWal(
  archive: WalArchive,
  file: ArchivedWal,
  options: { raw?: boolean } = {},
): Promise<Readable> {
  const { storage } = archive;
  if (options.raw) return storage.openRead(file.path);
  return openDecompressed({ storage, path: file.path }, archive.custom, file.compression, archive.passphrase);
}
