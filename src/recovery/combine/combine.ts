/**
 * A native pg_combinebackup: the chain (full backup, then incrementals, oldest first, each read
 * through its Storage) becomes one plain data directory on the local disk, with a
 * backup_manifest of its own that pg_verifybackup accepts. Relation segments stored as
 * `INCREMENTAL.*` in the newest backup are rebuilt block by block (block-plan.ts); every other
 * file is the newest backup's. The whole chain is checked (scan.ts) before the first byte is
 * written, and a failure while writing removes what was created.
 */
import { renderBackupManifest, type ManifestFile } from '../../catalog/backup-manifest.js';
import { BarmanError } from '../../errors/index.js';
import { runWorkers } from '../../util/workers.js';
import { planBlocks, type BlockPlan, type SegmentVersion } from './block-plan.js';
import { combinedLabel, joinPath, loadChain, type ChainBackup, type LoadedBackup } from './chain.js';
import { BLOCK_SIZE } from './incremental-file.js';
import {
  OutputFile,
  type CreatedRoot,
  makeDirectory,
  makeLink,
  removeCreated,
  requireEmptyOrMissing,
  syncPaths,
} from './output.js';
import { PositionedReader } from './positioned-reader.js';
import {
  incrementalName,
  locate,
  scanChain,
  segmentVersions,
  type CombineScan,
  type PlannedFile,
} from './scan.js';

/** How files reach the destination. Only copies so far; link and clone are to come. */
export type CombineMode = 'copy';

export interface CombineRequest {
  /** Oldest first: the full backup, then each incremental based on the one before. */
  backups: readonly ChainBackup[];
  /** The local data directory to create (missing or empty). */
  destination: string;
  /** Local directory of each tablespace of the newest backup (missing or empty). */
  tablespaceDestinations: ReadonlyMap<number, string>;
  mode?: CombineMode;
  /** Files written at once (default 4). */
  jobs?: number;
}

export interface CombineResult {
  files: number;
  reconstructed: number;
  bytes: number;
}

/** Blocks read from one source at once: bounded memory per job. */
const RUN_BLOCKS = 128;
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);
/** fsyncs at once at the end: the device sees them together. */
const SYNC_JOBS = 16;

export async function combineChain(request: CombineRequest): Promise<CombineResult> {
  const mode = request.mode ?? 'copy';
  if (mode !== 'copy')
    throw new BarmanError('combine-mode', `combine_mode '${String(mode)}' is not supported yet: use copy`);
  const chain = await loadChain(request.backups);
  const newest = chain[chain.length - 1]!;
  const outputs = new Map<number, string>();
  for (const oid of newest.tablespaces.keys()) {
    const target = request.tablespaceDestinations.get(oid);
    if (target === undefined)
      throw new BarmanError(
        'combine-tablespace',
        `tablespace ${oid} of backup ${newest.name} has no destination`,
      );
    outputs.set(oid, target);
  }
  const scan = await scanChain(chain);
  const created: CreatedRoot[] = [];
  for (const path of [request.destination, ...outputs.values()])
    created.push({ path, existed: await requireEmptyOrMissing(path) });
  try {
    return await writeResult(chain, scan, request, outputs, created);
  } catch (error) {
    await removeCreated(created);
    throw error;
  }
}

