/**
 * A native pg_combinebackup: the chain (full backup, then incrementals, oldest first, each read
 * through its Storage) becomes one plain data directory on the local disk, with a
 * backup_manifest of its own that pg_verifybackup accepts. Relation segments stored as
 * `INCREMENTAL.*` in the newest backup are rebuilt block by block (block-plan.ts); every other
 * file is the newest backup's. The whole chain is checked (scan.ts) before the first byte is
 * written, and a failure while writing removes what was created.
 */
import {
  renderBackupManifest,
  type ManifestChecksum,
  type ManifestFile,
} from '../../catalog/backup-manifest.js';
import { BarmanError } from '../../errors/index.js';
import { runWorkers } from '../../util/workers.js';
import { planBlocks, type SegmentVersion } from './block-plan.js';
import { combinedLabel, joinPath, loadChain, type ChainBackup, type LoadedBackup } from './chain.js';
import {
  OutputFile,
  combineHasher,
  type CreatedRoot,
  makeDirectory,
  makeLink,
  removeCreated,
  removeFile,
  removeReplaced,
  requireEmptyOrMissing,
  syncFile,
  syncPaths,
} from './output.js';
import { placeWholeFile, probeWholeFileMode, sizeOf, type WholeFileMode } from './local-files.js';
import { localFullVersion, patchInPlace, reconstruct } from './reconstruct.js';
import {
  inRelationDirectory,
  locate,
  damagedFile,
  scanChain,
  segmentVersions,
  type ChainListing,
  type CombineScan,
  type PlannedFile,
} from './scan.js';

/** How files copied whole reach the destination (combine_mode); reconstructed files are written. */
export type CombineMode = WholeFileMode;

/** What the writer does with a path of the result (manifest-style): recovery's exclusions. */
export type CombineFilter = (path: string, isDirectory: boolean) => 'skip' | 'empty' | 'copy';

export interface CombineTarget {
  /** The local data directory to write. */
  destination: string;
  /** Local directory of each tablespace of the newest backup. */
  tablespaceDestinations: ReadonlyMap<number, string>;
  mode?: CombineMode;
  /** Files written at once (default 4). */
  jobs?: number;
  /** Leaves out files (and the content of `empty` directories); the default writes everything. */
  filter?: CombineFilter;
  /**
   * The chain's full backup (its first backup) is already the content of `destination` and the
   * tablespace directories (extracted there from its tar archives): its files the result keeps
   * stay where they are, changed relation segments are patched where they lie, newer files
   * replace them, and the files it lists that the result no longer has are removed.
   */
  baseInPlace?: boolean;
}

export interface CombineRequest extends CombineTarget {
  /** Oldest first: the full backup, then each incremental based on the one before. */
  backups: readonly ChainBackup[];
}

export interface CombineResult {
  files: number;
  reconstructed: number;
  bytes: number;
}

/** A chain read and checked (combine/chain.ts, scan.ts): nothing is written yet. */
export interface PreparedCombine {
  chain: LoadedBackup[];
  scan: CombineScan;
}

/** INCREMENTAL headers read at once ahead of the writers (each a small read of one file). */
const HEADER_JOBS = 16;

/** fsyncs at once at the end: the device sees them together. */
const SYNC_JOBS = 16;

/**
 * Reads and checks the chain (its backups' labels, manifests and lists of files); refuses one that
 * cannot be combined, naming what is wrong. `listing` says where the lists come from (scan.ts).
 */
export async function prepareCombine(
  backups: readonly ChainBackup[],
  listing: ChainListing = 'manifest',
): Promise<PreparedCombine> {
  const chain = await loadChain(backups);
  return { chain, scan: await scanChain(chain, listing) };
}

/**
 * Refuses, before anything is written, a combine_mode that cannot place the backups' files in
 * `destinations` (the local directories the chain will be written to, existing or not): link
 * and clone from an object store, or onto a file system that cannot hard-link (another one) or
 * clone (no reflinks) them — probed with one file of each backup.
 */
