/**
 * What the combined directory will hold, worked out before anything is written: the newest
 * backup's directories and files; for each `INCREMENTAL.*` file, every older version it needs is
 * located and its header checked, down to the first backup with the whole file. A chain that
 * cannot supply a file is refused here, naming the backup and the file.
 */
import { BarmanError } from '../../errors/index.js';
import { runWorkers } from '../../util/workers.js';
import type { SegmentVersion } from './block-plan.js';
import { chainError, joinPath, type LoadedBackup } from './chain.js';
import {
  BLOCK_SIZE,
  INCREMENTAL_PREFIX,
  headerBytes,
  parseFixedHeader,
  parseIncrementalHeader,
} from './incremental-file.js';

/** A file of the result, named by its manifest path (tablespaces under `pg_tblspc/<oid>/`). */
export type PlannedFile =
  | { kind: 'copy'; path: string; size: number }
  | {
      kind: 'reconstruct';
      path: string;
      /** Its versions as the scan read them, kept while they are small (else read again). */
      versions: SegmentVersion[] | null;
    };

export interface CombineScan {
  /** Directories of the result, manifest-style, parents first. */
  directories: string[];
  files: PlannedFile[];
  /** Files of each backup (index = chain position): manifest path → size. */
  contents: Array<Map<string, number>>;
}

/** Where backup `backup` keeps the file of manifest path `path`; null when its tablespace is not in it. */
export function locate(backup: LoadedBackup, path: string): string | null {
  const match = /^pg_tblspc\/(\d+)\/(.*)$/.exec(path);
  if (match) {
    const directory = backup.tablespaces.get(Number(match[1]));
    if (directory !== undefined) return joinPath(directory, match[2]!);
  }
  return joinPath(backup.dataDirectory, path);
}

/** Only relation files are ever incremental: under base/, global/ and tablespaces. */
export function inRelationDirectory(path: string): boolean {
  return path.startsWith('base/') || path.startsWith('global/') || path.startsWith('pg_tblspc/');
}

export function isIncremental(path: string): boolean {
  const slash = path.lastIndexOf('/');
  return inRelationDirectory(path) && path.slice(slash + 1).startsWith(INCREMENTAL_PREFIX);
}

export function withoutIncrementalPrefix(path: string): string {
  const slash = path.lastIndexOf('/');
  return path.slice(0, slash + 1) + path.slice(slash + 1 + INCREMENTAL_PREFIX.length);
}

export function incrementalName(path: string): string {
  const slash = path.lastIndexOf('/');
  return path.slice(0, slash + 1) + INCREMENTAL_PREFIX + path.slice(slash + 1);
}

async function contentsOf(backup: LoadedBackup): Promise<Map<string, number>> {
  const contents = new Map<string, number>();
  const prefixLength = backup.dataDirectory === '' ? 0 : backup.dataDirectory.length + 1;
  for (const object of await backup.storage.listTree(backup.dataDirectory))
    contents.set(object.path.slice(prefixLength), object.size);
  for (const [oid, directory] of backup.tablespaces)
    for (const object of await backup.storage.listTree(directory))
      contents.set(`pg_tblspc/${oid}/${object.path.slice(directory.length + 1)}`, object.size);
  return contents;
}

/** The directories of the newest backup (its linked tablespaces walked as `pg_tblspc/<oid>`). */
async function directoriesOf(backup: LoadedBackup): Promise<string[]> {
  const found: string[] = [];
  const walk = async (storagePath: string, manifestPath: string): Promise<void> => {
    for (const entry of await backup.storage.list(storagePath)) {
      if (entry.kind !== 'directory') continue;
      const child = manifestPath === '' ? entry.name : `${manifestPath}/${entry.name}`;
      // A linked tablespace is walked from its own directory below.
      if (manifestPath === 'pg_tblspc' && backup.tablespaces.has(Number(entry.name))) continue;
      found.push(child);
      await walk(joinPath(storagePath, entry.name), child);
    }
  };
  await walk(backup.dataDirectory, '');
  for (const [oid, directory] of backup.tablespaces) {
    found.push(`pg_tblspc/${oid}`);
    await walk(directory, `pg_tblspc/${oid}`);
  }
  return found;
}

