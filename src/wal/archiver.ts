/**
 * archive-wal: moves WAL files from streaming/ (pg_receivewal) and incoming/ (archive_command)
 * into wals/, compressed as configured, and records them in xlog.db.
 *
 * Safety: a source file is deleted only after its archived copy is fsynced, renamed into place,
 * its directory fsynced, and its xlog.db line appended and fsynced. The copy is first written
 * as a temp file (a hard link when no compression is needed), so a crash at any point leaves
 * the source in place; the next run recognises an identical archived copy, completes its
 * xlog.db line if missing, and only then removes the source.
 */
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';
import { fsyncDirectory, makeTreePrivate } from '../storage/posix.js';
import { filesHaveSameContent } from './compare.js';
import type { CompressionName, CompressionPool } from '../transfer/compression/index.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import { customWalCompression } from './custom-compression.js';
import { hashDir, parseWalName, segmentStartLsn } from './names.js';
import type { WalName } from './names.js';
import { parseWalHeader, WAL_HEADER_LENGTH } from './wal-header.js';
import type { XlogDbEntry } from './xlogdb.js';

export type WalSource = 'streaming' | 'incoming';

export interface ArchiverEnvironment {
  config: ServerConfig;
  paths: {
    walsDirectory: string;
    incomingDirectory: string;
    streamingDirectory: string;
    errorsDirectory: string;
  };
  report: Reporter;
  log: Logger;
  pool: CompressionPool;
  /** System identifier the archive belongs to (identity.json), or null when not yet known. */
  systemIdentifier: string | null;
  /** Called with the first verified header when the identity was unknown. */
  onIdentityLearned(systemid: string, majorVersion: string | null): Promise<void>;
  /**
   * Names known to be in xlog.db (read at the start; the archiver adds the lines it appends), so
   * that a file already archived — a retry, the same segment from streaming/ and incoming/, a run
   * killed before its xlog.db append — gets a line only when it has none.
   */
  catalogued: Set<string>;
  /**
   * Under the xlogdb lock: runs `publish` (the renames into wals/), then appends durably the lines
   * of `lines.published` and those of `lines.ifMissing` that xlog.db does not hold at that moment
   * (another process, rebuild-xlogdb, may have added them since `catalogued` was read). Holding
   * the lock across both keeps rebuild-xlogdb from cataloguing a file twice.
   */
  commitToCatalogue(
    lines: { published: readonly XlogDbEntry[]; ifMissing: readonly XlogDbEntry[] },
    publish: () => Promise<void>,
  ): Promise<void>;
  /** pre/post_archive hook scripts; absent when none is configured (files are then archived in chunks). */
  hooks?: ArchiveHooks;
}

export interface ArchiveOutcome {
  archived: string[];
  /** Identical copies already archived: the source was dropped. */
  duplicates: string[];
  rejected: Array<{ name: string; reason: string; movedTo: string }>;
  /** A pre_archive_retry_script stopped the batch (exit 63) at this file: it and the rest stay in place. */
  aborted?: { name: string; reason: string };
}

/** A WAL file as the archive hook scripts see it (BARMAN_SEGMENT, BARMAN_FILE, ...). */
export interface ArchiveHookFile {
  segment: string;
  /** pre: the source in incoming/ or streaming/; post: the destination in wals/. */
  path: string;
  size: number;
  /** mtime, in seconds since the epoch. */
  mtime: number;
  compression: string | null;
}

/** The pre/post_archive hook points; src/hooks implements them (wal must not import hooks). */
export interface ArchiveHooks {
  /** Before a file is archived: resolves with the reason to stop the batch, or null to go on. */
  before(file: ArchiveHookFile): Promise<string | null>;
  /** After a file was archived (`error` null) or was not (`error` says why). */
  after(file: ArchiveHookFile, error: string | null): Promise<void>;
}

interface Candidate {
  name: string;
  wal: WalName;
  path: string;
  source: WalSource;
}

