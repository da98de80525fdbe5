/** Opening an archived WAL file, decompressed (loaded with the codecs, only when a file is read). */
import type { Readable } from 'node:stream';
import { MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import { decryptStream, isGpgEncrypted } from '../transfer/gpg.js';
import { noPassphraseCommand } from '../transfer/passphrase.js';
import type { ArchivedWal, WalArchive } from './archive.js';
import { openDecompressed, whereIs } from './compare.js';

export async function openArchivedWal(
  archive: WalArchive,
  file: ArchivedWal,
  options: { raw?: boolean } = {},
): Promise<Readable> {
  const { storage } = archive;
  const where = whereIs({ storage, path: file.path });
  // barman-cloud's layout names an encrypted object (`.gpg`); Barman's tells it by its first bytes.
  if (file.encrypted && !archive.passphrase) throw noPassphraseCommand(`the archived WAL file ${where}`);
  if (options.raw) {
    // `raw` keeps the compression, never the encryption: a reader gets what was archived.
    const encrypted =
      archive.layout === 'barman-cloud' ? file.encrypted === true : await isEncrypted(archive, file);
    if (!encrypted) return storage.openRead(file.path);
    if (!archive.passphrase) throw noPassphraseCommand(`the archived WAL file ${where}`);
    const key = await archive.passphrase(`the archived WAL file ${where}`);
    return decryptStream(await storage.openRead(file.path), key, where);
  }
  return openDecompressed({ storage, path: file.path }, archive.custom, file.compression, archive.passphrase);
}

async function isEncrypted(archive: WalArchive, file: ArchivedWal): Promise<boolean> {
  return isGpgEncrypted(await archive.storage.readHead(file.path, MAGIC_HEADER_LENGTH));
}
