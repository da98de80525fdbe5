/** Opening an archived WAL file, decompressed (loaded with the codecs, only when a file is read). */
import type { Readable } from 'node:stream';
import type { ArchivedWal, WalArchive } from './archive.js';
import { decompressedStream } from './compare.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';

export async function openArchivedWal(
  archive: WalArchive,
  file: ArchivedWal,
  options: { raw?: boolean } = {},
): Promise<Readable> {
  const { storage } = archive;
  const where = storage.localPath ? storage.localPath(file.path) : `${storage.location}/${file.path}`;
  if (options.raw) return storage.openRead(file.path);
  const compression =
    file.compression !== undefined
      ? file.compression
      : identifyCompression(await storage.readHead(file.path, MAGIC_HEADER_LENGTH), archive.custom);
  const raw = await storage.openRead(file.path);
  return compression === null ? raw : decompressedStream(raw, compression, archive.custom, where);
}