interface Prepared {
  candidate: Candidate;
  kind: 'new' | 'duplicate';
  /** Temp file to rename to `destination` (new files only). */
  temp: string | null;
  destination: string;
  entry: XlogDbEntry;
}

const COMMIT_CHUNK = 32;

export async function archiveWal(env: ArchiverEnvironment): Promise<ArchiveOutcome> {
  const outcome: ArchiveOutcome = { archived: [], duplicates: [], rejected: [] };
  await cleanTempFiles(env.paths.walsDirectory);
  if (env.config.archiver) await cleanStalePutWalTemps(env);
  const sources: WalSource[] = [];
  if (env.config.streaming_archiver) sources.push('streaming');
  if (env.config.archiver) sources.push('incoming');
  let identity = env.systemIdentifier;
  for (const source of sources) {
    const candidates = await collectBatch(env, source, outcome);
    if (candidates.length === 0) continue;
    const batchSize =
      source === 'streaming' ? env.config.streaming_archiver_batch_size : env.config.archiver_batch_size;
    env.report.info(
      `Processing xlog segments from ${source === 'streaming' ? 'streaming' : 'file archival'} for ${env.config.name}` +
        (batchSize > 0 ? ` (batch size: ${batchSize})` : ''),
    );
    // With hook scripts each file is archived on its own, between its pre and post scripts (Barman's order).
    const chunkSize = env.hooks ? 1 : COMMIT_CHUNK;
    for (let start = 0; start < candidates.length; start += chunkSize) {
      const chunk = candidates.slice(start, start + chunkSize);
      const archiveChunk = async (): Promise<void> => {
        // Headers are checked in order first so that the identity, when learned, comes from the oldest file.
        const verified: Candidate[] = [];
        for (const candidate of chunk) {
          const verdict = await verify(candidate, identity);
          if (verdict.ok) {
            if (identity === null && verdict.systemid !== null) {
              identity = verdict.systemid;
              await env.onIdentityLearned(verdict.systemid, verdict.majorVersion);
            }
            verified.push(candidate);
          } else {
            await reject(env, candidate, 'error', verdict.reason, outcome);
          }
        }
        await prepareAndCommit(env, verified, outcome);
      };
      if (!env.hooks) await archiveChunk();
      else if (!(await archiveWithHooks(env, env.hooks, chunk[0]!, outcome, archiveChunk))) break;
    }
  }
  return outcome;
}

/**
 * Prepares the files in parallel and commits the ones that are ready. Parallel copies can all
 * fail together (a file system that fills up), so the failed ones are retried one at a time:
 * what fits is archived, and the first error that remains is thrown.
 */
