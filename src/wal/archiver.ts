/**
 * archive-wal: moves WAL files from streaming/ (pg_receivewal) and incoming/ (archive_command)
 * into the server's WAL archive, wherever it is (archive-store.ts): a directory in Barman's
 * layout, with xlog.db, or an object store in barman-cloud's layout.
 *
 * Safety: a source file is deleted only after its archived copy is durable: in a directory,
 * staged and synced, published (renamed into place, its directory synced: Storage.commitStaged),
 * and its xlog.db line appended and synced; in an object store, acknowledged with a verified
 * checksum. A directory's copy is staged under a temp name (a hard link when no compression is
 * needed), so a crash at any point leaves the source in place; the next run removes what was
 * staged and not published, recognises an identical archived copy (completing its xlog.db line
 * if missing) and only then removes the source.
 */
import { dirname } from 'node:path';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/index.js';
import type {
  ArchiveHookFile,
  ArchiveHooks,
  ArchiveOutcome,
  ArchiverEnvironment,
  Candidate,
  Prepared,
  WalSource,
} from './archiver-types.js';
import {
  acknowledgeSources,
  cleanStalePutWalTemps,
  collectBatch,
  readSourceHead,
  reject,
  statSource,
} from './archive-sources.js';
import {
  destinationOf,
  prepare,
  removeInterruptedStaging,
  stagingOf,
  storedHookFile,
} from './archive-store.js';
import { compressionOf, localWalFile } from './compare.js';
import { verifyWalHead, WAL_HEADER_LENGTH, type WalVerdict } from './wal-header.js';

export type {
  ArchiveHookFile,
  ArchiveHooks,
  ArchiveOutcome,
  ArchiverEnvironment,
  WalSource,
} from './archiver-types.js';
export { STALE_PUT_WAL_TEMP_MS } from './archive-sources.js';
export { wantedCompression } from './archive-store.js';

const COMMIT_CHUNK = 32;

export async function archiveWal(env: ArchiverEnvironment): Promise<ArchiveOutcome> {
  const outcome: ArchiveOutcome = { archived: [], duplicates: [], rejected: [] };
  if (env.archive.layout === 'barman') await removeInterruptedStaging(env.archive.storage);
  const sources: WalSource[] = [];
  if (env.config.streaming_archiver) sources.push('streaming');
  if (env.config.archiver) sources.push('incoming');
  const chosen = env.sources ? sources.filter((source) => env.sources!.includes(source)) : sources;
  if (chosen.includes('incoming')) await cleanStalePutWalTemps(env);
  let identity = env.systemIdentifier;
  for (const source of chosen) {
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
  const sourceStat = await statSource(candidate);
  const source: ArchiveHookFile = {
    segment: candidate.name,
    path: candidate.path,
    size: sourceStat.size,
    mtime: Number(sourceStat.mtimeNs) / 1e9,
    // A sealed file's first bytes are ciphertext: its name tells its compression.
    compression: candidate.sealed
      ? candidate.sealed.compression
      : await compressionOf(localWalFile(candidate.path), env.archive.custom),
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
  await hooks.after(await storedHookFile(env, candidate), null);
  return true;
}

/** Checks that a WAL segment belongs to this cluster and that its name matches its content. */
async function verify(candidate: Candidate, systemIdentifier: string | null): Promise<WalVerdict> {
  // A sealed file's header is ciphertext: put-wal checked the plaintext's before sealing it.
  if ((candidate.wal.kind !== 'segment' && candidate.wal.kind !== 'partial') || candidate.sealed) {
    return { ok: true, systemid: null, majorVersion: null };
  }
  const { head, size } = await readSourceHead(candidate, Math.max(WAL_HEADER_LENGTH, MAGIC_HEADER_LENGTH));
  // A file compressed before delivery (e.g. by barman-wal-archive) is checked when it is read back.
  if (identifyCompression(head) !== null) return { ok: true, systemid: null, majorVersion: null };
  return verifyWalHead(candidate.name, candidate.wal, head, size, systemIdentifier);
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
  // An object archive's files are stored already (`staged` null): nothing to publish.
  const staged = prepared.flatMap((item) => (item.kind === 'new' && item.staged ? [item.staged] : []));
  await env.commitToCatalogue({ published, ifMissing }, async () => {
    if (staged.length > 0) await stagingOf(env.archive.storage).commitStaged(staged);
  });
  for (const entry of [...published, ...ifMissing]) env.catalogued.add(entry.name);
  // Only now may the sources go: their archived copies and catalogue lines are durable.
  await acknowledgeSources(prepared.map((item) => item.candidate));
  for (const item of prepared) {
    if (item.kind === 'new') {
      outcome.archived.push(item.candidate.name);
      env.report.info(`\t${item.candidate.name}`);
    } else {
      outcome.duplicates.push(item.candidate.name);
      env.log.info(`dropped ${item.candidate.name}: an identical copy is already archived`);
    }
  }
}
