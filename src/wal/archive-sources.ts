/**
 * Where archive-wal takes its files from and where it puts the ones it refuses: the sources
 * (incoming/, streaming/) read in name order with pg_receivewal's rules, their files' headers
 * and owners, their removal once archived, errors/ for rejected files, and the put-wal temp
 * files a dead writer left. Local directories on every archive; the archive itself is reached
 * through its Storage (archive-store.ts), never from here.
 */
import { copyFile, lstat, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDirectory, makeTreePrivate } from '../storage/durable-files.js';
import type { ArchiveOutcome, ArchiverEnvironment, Candidate, WalSource } from './archiver-types.js';
import type { WalName } from './names.js';
import { parseWalName } from './names.js';
import { parseSpooledName } from './sealed-wal.js';
import { isProcessAlive } from '../util/process-alive.js';

/** Sorted WAL files of one source, applying Barman's streaming rules and the batch size. */
export async function collectBatch(
  env: ArchiverEnvironment,
  source: WalSource,
  outcome: ArchiveOutcome,
): Promise<Candidate[]> {
  const directory = source === 'streaming' ? env.paths.streamingDirectory : env.paths.incomingDirectory;
  let names: string[];
  try {
    names = (await readdir(directory)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const candidates: Candidate[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    // Temp files of archive_command and put-wal (dotfiles, *.tmp) are still being written.
    if (name.startsWith('.') || name.endsWith('.tmp')) continue;
    const path = join(directory, name);
    // `<name><ext>.gpg`: sealed by put-wal (encryption = gpg), its compression in its name.
    const spooled = parseSpooledName(name);
    const wal = spooled ? parseWalName(spooled.name) : null;
    const info = await lstat(path).catch(() => null);
    if (!info) continue;
    if (!spooled || !wal || !info.isFile()) {
      unknown.push(name);
      continue;
    }
    candidates.push({
      name: spooled.name,
      wal,
      path,
      source,
      ...(spooled.sealed ? { sealed: { compression: spooled.compression } } : {}),
    });
  }
  if (unknown.length > 0) {
    env.report.warning(
      `Some unknown objects have been found while processing xlog segments for ${env.config.name}. ` +
        'Objects moved to errors directory:',
    );
    for (const name of unknown) {
      const movedTo = await moveToErrors(env, join(directory, name), name, 'unknown');
      env.report.warning(`\t${name}`);
      outcome.rejected.push({ name, reason: 'not a WAL file', movedTo });
    }
  }
  let batch = source === 'streaming' ? streamingBatch(candidates) : candidates;
  const limit =
    source === 'streaming' ? env.config.streaming_archiver_batch_size : env.config.archiver_batch_size;
  if (limit > 0) batch = batch.slice(0, limit);
  return batch;
}

/**
 * pg_receivewal keeps writing its newest file: `.partial` files are archived only when a newer
 * one exists, and without any `.partial` the newest complete segment stays (it resumes from it).
 * A sealed segment (the sealing receiver's, encryption = gpg) is complete and durable when it
 * appears, and its receiver resumes from its slot too: each is archived at once.
 */
function streamingBatch(candidates: Candidate[]): Candidate[] {
  // Once the newest segment here is a sealed one, pg_receivewal no longer writes here (the server
  // turned to encryption = gpg and its sealing receiver): what it left — plaintext segments, a
  // .partial whose segment is sealed too or older — is archived (encrypted) rather than kept.
  const newestSealed = candidates
    .filter((candidate) => candidate.sealed && candidate.wal.kind === 'segment')
    .map((candidate) => segmentOf(candidate.wal))
    .sort()
    .at(-1);
  if (newestSealed !== undefined && candidates.every((candidate) => segmentOf(candidate.wal) <= newestSealed))
    return candidates;
  const partials = candidates.filter((candidate) => candidate.wal.kind === 'partial');
  const others = candidates.filter((candidate) => candidate.wal.kind !== 'partial');
  if (partials.length === 0) {
    const segments = others.filter((candidate) => candidate.wal.kind === 'segment' && !candidate.sealed);
    const newest = segments.at(-1);
    return others.filter((candidate) => candidate !== newest);
  }
  return [...others, ...partials.slice(0, -1)].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}

/** The 24-hex-digit segment a WAL file name is about (a `.partial` is its segment's). */
function segmentOf(wal: WalName): string {
  return wal.name.slice(0, 24);
}

/** Creates the local drop boxes archive-wal fills (incoming/) and uses (errors/), when missing. */
export async function createSourceDirectories(directories: readonly string[]): Promise<void> {
  for (const directory of directories) await mkdir(directory, { recursive: true });
}

/** Whether any of `directories` may hold something: false only when each exists and is empty. */
export async function sourcesWaiting(directories: readonly string[]): Promise<boolean> {
  for (const directory of directories) {
    const names = await readdir(directory).catch(() => null);
    if (names === null || names.length > 0) return true;
  }
  return false;
}

/** What the archive keeps of a source file: its size, its mtime, whether barman_user owns it. */
export interface SourceStat {
  size: number;
  mtimeNs: bigint;
  /** barman_user's own file: a hard link may stand for it (else a copy is made, barman_user's). */
  ownedByUs: boolean;
}

export async function statSource(candidate: Candidate): Promise<SourceStat> {
  const info = await stat(candidate.path, { bigint: true });
  return {
    size: Number(info.size),
    mtimeNs: info.mtimeNs,
    ownedByUs: info.uid === BigInt(process.getuid?.() ?? -1),
  };
}

/** The first `length` bytes of a source file (fewer when shorter) and its size: one open. */
export async function readSourceHead(
  candidate: Candidate,
  length: number,
): Promise<{ head: Buffer; size: number }> {
  const handle = await open(candidate.path, 'r');
  try {
    const head = Buffer.alloc(length);
    const { bytesRead } = await handle.read(head, 0, length, 0);
    return { head: head.subarray(0, bytesRead), size: (await handle.stat()).size };
  } finally {
    await handle.close();
  }
}

/**
 * Removes sources whose archived copies (and catalogue lines) are durable, then syncs each of
 * their directories once: only then is a segment acknowledged. One already gone is fine.
 */
export async function acknowledgeSources(candidates: readonly Candidate[]): Promise<void> {
  const directories = new Set<string>();
  for (const candidate of candidates) {
    await unlink(candidate.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    directories.add(dirname(candidate.path));
  }
  for (const directory of directories) await fsyncDirectory(directory);
}

export async function reject(
  env: ArchiverEnvironment,
  candidate: Candidate,
  suffix: 'error' | 'duplicate' | 'unknown',
  reason: string,
  outcome: ArchiveOutcome | null,
): Promise<void> {
  const movedTo = await moveToErrors(env, candidate.path, candidate.name, suffix);
  if (suffix !== 'duplicate') {
    env.report.error(`\t${candidate.name} rejected: ${reason}. File moved to ${movedTo}`);
  }
  outcome?.rejected.push({ name: candidate.name, reason, movedTo });
}

/** `errors/<name>.<UTC stamp>.<suffix>`, as Barman names rejected files. */
async function moveToErrors(
  env: ArchiverEnvironment,
  path: string,
  name: string,
  suffix: string,
): Promise<string> {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  await mkdir(env.paths.errorsDirectory, { recursive: true });
  let target = join(env.paths.errorsDirectory, `${name}.${stamp}.${suffix}`);
  for (let attempt = 1; await lstat(target).catch(() => null); attempt += 1) {
    target = join(env.paths.errorsDirectory, `${name}.${stamp}-${attempt}.${suffix}`);
  }
  const info = await lstat(path);
  // Another user's file is copied, so that what errors/ keeps is barman_user's.
  const renamed =
    info.isFile() && info.uid !== process.getuid?.()
      ? false
      : await rename(path, target).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code !== 'EXDEV') throw error;
            return false;
          },
        );
  if (!renamed) {
    await copyFile(path, target);
    await unlink(path);
  }
  // Kept as private as the archive, whatever mode it arrived with (rsync -a of a 0644 copy).
  await makeTreePrivate(target).catch((error: unknown) =>
    env.log.warning(`cannot make ${target} private to barman_user`, { error: String(error) }),
  );
  await fsyncDirectory(env.paths.errorsDirectory);
  await fsyncDirectory(dirname(path));
  return target;
}

/** How long a put-wal temp file must have been left untouched, its writer gone, to be removed. */
export const STALE_PUT_WAL_TEMP_MS = 30 * 60_000;

/**
 * Removes from incoming/ the temp files of put-wal runs that died (`.<pid>-<hex>-<name>.tmp`,
 * see put-wal.ts): only when no process has that pid any more and the file has not changed for
 * STALE_PUT_WAL_TEMP_MS. Anything else, a live writer's file included, stays.
 */
export async function cleanStalePutWalTemps(env: ArchiverEnvironment): Promise<void> {
  const directory = env.paths.incomingDirectory;
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    const match = /^\.(\d+)-[0-9a-f]+-.+\.tmp$/.exec(name);
    if (!match) continue;
    const path = join(directory, name);
    const info = await lstat(path).catch(() => null);
    if (!info?.isFile() || Date.now() - info.mtimeMs < STALE_PUT_WAL_TEMP_MS) continue;
    if (isProcessAlive(Number(match[1]))) continue;
    await unlink(path).catch(() => {});
    env.log.info(`removed ${path}, left by a put-wal that did not finish`);
  }
}
