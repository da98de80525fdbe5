/**
 * Storing a WAL file into the server's archive, in the layout of its location, through its
 * Storage. A directory (Barman's layout) keeps the fast path of a storage with
 * `features.stagedCommit`: each file staged beside its destination (a hard link, or a compressed
 * copy), synced, and published in batches by the archiver's commit (Storage.commitStaged). An
 * object store (barman-cloud's layout) gets the file through cloud-archive.ts, the one upload of
 * cloud-wal-archive: compressed as configured, verified, identical copies recognised; it is
 * durable when `prepare` resolves, so the commit has nothing to publish.
 */
import type { ServerConfig } from '../config/index.js';
import { isBarmanError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { WalFile } from './compare.js';
import { compressionOf, filesHaveSameContent, localWalFile, whereIs } from './compare.js';
import type { CompressionName } from '../transfer/compression/index.js';
import type {
  ArchiveHookFile,
  ArchiveOutcome,
  ArchiverEnvironment,
  Candidate,
  Prepared,
} from './archiver-types.js';
import { reject, statSource } from './archive-sources.js';
import { cloudWalCompression } from './cloud-layout.js';
import { customWalCompression } from './custom-compression.js';
import type { XlogDbEntry } from './xlogdb.js';
import { encryptionKeyOf, encryptToFile, GPG_ENCRYPTION, isGpgEncrypted } from '../transfer/gpg.js';
import { createCompressStream, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import { pipeline, type Readable } from 'node:stream';

/** Prepares one file: its stored copy, or null when it was refused (moved to errors/). */
export async function prepare(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<Prepared | null> {
  return env.archive.layout === 'barman'
    ? prepareInDirectory(env, candidate, outcome)
    : prepareInObjectStore(env, candidate, outcome);
}

/** Where a file goes, for the hook scripts: a local path, or the object's URL. */
export function destinationOf(env: ArchiverEnvironment, candidate: Candidate): string {
  if (env.archive.layout === 'barman') return whereIs(storedFile(env, candidate));
  const encrypted = encryptionKeyOf(env.config) !== null;
  return `${env.archive.location}/${env.archive.pathOf(candidate.name, objectCompression(env), encrypted)}`;
}

/** The stored copy of a file just archived, as the post_archive scripts see it. */
export async function storedHookFile(
  env: ArchiverEnvironment,
  candidate: Candidate,
): Promise<ArchiveHookFile> {
  const destination = destinationOf(env, candidate);
  if (env.archive.layout === 'barman') {
    const file = storedFile(env, candidate);
    const stored = await file.storage.stat(file.path);
    if (!stored) throw new Error(`${destination} is missing right after it was archived`);
    return {
      segment: candidate.name,
      path: destination,
      size: stored.size,
      mtime: mtimeSeconds(stored),
      compression: await compressionOf(file, env.archive.custom),
    };
  }
  const [found] = await env.archive.find(candidate.name);
  const info = found ? await env.archive.storage.stat(found.path) : null;
  return {
    segment: candidate.name,
    path: found ? `${env.archive.location}/${found.path}` : destination,
    size: found?.size ?? 0,
    mtime: (info?.mtimeMs ?? Date.now()) / 1000,
    compression: found?.compression ?? null,
  };
}

/** barman-cloud's compression of the server (`custom` is refused for an s3:// wals_directory). */
function objectCompression(env: ArchiverEnvironment) {
  return cloudWalCompression(env.config);
}

/** `candidate`'s place in the archive (Barman's layout). */
function storedFile(env: ArchiverEnvironment, candidate: Candidate): WalFile {
  return { storage: env.archive.storage, path: env.archive.pathOf(candidate.name) };
}

/** A stored file's mtime in seconds, to the nanosecond where the storage keeps it (xlog.db's). */
function mtimeSeconds(info: { mtimeMs: number; mtimeNs?: bigint }): number {
  return info.mtimeNs !== undefined ? Number(info.mtimeNs) / 1e9 : info.mtimeMs / 1000;
}

/** The staging operations of a storage that has them (`features.stagedCommit`). */
export function stagingOf(storage: Storage): Required<Pick<Storage, 'stage' | 'commitStaged'>> {
  if (!storage.features.stagedCommit || !storage.stage || !storage.commitStaged)
    throw new Error(`the storage of ${storage.location} cannot stage files (no features.stagedCommit)`);
  return {
    stage: (path, source, options) => storage.stage!(path, source, options),
    commitStaged: (files) => storage.commitStaged!(files),
  };
}

async function prepareInDirectory(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<Prepared | null> {
  const stored = storedFile(env, candidate);
  const source = localWalFile(candidate.path);
  const custom = env.archive.custom;
  const existing = await stored.storage.stat(stored.path).catch(() => null);
  if (existing) {
    let same: boolean;
    try {
      same = await filesHaveSameContent(source, stored, custom, env.archive.passphrase);
    } catch (error) {
      if (!isBarmanError(error) || error.code !== 'encryption-no-passphrase-command') throw error;
      keepUncompared(env, candidate);
      return null;
    }
    if (same) {
      // The stored file's size and mtime, as for a new file and as rebuild-xlogdb reads them
      // (an encrypted file's compression cannot be seen: None, as Barman's rebuild records it).
      const encrypted = isGpgEncrypted(await stored.storage.readHead(stored.path, MAGIC_HEADER_LENGTH));
      const entry: XlogDbEntry = {
        name: candidate.name,
        size: existing.size,
        mtime: mtimeSeconds(existing),
        compression: encrypted ? null : await compressionOf(stored, custom),
        encryption: encrypted ? GPG_ENCRYPTION : null,
      };
      return { candidate, kind: 'duplicate', staged: null, entry };
    }
    await rejectDuplicate(env, candidate, outcome);
    return null;
  }

  const sourceStat = await statSource(candidate);
  // Another user's file (an archive_command writing into incoming/ as itself) is copied, so
  // that the archived file is barman_user's and its mode barman_user's to set.
  const asItIs = sourceStat.ownedByUs ? { link: candidate.path } : { copy: candidate.path };
  if (candidate.sealed) {
    // Sealed by put-wal: compressed and encrypted already, stored as it is (never encrypted twice).
    const staged = await stagingOf(stored.storage).stage(stored.path, asItIs);
    const entry: XlogDbEntry = {
      name: candidate.name,
      size: staged.size,
      mtime: Number(staged.mtimeNs) / 1e9,
      compression: candidate.sealed.compression,
      encryption: GPG_ENCRYPTION,
    };
    return { candidate, kind: 'new', staged, entry };
  }
  const { stage } = stagingOf(stored.storage);
  const wanted = wantedCompression(env.config);
  const already = await compressionOf(source, custom);
  const compressHere = wanted !== null && already === null;
  const compressed = (temp: string) =>
    env.pool.compressFile(wanted!, candidate.path, temp, {
      level: env.config.compression_level,
      custom: customWalCompression(env.config),
    });
  const keyId = encryptionKeyOf(env.config);
  // Streamed: zlib works on libuv's threads while gpg reads; compressing each whole file into a
  // buffer on the pool first made encrypted gzip archiving 1.5-1.8x slower than plain (bench/).
  const plainBytes = async (): Promise<Readable> => {
    const raw = await source.storage.openRead(source.path);
    if (!compressHere) return raw;
    const compressor = createCompressStream(wanted, {
      level: env.config.compression_level,
      custom: customWalCompression(env.config),
    });
    // A read or compression failure destroys the last stream with it: encryptToFile then fails.
    return pipeline(raw, compressor, () => {});
  };
  // The archived file keeps the source's mtime (as Barman's copystat does).
  const times = { mtimeMs: Number(sourceStat.mtimeNs) / 1e6 };
  const staged =
    keyId !== null
      ? // Compressed as it streams into gpg's stdin: no plaintext copy is written.
        await stage(
          stored.path,
          { write: async (temp) => encryptToFile(keyId, await plainBytes(), temp) },
          times,
        )
      : compressHere
        ? await stage(stored.path, { write: compressed }, times)
        : await stage(stored.path, asItIs);
  // xlog.db records the stored file's own mtime so that a rebuild from the archive gives the same line.
  const entry: XlogDbEntry = {
    name: candidate.name,
    size: staged.size,
    mtime: Number(staged.mtimeNs) / 1e9,
    compression: compressHere ? wanted : already,
    encryption: keyId !== null ? GPG_ENCRYPTION : null,
  };
  return { candidate, kind: 'new', staged, entry };
}

/**
 * An object store: the upload of cloud-wal-archive (compressed as configured, checksum-verified
 * by the driver, an identical stored copy recognised, a damaged one replaced). A different file
 * under the same name is refused as in a directory: the source goes to errors/.
 */
async function prepareInObjectStore(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<Prepared | null> {
  const delivered = await compressionOf(localWalFile(candidate.path), env.archive.custom);
  if (delivered !== null) {
    // Its object would be named by the configured compression, not by the one it arrived in.
    const reason = `compressed before delivery (${delivered}): an object archive stores only files it compresses itself`;
    await reject(env, candidate, 'error', reason, outcome);
    return null;
  }
  const { archiveWalToCloud } = await import('./cloud-archive.js');
  const target = {
    archive: env.archive,
    compression: objectCompression(env),
    level: env.config.compression_level,
    keyId: encryptionKeyOf(env.config),
  };
  try {
    const stored = await archiveWalToCloud(target, candidate.path, { pool: env.pool });
    const entry: XlogDbEntry = {
      name: candidate.name,
      size: stored.bytes,
      mtime: Date.now() / 1000,
      compression: candidate.sealed ? candidate.sealed.compression : target.compression,
      encryption: candidate.sealed || target.keyId !== null ? GPG_ENCRYPTION : null,
    };
    const kind = stored.status === 'uploaded' ? 'new' : 'duplicate';
    return { candidate, kind, staged: null, entry };
  } catch (error) {
    if (!isBarmanError(error) || error.code !== 'wal-duplicate-differs') throw error;
    await rejectDuplicate(env, candidate, outcome);
    return null;
  }
}

/**
 * A sealed file whose name is archived already cannot be compared without the passphrase: it
 * stays where it is (nothing is lost, nothing is guessed) and the run says what to do.
 */
function keepUncompared(env: ArchiverEnvironment, candidate: Candidate): void {
  env.report.error(
    `\t${candidate.name} is already archived in server ${env.config.name} and one of the copies is encrypted: ` +
      `comparing them needs 'encryption_passphrase_command'. ${candidate.path} stays where it is; ` +
      `set the option and run archive-wal again (identical: dropped; different: moved to the errors directory)`,
  );
}

async function rejectDuplicate(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<void> {
  await reject(
    env,
    candidate,
    'duplicate',
    `${candidate.name} is already present in server ${env.config.name}`,
    outcome,
  );
  env.report.error(
    `\tError: ${candidate.name} is already present in server ${env.config.name}. File moved to errors directory.`,
  );
}

/**
 * Removes what a killed archive-wal staged in the hash directories and never committed (the
 * caller holds the archive-wal lock: nothing else stages there).
 */
export async function removeInterruptedStaging(storage: Storage): Promise<void> {
  for (const entry of await storage.list('')) {
    if (entry.kind === 'directory') await storage.removeInterruptedWrites(entry.name);
  }
}

export function wantedCompression(config: ServerConfig): CompressionName | null {
  const name = config.compression;
  return name === null || name === 'none' ? null : name;
}
