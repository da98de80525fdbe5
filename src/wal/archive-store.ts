/**
 * Storing a WAL file into the server's archive, in the layout of its location. A directory
 * (Barman's layout) keeps the fast path: a hard link (or a compressed copy) written as a temp
 * file beside its destination and synced, renamed into place in batches by the archiver's
 * commit. An object store (barman-cloud's layout) gets the file through cloud-archive.ts, the
 * one upload of cloud-wal-archive: compressed as configured, verified, identical copies
 * recognised; it is durable when `prepare` resolves, so the commit has nothing to rename.
 */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { isBarmanError } from '../errors/index.js';
import { filesHaveSameContent } from './compare.js';
import type { CompressionName } from '../transfer/compression/index.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import type {
  ArchiveHookFile,
  ArchiveOutcome,
  ArchiverEnvironment,
  Candidate,
  Prepared,
} from './archiver-types.js';
import { reject } from './archive-sources.js';
import { cloudWalCompression } from './cloud-layout.js';
import { customWalCompression } from './custom-compression.js';
import { hashDir } from './names.js';
import type { XlogDbEntry } from './xlogdb.js';

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
  if (env.archive.layout === 'barman')
    return join(env.paths.walsDirectory, hashDir(candidate.name), candidate.name);
  return `${env.archive.location}/${env.archive.pathOf(candidate.name, objectCompression(env))}`;
}

/** The stored copy of a file just archived, as the post_archive scripts see it. */
export async function storedHookFile(
  env: ArchiverEnvironment,
  candidate: Candidate,
): Promise<ArchiveHookFile> {
  const destination = destinationOf(env, candidate);
  if (env.archive.layout === 'barman') {
    const stored = await stat(destination, { bigint: true });
    return {
      segment: candidate.name,
      path: destination,
      size: Number(stored.size),
      mtime: Number(stored.mtimeNs) / 1e9,
      compression: await detectCompression(destination, env.config),
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

async function prepareInDirectory(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<Prepared | null> {
  const destination = join(env.paths.walsDirectory, hashDir(candidate.name), candidate.name);
  const sourceStat = await stat(candidate.path, { bigint: true });
  const mtime = Number(sourceStat.mtimeNs) / 1e9;
  const existing = await lstat(destination, { bigint: true }).catch(() => null);
  if (existing) {
    if (await filesHaveSameContent(candidate.path, destination, customWalCompression(env.config))) {
      const compression = await detectCompression(destination, env.config);
      // The stored file's size and mtime, as for a new file and as rebuild-xlogdb reads them.
      const entry: XlogDbEntry = {
        name: candidate.name,
        size: Number(existing.size),
        mtime: Number(existing.mtimeNs) / 1e9,
        compression,
        encryption: null,
      };
      return { candidate, kind: 'duplicate', temp: null, destination, entry };
    }
    await rejectDuplicate(env, candidate, outcome);
    return null;
  }

  await mkdir(dirname(destination), { recursive: true });
  const temp = join(
    dirname(destination),
    `.${candidate.name}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`,
  );
  const wanted = wantedCompression(env.config);
  const already = await detectCompression(candidate.path, env.config);
  let compression: string | null = already;
  let stored: BigIntStats;
  try {
    if (wanted !== null && already === null) {
      await env.pool.compressFile(wanted, candidate.path, temp, {
        level: env.config.compression_level,
        custom: customWalCompression(env.config),
      });
      compression = wanted;
    } else if (sourceStat.uid === BigInt(process.getuid?.() ?? -1)) {
      await link(candidate.path, temp).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
        await copyFile(candidate.path, temp);
      });
    } else {
      // Another user's file (an archive_command writing into incoming/ as itself): a copy, so
      // that the archived file is barman_user's and its mode barman_user's to set.
      await copyFile(candidate.path, temp);
    }
    // The source was written by archive_command or pg_receivewal, which may not have synced it.
    const handle = await open(temp, 'r+');
    try {
      // Copies and links keep the source's mode (pg_receivewal writes 0640 for a group-readable
      // PGDATA, rsync -a a 0644 copy's): archived WAL is barman_user's alone.
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The archived file keeps the source's mtime (as Barman's copystat does); xlog.db records the
    // stored file's own mtime so that a rebuild from the archive gives the same line.
    if (compression !== already) await utimes(temp, new Date(), mtime);
    stored = await stat(temp, { bigint: true });
  } catch (error) {
    // A partial copy must not hold on to space (a full disk) until the next run cleans it.
    await unlink(temp).catch(() => {});
    throw error;
  }
  const size = Number(stored.size);
  const storedMtime = Number(stored.mtimeNs) / 1e9;
  return {
    candidate,
    kind: 'new',
    temp,
    destination,
    entry: { name: candidate.name, size, mtime: storedMtime, compression, encryption: null },
  };
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
  const delivered = await detectCompression(candidate.path, env.config);
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
  };
  try {
    const stored = await archiveWalToCloud(target, candidate.path, { pool: env.pool });
    const entry: XlogDbEntry = {
      name: candidate.name,
      size: stored.bytes,
      mtime: Date.now() / 1000,
      compression: target.compression,
      encryption: null,
    };
    const kind = stored.status === 'uploaded' ? 'new' : 'duplicate';
    return { candidate, kind, temp: null, destination: stored.path, entry };
  } catch (error) {
    if (!isBarmanError(error) || error.code !== 'wal-duplicate-differs') throw error;
    await rejectDuplicate(env, candidate, outcome);
    return null;
  }
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

/** Removes temp files a killed archive-wal left in wals/ (only ours: `.<name>.<pid>-<hex>.tmp`). */
export async function cleanTempFiles(walsDirectory: string): Promise<void> {
  const directories = await readdir(walsDirectory, { withFileTypes: true }).catch(() => []);
  for (const entry of directories) {
    if (!entry.isDirectory()) continue;
    const directory = join(walsDirectory, entry.name);
    for (const name of await readdir(directory).catch(() => [] as string[])) {
      if (/^\..+\.\d+-[0-9a-f]+\.tmp$/.test(name)) await unlink(join(directory, name)).catch(() => {});
    }
  }
}

export function wantedCompression(config: ServerConfig): CompressionName | null {
  const name = config.compression;
  return name === null || name === 'none' ? null : name;
}

export async function detectCompression(path: string, config: ServerConfig): Promise<CompressionName | null> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC_HEADER_LENGTH);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return identifyCompression(head.subarray(0, bytesRead), customWalCompression(config));
  } finally {
    await handle.close();
  }
}