export async function checkCombineMode(
  prepared: PreparedCombine,
  mode: CombineMode,
  destinations: readonly string[],
): Promise<void> {
  if (mode !== 'link' && mode !== 'clone') return;
  for (const backup of prepared.chain) {
    const local = backup.storage.localPath?.(joinPath(backup.dataDirectory, 'PG_VERSION'));
    if (local === undefined) throw notLocal(mode, backup);
    for (const destination of destinations) await probeWholeFileMode(mode, local, destination);
  }
}

function notLocal(mode: CombineMode, backup: LoadedBackup): BarmanError {
  return new BarmanError(
    'combine-mode-unsupported',
    `combine_mode = ${mode}: backup ${backup.name} is in ${backup.storage.location}, not on a local file system: set combine_mode = copy`,
    { hint: 'set combine_mode = copy (or --combine-mode copy)' },
  );
}

/** Combines into new (missing or empty) directories; a failure removes what was written. */
export async function combineChain(request: CombineRequest): Promise<CombineResult> {
  const prepared = await prepareCombine(request.backups);
  const outputs = tablespaceOutputs(prepared, request);
  const created: CreatedRoot[] = [];
  for (const path of [request.destination, ...outputs.values()])
    created.push({ path, existed: await requireEmptyOrMissing(path) });
  try {
    return await writeCombined(prepared, request);
  } catch (error) {
    await removeCreated(created);
    throw error;
  }
}

function tablespaceOutputs(prepared: PreparedCombine, target: CombineTarget): Map<number, string> {
  const newest = prepared.chain[prepared.chain.length - 1]!;
  const outputs = new Map<number, string>();
  for (const oid of newest.tablespaces.keys()) {
    const location = target.tablespaceDestinations.get(oid);
    if (location === undefined)
      throw new BarmanError(
        'combine-tablespace',
        `tablespace ${oid} of backup ${newest.name} has no destination`,
      );
    outputs.set(oid, location);
  }
  return outputs;
}

/** Whether the writer writes `path`, from the filter's answer for it and for its top directory. */
function wanted(filter: CombineFilter | undefined, path: string, isDirectory: boolean): boolean {
  if (filter === undefined || path.startsWith('pg_tblspc/')) return true;
  const top = path.split('/')[0]!;
  if (path !== top && filter(top, true) !== 'copy') return false;
  return filter(path, isDirectory) !== 'skip';
}

/**
 * Writes a prepared chain into `target`: its directories may already exist (a recovery made
 * them, and the pg_tblspc links), its files may not. Files copied whole from a local backup
 * are placed by the kernel (or cloned, or linked, as `mode` says) and keep their backup's
 * manifest checksum; the others are streamed, their CRC32C computed on the way.
 */