async function prepareAndCommit(
  env: ArchiverEnvironment,
  verified: readonly Candidate[],
  outcome: ArchiveOutcome,
): Promise<void> {
  const settled = await Promise.allSettled(verified.map((candidate) => prepare(env, candidate, outcome)));
  await commit(
    env,
    settled.flatMap((result) => (result.status === 'fulfilled' && result.value ? [result.value] : [])),
    outcome,
  );
  for (const [index, result] of settled.entries()) {
    if (result.status === 'fulfilled') continue;
    env.log.warning(`retrying ${verified[index]!.name} alone after: ${messageOf(result.reason)}`);
    const item = await prepare(env, verified[index]!, outcome);
    if (item) await commit(env, [item], outcome);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Archives one file between its pre and post hook scripts. Resolves false when a pre script
 * stopped the batch; the post scripts run then too, with the reason as error (as Barman's do).
 */
async function archiveWithHooks(
  env: ArchiverEnvironment,
  hooks: ArchiveHooks,
  candidate: Candidate,
  outcome: ArchiveOutcome,
  archive: () => Promise<void>,
): Promise<boolean> {
  const sourceStat = await stat(candidate.path, { bigint: true });
  const source: ArchiveHookFile = {
    segment: candidate.name,
    path: candidate.path,
    size: Number(sourceStat.size),
    mtime: Number(sourceStat.mtimeNs) / 1e9,
    compression: await detectCompression(candidate.path, env.config),
  };
  const destination = destinationOf(env, candidate);
  const stop = await hooks.before(source);
  if (stop !== null) {
    await hooks.after({ ...source, path: destination }, stop);
    outcome.aborted = { name: candidate.name, reason: stop };
    env.report.warning(
      `Archiving of ${candidate.name} for server ${env.config.name} stopped: ${stop}. ` +
        `${candidate.name} and the files after it stay in ${dirname(candidate.path)}`,
    );
    return false;
  }
  const rejectedBefore = outcome.rejected.length;
  try {
    await archive();
  } catch (error) {
    await hooks.after(
      { ...source, path: destination },
      error instanceof Error ? error.message : String(error),
    );
    throw error;
  }
  const rejected = outcome.rejected.length > rejectedBefore ? outcome.rejected.at(-1) : undefined;
  if (rejected) {
    await hooks.after({ ...source, path: destination }, `${rejected.reason}; moved to ${rejected.movedTo}`);
    return true;
  }
  const stored = await stat(destination, { bigint: true });
  await hooks.after(
    {
      segment: candidate.name,
      path: destination,
      size: Number(stored.size),
      mtime: Number(stored.mtimeNs) / 1e9,
      compression: await detectCompression(destination, env.config),
    },
    null,
  );
  return true;
}

/** Sorted WAL files of one source, applying Barman's streaming rules and the batch size. */
async function collectBatch(
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
    const wal = parseWalName(name);
    const info = await lstat(path).catch(() => null);
    if (!info) continue;
    if (!wal || !info.isFile()) {
      unknown.push(name);
      continue;
    }
    candidates.push({ name, wal, path, source });
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
 */
function streamingBatch(candidates: Candidate[]): Candidate[] {
  const partials = candidates.filter((candidate) => candidate.wal.kind === 'partial');
  const others = candidates.filter((candidate) => candidate.wal.kind !== 'partial');
  if (partials.length === 0) {
    const segments = others.filter((candidate) => candidate.wal.kind === 'segment');
    const newest = segments.at(-1);
    return others.filter((candidate) => candidate !== newest);
  }
  return [...others, ...partials.slice(0, -1)].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}

type Verdict =
  { ok: true; systemid: string | null; majorVersion: string | null } | { ok: false; reason: string };

/** Checks that a WAL segment belongs to this cluster and that its name matches its content. */
async function verify(candidate: Candidate, systemIdentifier: string | null): Promise<Verdict> {
  if (candidate.wal.kind !== 'segment' && candidate.wal.kind !== 'partial') {
    return { ok: true, systemid: null, majorVersion: null };
  }
  const handle = await open(candidate.path, 'r');
  let head: Buffer;
  let size: number;
  try {
    head = Buffer.alloc(Math.max(WAL_HEADER_LENGTH, MAGIC_HEADER_LENGTH));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    head = head.subarray(0, bytesRead);
    size = (await handle.stat()).size;
  } finally {
    await handle.close();
  }
  // A file compressed before delivery (e.g. by barman-wal-archive) is checked when it is read back.
  if (identifyCompression(head) !== null) return { ok: true, systemid: null, majorVersion: null };
  const header = parseWalHeader(head);
  if ('invalid' in header) return { ok: false, reason: `not a WAL segment: ${header.invalid}` };
  if (systemIdentifier !== null && header.systemIdentifier !== systemIdentifier) {
    return {
      ok: false,
      reason: `belongs to another cluster (system identifier ${header.systemIdentifier}, expected ${systemIdentifier})`,
    };
  }
  if (candidate.wal.kind === 'segment' && size !== header.segmentSize) {
    return { ok: false, reason: `size ${size} does not match the segment size ${header.segmentSize}` };
  }
  if (header.pageAddress !== segmentStartLsn(candidate.name, header.segmentSize)) {
    return { ok: false, reason: 'its content does not belong to the segment its name says (renamed file?)' };
  }
  return { ok: true, systemid: header.systemIdentifier, majorVersion: header.majorVersion };
}

function destinationOf(env: ArchiverEnvironment, candidate: Candidate): string {
  return join(env.paths.walsDirectory, hashDir(candidate.name), candidate.name);
}

async function prepare(
  env: ArchiverEnvironment,
  candidate: Candidate,
  outcome: ArchiveOutcome,
): Promise<Prepared | null> {
  const destination = destinationOf(env, candidate);
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

async function commit(
  env: ArchiverEnvironment,
  prepared: Prepared[],
  outcome: ArchiveOutcome,
): Promise<void> {
  if (prepared.length === 0) return;
  const published = prepared.filter((item) => item.kind === 'new').map((item) => item.entry);
  const ifMissing = prepared
    .filter((item) => item.kind === 'duplicate' && !env.catalogued.has(item.entry.name))
    .map((item) => item.entry);
  await env.commitToCatalogue({ published, ifMissing }, async () => {
    const directories = new Set<string>();
    for (const item of prepared) {
      if (item.kind !== 'new') continue;
      await rename(item.temp!, item.destination);
      directories.add(dirname(item.destination));
    }
    for (const directory of directories) await fsyncDirectory(directory);
  });
  for (const entry of [...published, ...ifMissing]) env.catalogued.add(entry.name);
  // Only now may the sources go: their archived copies and catalogue lines are durable.
  const sourceDirectories = new Set<string>();
  for (const item of prepared) {
    await unlink(item.candidate.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    sourceDirectories.add(dirname(item.candidate.path));
    if (item.kind === 'new') {
      outcome.archived.push(item.candidate.name);
      env.report.info(`\t${item.candidate.name}`);
    } else {
      outcome.duplicates.push(item.candidate.name);
      env.log.info(`dropped ${item.candidate.name}: an identical copy is already archived`);
    }
  }
  for (const directory of sourceDirectories) await fsyncDirectory(directory);
}

async function reject(
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

/** Removes temp files a killed archive-wal left in wals/ (only ours: `.<name>.<pid>-<hex>.tmp`). */
async function cleanTempFiles(walsDirectory: string): Promise<void> {
  const directories = await readdir(walsDirectory, { withFileTypes: true }).catch(() => []);
  for (const entry of directories) {
    if (!entry.isDirectory()) continue;
    const directory = join(walsDirectory, entry.name);
    for (const name of await readdir(directory).catch(() => [] as string[])) {
      if (/^\..+\.\d+-[0-9a-f]+\.tmp$/.test(name)) await unlink(join(directory, name)).catch(() => {});
    }
  }
}

/** How long a put-wal temp file must have been left untouched, its writer gone, to be removed. */
export const STALE_PUT_WAL_TEMP_MS = 30 * 60_000;

/**
 * Removes from incoming/ the temp files of put-wal runs that died (`.<pid>-<hex>-<name>.tmp`,
 * see put-wal.ts): only when no process has that pid any more and the file has not changed for
 * STALE_PUT_WAL_TEMP_MS. Anything else, a live writer's file included, stays.
 */
async function cleanStalePutWalTemps(env: ArchiverEnvironment): Promise<void> {
  const directory = env.paths.incomingDirectory;
  for (const name of await readdir(directory).catch(() => [] as string[])) {
    const match = /^\.(\d+)-[0-9a-f]+-.+\.tmp$/.exec(name);
    if (!match) continue;
    const path = join(directory, name);
    const info = await lstat(path).catch(() => null);
    if (!info?.isFile() || Date.now() - info.mtimeMs < STALE_PUT_WAL_TEMP_MS) continue;
    if (processExists(Number(match[1]))) continue;
    await unlink(path).catch(() => {});
    env.log.info(`removed ${path}, left by a put-wal that did not finish`);
  }
}

function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
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