/** The header of an INCREMENTAL file, checked against its size: one read for most (≤ 2045 blocks). */
export async function readIncrementalHeader(backup: LoadedBackup, path: string, size: number) {
  const where = locate(backup, path)!;
  const label = `${backup.name}: ${path}`;
  let head = await backup.storage.readHead(where, Math.min(size, BLOCK_SIZE));
  const { blockCount } = parseFixedHeader(head, label);
  if (head.length < headerBytes(blockCount))
    head = await backup.storage.readHead(where, headerBytes(blockCount));
  return parseIncrementalHeader(head, label, size);
}

/**
 * Versions of the segment `path` (the output name) in each backup, oldest first, read as far
 * back as the first full copy; backups older than that are `missing` and never consulted.
 */
export async function segmentVersions(
  chain: readonly LoadedBackup[],
  contents: ReadonlyArray<ReadonlyMap<string, number>>,
  path: string,
): Promise<SegmentVersion[]> {
  const versions: SegmentVersion[] = chain.map(() => ({ kind: 'missing' }));
  const incremental = incrementalName(path);
  for (let index = chain.length - 1; index >= 0; index--) {
    const backup = chain[index]!;
    const fullSize = index === chain.length - 1 ? undefined : contents[index]!.get(path);
    if (fullSize !== undefined) {
      versions[index] = { kind: 'full', size: fullSize };
      return versions;
    }
    const incrementalSize = contents[index]!.get(incremental);
    if (incrementalSize === undefined)
      throw new BarmanError(
        'combine-missing-source',
        `backup ${backup.name} has neither ${path} nor ${incremental}, which ${chain[chain.length - 1]!.name}'s ` +
          `${incremental} needs as its base: the chain is incomplete`,
        {
          hint: 'a backup of the chain was damaged or taken from another chain; recover an older complete chain',
        },
      );
    versions[index] = {
      kind: 'incremental',
      header: await readIncrementalHeader(backup, incremental, incrementalSize),
    };
  }
  throw chainError(
    `no backup of the chain holds the whole of ${path}: the first backup is not a full backup`,
  );
}

/**
 * Block numbers of the headers the scan keeps for the write (4 MiB): most INCREMENTAL files list
 * few blocks, and reading their headers again cost more opens than the rest of the combine.
 */
const KEPT_BLOCKS = 1 << 20;

/** Headers read at once while scanning (each a small read of one file). */
const SCAN_JOBS = 16;

export async function scanChain(chain: readonly LoadedBackup[]): Promise<CombineScan> {
  const newest = chain[chain.length - 1]!;
  const contents = await Promise.all(chain.map((backup) => contentsOf(backup)));
  const newestFiles = [...contents[contents.length - 1]!].filter(
    // The result gets a backup_label and a backup_manifest of its own.
    ([path]) => path !== 'backup_label' && path !== 'backup_manifest',
  );
  const files: PlannedFile[] = new Array<PlannedFile>(newestFiles.length);
  let keptBlocks = 0;
  await runWorkers(SCAN_JOBS, [...newestFiles.keys()], async (index) => {
    const [path, size] = newestFiles[index]!;
    if (!isIncremental(path)) {
      files[index] = { kind: 'copy', path, size };
      return;
    }
    const output = withoutIncrementalPrefix(path);
    if (contents[contents.length - 1]!.has(output))
      throw chainError(`backup ${newest.name} holds both ${output} and ${path}`);
    // Every version this file needs is found and its header checked now, before writing.
    const versions = await segmentVersions(chain, contents, output);
    const blocks = versions.reduce(
      (sum, version) => sum + (version.kind === 'incremental' ? version.header.blocks.length : 0),
      0,
    );
    const keep = keptBlocks + blocks <= KEPT_BLOCKS;
    if (keep) keptBlocks += blocks;
    files[index] = { kind: 'reconstruct', path: output, versions: keep ? versions : null };
  });
  return { directories: await directoriesOf(newest), files, contents };
}