export async function writeCombined(
  prepared: PreparedCombine,
  target: CombineTarget,
): Promise<CombineResult> {
  const { chain, scan } = prepared;
  const outputs = tablespaceOutputs(prepared, target);
  const mode = target.mode ?? 'copy';
  const newest = chain[chain.length - 1]!;
  const localPath = (path: string): string => {
    const match = /^pg_tblspc\/(\d+)(?:\/(.*))?$/.exec(path);
    const tablespace = match ? outputs.get(Number(match[1])) : undefined;
    return tablespace === undefined
      ? joinPath(target.destination, path)
      : joinPath(tablespace, match![2] ?? '');
  };
  for (const root of [target.destination, ...outputs.values()]) await makeDirectory(root);
  const directories = scan.directories.filter((directory) => wanted(target.filter, directory, true));
  for (const directory of directories) {
    const match = /^pg_tblspc\/(\d+)$/.exec(directory);
    const tablespace = match ? outputs.get(Number(match[1])) : undefined;
    if (tablespace === undefined) await makeDirectory(localPath(directory));
    else await makeLink(tablespace, joinPath(target.destination, directory));
  }

  const files = scan.files.filter((file) => wanted(target.filter, file.path, false));
  // The biggest first, so that one big relation does not finish alone at the end.
  const estimate = (file: PlannedFile) =>
    file.kind === 'copy' ? file.size : (scan.contents[0]!.get(file.path) ?? 0);
  const queue = [...files].sort((a, b) => estimate(b) - estimate(a));
  // The INCREMENTAL headers are read ahead of the workers, 16 at a time in the order they take
  // the files: read by each worker just before its file, a cold chain's ~8,000 small reads went
  // 4 at a time, each waiting for the one before.
  const headers = new Map<string, Promise<SegmentVersion[]>>();
  const reconstructed = queue.filter((file) => file.kind === 'reconstruct');
  const gates = reconstructed.map(() => {
    let open!: (versions: Promise<SegmentVersion[]>) => void;
    return { promise: new Promise<SegmentVersion[]>((resolve) => (open = resolve)), open };
  });
  reconstructed.forEach((file, index) => headers.set(file.path, gates[index]!.promise));
  const stopReading = new AbortController();
  void runWorkers(HEADER_JOBS, [...reconstructed.keys()], async (index) => {
    if (stopReading.signal.aborted) return;
    const versions = segmentVersions(chain, scan.contents, reconstructed[index]!.path);
    // Awaited by the worker that writes the file; a failure is its error, not an unhandled one.
    versions.catch(() => undefined);
    gates[index]!.open(versions);
    await versions.catch(() => undefined);
  });
  const manifest: ManifestFile[] = [];
  let bytes = 0;
  const inPlace = target.baseInPlace === true;
  const place = async (file: PlannedFile): Promise<void> => {
    const destination = localPath(file.path);
    let whole: { index: number; versions: SegmentVersion[] | null } | null = null;
    let versions: SegmentVersion[] | null = null;
    if (file.kind === 'copy') whole = { index: chain.length - 1, versions: null };
    else {
      // Its INCREMENTAL headers, read now (not before the first write: scan.ts).
      versions = await headers.get(file.path)!;
      const plan = planBlocks(versions);
      if (plan.copyFrom === 0 && inPlace) {
        // The full backup's file, unchanged since, is already there.
        manifest.push({ path: file.path, mtimeMs: Date.now(), ...(await keptInPlace(chain[0]!, file.path)) });
        return;
      }
      if (plan.copyFrom !== null) whole = { index: plan.copyFrom, versions };
      else if (localFullVersion(chain, versions, file.path) !== null) {
        // The full backup's file placed by the kernel (or already there), then only the changed blocks written.
        const full = localFullVersion(chain, versions, file.path)!;
        if (!inPlace || full.index !== 0) {
          if (inPlace) await removeFile(destination);
          await placeWholeFile(mode === 'link' ? 'copy' : mode, full.path, destination);
        }
        const patched = await patchInPlace(chain, file.path, versions, plan, full.index, destination);

        bytes += patched.size;
        manifest.push({ path: file.path, mtimeMs: Date.now(), ...patched });
        return;
      } else {
        if (inPlace) await removeFile(destination);
        const output = await OutputFile.create(destination);
        try {
          await reconstruct(chain, file.path, versions, plan, output);
          const checksum = await output.finish();
          bytes += output.size;
          manifest.push({ path: file.path, size: output.size, mtimeMs: Date.now(), sha256: '', checksum });
        } catch (error) {
          await output.abandon();
          throw error;
        }
        return;
      }
    }
    if (inPlace) await removeFile(destination);
    const placed = await placeWhole(
      chain[whole.index]!,
      file.path,
      destination,
      mode,
      scan.listedFrom[whole.index] === 'manifest',
    );
    bytes += placed.size;
    // WAL is not in a backup manifest: pg_verifybackup checks it by parsing it.
    if (!file.path.startsWith('pg_wal/')) manifest.push({ path: file.path, mtimeMs: Date.now(), ...placed });
  };
  try {
    await runWorkers(target.jobs ?? 4, queue, async (file: PlannedFile) => {
      await place(file);
      // Synced by its worker once placed, as the tree copy of a full backup does: its writeback
      // overlaps the next files' copies (synced all at the end, the disk idled while the files were
      // placed, then wrote them all). Hard links are the backups' own files, durable already.
      if (mode !== 'link') await syncFile(localPath(file.path));
    });
  } finally {
    stopReading.abort();
  }

  if (inPlace)
    await removeDropped(chain[0]!, scan.contents[0]!, files, localPath, directories, target.destination);
  const label = await OutputFile.create(joinPath(target.destination, 'backup_label'));
  await label.write(Buffer.from(combinedLabel(newest)));
  manifest.push({
    path: 'backup_label',
    size: label.size,
    mtimeMs: Date.now(),
    sha256: '',
    checksum: await label.finish(),
  });
  manifest.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifestFile = await OutputFile.create(joinPath(target.destination, 'backup_manifest'));
  await manifestFile.write(
    Buffer.from(
      renderBackupManifest(manifest, newest.walRanges, { systemIdentifier: newest.systemIdentifier }),
    ),
  );
  await manifestFile.finish();

  await syncPaths(
    [label.path, manifestFile.path],
    [...directories.map(localPath), target.destination, ...outputs.values()],
    SYNC_JOBS,
  );
  return { files: files.length + 2, reconstructed: reconstructed.length, bytes };
}