async function writeResult(
  chain: readonly LoadedBackup[],
  scan: CombineScan,
  request: CombineRequest,
  outputs: ReadonlyMap<number, string>,
  created: readonly CreatedRoot[],
): Promise<CombineResult> {
  const newest = chain[chain.length - 1]!;
  const localPath = (path: string): string => {
    const match = /^pg_tblspc\/(\d+)(?:\/(.*))?$/.exec(path);
    const tablespace = match ? outputs.get(Number(match[1])) : undefined;
    return tablespace === undefined
      ? joinPath(request.destination, path)
      : joinPath(tablespace, match![2] ?? '');
  };
  for (const root of created) await makeDirectory(root.path);
  for (const directory of scan.directories) {
    const match = /^pg_tblspc\/(\d+)$/.exec(directory);
    const tablespace = match ? outputs.get(Number(match[1])) : undefined;
    if (tablespace === undefined) await makeDirectory(localPath(directory));
    else await makeLink(tablespace, joinPath(request.destination, directory));
  }

  const manifest: ManifestFile[] = [];
  let bytes = 0;
  await runWorkers(request.jobs ?? 4, scan.files, async (file: PlannedFile) => {
    const output = await OutputFile.create(localPath(file.path));
    try {
      if (file.kind === 'copy') await copyWhole(newest, file.path, output);
      else await reconstruct(chain, scan, file.path, file.versions, output);
      const sha256 = await output.finish();
      bytes += output.size;
      // WAL is not in a backup manifest: pg_verifybackup checks it by parsing it.
      if (!file.path.startsWith('pg_wal/'))
        manifest.push({ path: file.path, size: output.size, mtimeMs: Date.now(), sha256 });
    } catch (error) {
      await output.abandon();
      throw error;
    }
  });

  const label = await OutputFile.create(joinPath(request.destination, 'backup_label'));
  await label.write(Buffer.from(combinedLabel(newest)));
  manifest.push({
    path: 'backup_label',
    size: label.size,
    mtimeMs: Date.now(),
    sha256: await label.finish(),
  });
  manifest.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifestFile = await OutputFile.create(joinPath(request.destination, 'backup_manifest'));
  await manifestFile.write(
    Buffer.from(
      renderBackupManifest(manifest, newest.walRanges, { systemIdentifier: newest.systemIdentifier }),
    ),
  );
  await manifestFile.finish();

  const written = [...scan.files.map((file) => localPath(file.path)), label.path, manifestFile.path];
  const directories = [...scan.directories.map(localPath), request.destination, ...outputs.values()];
  await syncPaths(written, directories, SYNC_JOBS);
  const reconstructed = scan.files.filter((file) => file.kind === 'reconstruct').length;
  return { files: scan.files.length + 2, reconstructed, bytes };
}

async function copyWhole(backup: LoadedBackup, path: string, output: OutputFile): Promise<void> {
  const stream = await backup.storage.openRead(locate(backup, path)!);
  for await (const chunk of stream) await output.write(chunk as Buffer);
}

async function reconstruct(
  chain: readonly LoadedBackup[],
  scan: CombineScan,
  path: string,
  scanned: SegmentVersion[] | null,
  output: OutputFile,
): Promise<void> {
  const versions = scanned ?? (await segmentVersions(chain, scan.contents, path));
  const plan = planBlocks(versions);
  if (plan.copyFrom !== null) return copyWhole(chain[plan.copyFrom]!, path, output);
  const readers = new Map<number, PositionedReader>();
  const readerOf = (index: number): PositionedReader => {
    let reader = readers.get(index);
    if (reader === undefined) {
      const backup = chain[index]!;
      const name = versions[index]!.kind === 'full' ? path : incrementalName(path);
      reader = new PositionedReader(backup.storage, locate(backup, name)!, `${backup.name}: ${name}`);
      readers.set(index, reader);
    }
    return reader;
  };
  try {
    for (let block = 0; block < plan.length;) {
      const run = runLength(plan, block);
      const source = plan.source[block]!;
      if (source === -1) for (let i = 0; i < run; i++) await output.write(ZERO_BLOCK);
      else await output.write(await readerOf(source).read(plan.offset[block]!, run * BLOCK_SIZE));
      block += run;
    }
  } finally {
    for (const reader of readers.values()) reader.close();
  }
}

/** Blocks from `start` on that come from one source, one after the other in it. */
function runLength(plan: BlockPlan, start: number): number {
  let end = start + 1;
  while (
    end < plan.length &&
    end - start < RUN_BLOCKS &&
    plan.source[end] === plan.source[start] &&
    (plan.source[start] === -1 || plan.offset[end] === plan.offset[end - 1]! + BLOCK_SIZE)
  )
    end++;
  return end - start;
}
