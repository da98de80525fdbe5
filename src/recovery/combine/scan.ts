/**
 * What the combined directory will hold, worked out before anything is written: the newest
 * backup's directories and files; for each `INCREMENTAL.*` file, every older backup down to the
 * first one with the whole file must list a version of it. A chain that cannot supply a file is
 * refused here, naming the backup and the file. Each backup's files come from its
 * backup_manifest (the server's own list, sizes included) rather than a stat of each file; the
 * newest backup's directories are walked (read, not stat'ed) for its directories and its files the
 * manifest does not list (WAL). The INCREMENTAL headers are read by the writer, file by file
 * (`segmentVersions`): read here, a cold chain's 2,000 headers delayed the first write by about
 * half a second. A header found damaged then, or a file the manifest lists that is missing or
 * short on disk, stops the combine with an error naming the backup and the file.
 */
import { BarmanError } from '../../errors/index.js';
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
  { kind: 'copy'; path: string; size: number } | { kind: 'reconstruct'; path: string };

export interface CombineScan {
  /** Directories of the result, manifest-style, parents first. */
  directories: string[];
  files: PlannedFile[];
  /** Files of each backup (index = chain position): manifest path → size. */
  contents: Array<Map<string, number>>;
  /** Where each backup's list came from: a stored listing, or its backup_manifest. */
  listedFrom: Array<'storage' | 'manifest'>;
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

/** How a backup's files are listed: from its backup_manifest where that lists them, or stat'ed. */
export type ChainListing = 'manifest' | 'storage';

async function storageContents(backup: LoadedBackup): Promise<Map<string, number>> {
  const contents = new Map<string, number>();
  const prefixLength = backup.dataDirectory === '' ? 0 : backup.dataDirectory.length + 1;
  for (const object of await backup.storage.listTree(backup.dataDirectory))
    contents.set(object.path.slice(prefixLength), object.size);
  for (const [oid, directory] of backup.tablespaces)
    for (const object of await backup.storage.listTree(directory))
      contents.set(`pg_tblspc/${oid}/${object.path.slice(directory.length + 1)}`, object.size);
  return contents;
}

/** A backup's files as its backup_manifest lists them (a manifest never lists WAL, nor itself). */
function manifestContents(backup: LoadedBackup): Map<string, number> {
  return new Map([...backup.manifest].map(([path, entry]) => [path, entry.size]));
}

/**
 * The newest backup's directories and the files on its disk (names only: read, not stat'ed), its
 * linked tablespaces walked as `pg_tblspc/<oid>`.
 */
async function treeOf(backup: LoadedBackup): Promise<{ directories: string[]; files: string[] }> {
  const directories: string[] = [];
  const files: string[] = [];
  const walk = async (storagePath: string, manifestPath: string): Promise<void> => {
    const entries = await backup.storage.list(storagePath);
    for (const entry of entries) {
      const child = manifestPath === '' ? entry.name : `${manifestPath}/${entry.name}`;
      if (entry.kind === 'file') files.push(child);
      if (entry.kind !== 'directory') continue;
      // A linked tablespace is walked from its own directory below.
      if (manifestPath === 'pg_tblspc' && backup.tablespaces.has(Number(entry.name))) continue;
      directories.push(child);
      await walk(joinPath(storagePath, entry.name), child);
    }
  };
  await walk(backup.dataDirectory, '');
  for (const [oid, directory] of backup.tablespaces) {
    directories.push(`pg_tblspc/${oid}`);
    await walk(directory, `pg_tblspc/${oid}`);
  }
  return { directories, files };
}

/**
 * The newest backup's files: its manifest's, checked against the names on its disk (a file the
 * manifest lists that is not there is refused before anything is written), plus the files it does
 * not list (WAL, the manifest itself), stat'ed.
 */
async function newestContents(backup: LoadedBackup, onDisk: readonly string[]): Promise<Map<string, number>> {
  const contents = manifestContents(backup);
  const present = new Set(onDisk);
  for (const path of contents.keys())
    if (!present.has(path))
      throw chainError(
        `backup ${backup.name}: its backup_manifest lists ${path}, which is not in the backup (${backup.storage.location}/${locate(backup, path)})`,
        'the backup is damaged: recover another backup',
      );
  const unlisted = onDisk.filter((path) => !contents.has(path));
  const sizes = await Promise.all(unlisted.map((path) => backup.storage.stat(locate(backup, path)!)));
  unlisted.forEach((path, index) => {
    const info = sizes[index];
    if (info) contents.set(path, info.size);
  });
  return contents;
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

/** A file of a backup whose size on disk is not the one its backup_manifest lists. */
export function damagedFile(backup: LoadedBackup, path: string, size: number, listed: number): BarmanError {
  return new BarmanError(
    'combine-damaged-file',
    `backup ${backup.name}: ${path} (${backup.storage.location}/${locate(backup, path)}) is ${size} bytes, ` +
      `its backup_manifest says ${listed}: the backup is damaged`,
    { hint: "check the backup with 'barman verify-backup'; recover another backup" },
  );
}

function missingSource(chain: readonly LoadedBackup[], index: number, path: string): BarmanError {
  const incremental = incrementalName(path);
  return new BarmanError(
    'combine-missing-source',
    `backup ${chain[index]!.name} has neither ${path} nor ${incremental}, which ${chain[chain.length - 1]!.name}'s ` +
      `${incremental} needs as its base: the chain is incomplete`,
    {
      hint: 'a backup of the chain was damaged or taken from another chain; recover an older complete chain',
    },
  );
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
    if (incrementalSize === undefined) throw missingSource(chain, index, path);
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
 * Refuses, from the lists alone, an output segment whose chain of versions is broken: a backup
 * between the newest and the first one holding the whole file that has no version of it.
 */
function checkVersionsListed(
  chain: readonly LoadedBackup[],
  contents: ReadonlyArray<ReadonlyMap<string, number>>,
  path: string,
): void {
  const incremental = incrementalName(path);
  for (let index = chain.length - 2; index >= 0; index--) {
    if (contents[index]!.has(path)) return;
    if (!contents[index]!.has(incremental)) throw missingSource(chain, index, path);
  }
  throw chainError(
    `no backup of the chain holds the whole of ${path}: the first backup is not a full backup`,
  );
}

/**
 * Lists the chain and plans the result. `listing` 'manifest' takes each backup's files from its
 * backup_manifest when it lists any (see the top of this file); 'storage' lists every file
 * (a chain just extracted, whose full backup lies in the destination among other files).
 */
export async function scanChain(
  chain: readonly LoadedBackup[],
  listing: ChainListing = 'manifest',
): Promise<CombineScan> {
  const newest = chain[chain.length - 1]!;
  const fromManifest = chain.map((backup) => listing === 'manifest' && backup.manifest.size > 0);
  const tree = await treeOf(newest);
  const contents = await Promise.all(
    chain.map((backup, index) => {
      if (!fromManifest[index]) return storageContents(backup);
      if (index === chain.length - 1) return newestContents(backup, tree.files);
      return Promise.resolve(manifestContents(backup));
    }),
  );
  const newestContentsMap = contents[contents.length - 1]!;
  const files: PlannedFile[] = [];
  for (const [path, size] of newestContentsMap) {
    // The result gets a backup_label and a backup_manifest of its own.
    if (path === 'backup_label' || path === 'backup_manifest') continue;
    if (!isIncremental(path)) {
      files.push({ kind: 'copy', path, size });
      continue;
    }
    const output = withoutIncrementalPrefix(path);
    if (newestContentsMap.has(output))
      throw chainError(`backup ${newest.name} holds both ${output} and ${path}`);
    checkVersionsListed(chain, contents, output);
    files.push({ kind: 'reconstruct', path: output });
  }
  return {
    directories: tree.directories,
    files,
    contents,
    listedFrom: fromManifest.map((manifest) => (manifest ? 'manifest' : 'storage')),
  };
}