/**
 * A file of `backup` placed whole at `destination`: by the kernel when the backup is local and
 * its manifest has the file's checksum (no byte goes through this process), else streamed and
 * hashed. combine_mode link and clone need a local backup, and are refused otherwise. When the
 * combine planned from the manifest (`listedFromManifest`), a file of another size than it says
 * is a damaged backup, refused by name.
 */
async function placeWhole(
  backup: LoadedBackup,
  path: string,
  destination: string,
  mode: CombineMode,
  listedFromManifest: boolean,
): Promise<{ size: number; sha256: string; checksum: ManifestChecksum }> {
  const source = locate(backup, path)!;
  const listed = backup.manifest.get(path);
  const local = backup.storage.localPath?.(source);
  if (local !== undefined && (listed?.checksum || mode === 'link' || mode === 'clone')) {
    await placeWholeFile(mode, local, destination);
    const size = await sizeOf(destination);
    if (listedFromManifest && listed !== undefined && listed.size !== size)
      throw damagedFile(backup, path, size, listed.size);
    if (listed?.checksum && listed.size === size) return { size, sha256: '', checksum: listed.checksum };
    return { size, sha256: '', checksum: await checksumOf(await backup.storage.openRead(source)) };
  }
  if (mode === 'link' || mode === 'clone') throw notLocal(mode, backup);
  const output = await OutputFile.create(destination);
  try {
    await copyWhole(backup, path, output);
    const checksum = await output.finish();
    return { size: output.size, sha256: '', checksum };
  } catch (error) {
    await output.abandon();
    throw error;
  }
}

/** The manifest entry of a file of `backup` left in place: its own, or its hash when it lists none. */
async function keptInPlace(
  backup: LoadedBackup,
  path: string,
): Promise<{ size: number; sha256: string; checksum: ManifestChecksum }> {
  const listed = backup.manifest.get(path);
  const where = locate(backup, path)!;
  const size = (await backup.storage.stat(where))?.size ?? 0;
  if (listed?.checksum && listed.size === size) return { size, sha256: '', checksum: listed.checksum };
  return { size, sha256: '', checksum: await checksumOf(await backup.storage.openRead(where)) };
}

/**
 * With the full backup in place: its files that the result does not have — dropped relations, a
 * dropped database's directory — and its backup_label and backup_manifest, which the result's
 * replace. Its files are those the scan found there (before writing) that its manifest lists or
 * that lie in relation directories: nothing else of the destination (the WAL a recovery copies
 * meanwhile) is touched.
 */
async function removeDropped(
  full: LoadedBackup,
  foundInPlace: ReadonlyMap<string, number>,
  files: readonly PlannedFile[],
  localPath: (path: string) => string,
  directories: readonly string[],
  destination: string,
): Promise<void> {
  const kept = new Set(files.map((file) => file.path));
  const ours = (path: string) =>
    full.manifest.has(path) ||
    inRelationDirectory(path) ||
    path === 'backup_label' ||
    path === 'backup_manifest';
  const dropped = [...foundInPlace.keys()].filter((path) => ours(path) && !kept.has(path));
  await removeReplaced(dropped.map(localPath), new Set([destination, ...directories.map(localPath)]));
}

async function checksumOf(stream: AsyncIterable<unknown>): Promise<ManifestChecksum> {
  const hash = combineHasher();
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.checksum();
}

async function copyWhole(backup: LoadedBackup, path: string, output: OutputFile): Promise<void> {
  const stream = await backup.storage.openRead(locate(backup, path)!);
  for await (const chunk of stream) await output.write(chunk as Buffer);
}
