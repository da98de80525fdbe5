/** Finding and reading WAL files for get-wal, in Barman's search order, on either archive layout. */
import type { Readable } from 'node:stream';
import type { ServerConfig } from '../config/index.js';
import type { StorageOptions } from '../storage/index.js';
import { storageFor } from '../storage/index.js';
import type { ArchivedWal } from './archive.js';
import { openWalArchive, WalArchive } from './archive.js';
import { nextSegmentName, parseWalName } from './names.js';
import { SEALED_COMPRESSIONS, sealedName } from './sealed-wal.js';

/** The archive and the local directories holding files not archived yet (incoming/, streaming/). */
export interface WalSources {
  archive: WalArchive;
  incoming: WalArchive;
  streaming: WalArchive;
  close(): void;
}

export interface LocatedWal {
  where: 'archive' | 'incoming' | 'streaming';
  /** The archive (or staging directory) holding it. */
  holder: WalArchive;
  file: ArchivedWal;
}

/** A server's WAL archive with its incoming/ and streaming/ directories (always local). */
export async function openWalSources(
  config: ServerConfig,
  options: StorageOptions = {},
): Promise<WalSources> {
  const archive = await openWalArchive(config, options);
  // Staging directories are flat: a WalArchive over them finds `<name>` at their root.
  // Their files may be sealed (put-wal with `encryption = gpg`): read with the archive's passphrase.
  const staging = async (path: string) =>
    new WalArchive(
      await storageFor(config, { kind: 'posix', path }),
      'barman',
      archive.custom,
      archive.passphrase,
    );
  const [incoming, streaming] = await Promise.all([
    staging(config.incoming_wals_directory),
    staging(config.streaming_wals_directory),
  ]);
  return { archive, incoming, streaming, close: () => archive.close() };
}

/**
 * `name` directly in a flat staging directory, as it is or sealed by put-wal (`<name><ext>.gpg`,
 * whatever the extension: the server's compression may have changed since); a path that cannot
 * be looked at (EACCES) is an error.
 */
async function inStaging(holder: WalArchive, name: string): Promise<ArchivedWal | null> {
  const statFile = async (path: string) => {
    const info = await holder.storage.stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTDIR') return null;
      throw error;
    });
    return info?.kind === 'file' ? info : null;
  };
  const plain = await statFile(name);
  if (plain) return { name, path: name, size: plain.size };
  for (const compression of [null, ...SEALED_COMPRESSIONS]) {
    const path = sealedName(name, compression);
    const sealed = await statFile(path);
    if (sealed) return { name, path, size: sealed.size, compression, encrypted: true };
  }
  return null;
}

/**
 * The archive first, then incoming/ and streaming/ (not yet archived); with `partial`, the
 * `.partial` files pg_receivewal is writing; then the archive once more in case the archiver
 * moved it meanwhile.
 */
export async function locateWal(
  sources: WalSources,
  name: string,
  partial: boolean,
): Promise<LocatedWal | null> {
  const archived = async (fileName: string): Promise<LocatedWal | null> => {
    const [file] = await sources.archive.find(fileName);
    return file ? { where: 'archive', holder: sources.archive, file } : null;
  };
  const staged =
    (where: 'incoming' | 'streaming', fileName: string) => async (): Promise<LocatedWal | null> => {
      const holder = sources[where];
      const file = await inStaging(holder, fileName);
      return file ? { where, holder, file } : null;
    };
  const steps: Array<() => Promise<LocatedWal | null>> = [
    () => archived(name),
    staged('incoming', name),
    staged('streaming', name),
  ];
  if (partial && parseWalName(name)?.kind === 'segment') {
    steps.push(
      staged('streaming', `${name}.partial`),
      () => archived(`${name}.partial`),
      staged('incoming', `${name}.partial`),
    );
  }
  steps.push(() => archived(name));
  for (const step of steps) {
    const found = await step();
    if (found) return found;
  }
  return null;
}

/** Opens a located file, decompressed unless `raw`. */
export function openLocated(found: LocatedWal, options: { raw?: boolean } = {}): Promise<Readable> {
  return found.holder.open(found.file, options);
}

/** Up to `count` consecutive segment names starting at `name` that are available (never partials). */
export async function peekWals(
  sources: WalSources,
  name: string,
  count: number,
  segmentSize: number,
): Promise<string[]> {
  const found: string[] = [];
  let current = name;
  while (found.length < count) {
    if (!(await locateWal(sources, current, false))) break;
    found.push(current);
    if (parseWalName(current)?.kind !== 'segment') break;
    current = nextSegmentName(current, segmentSize);
  }
  return found;
}
