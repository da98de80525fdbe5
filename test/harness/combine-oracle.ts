/**
 * PostgreSQL's own tools as oracles of a combined incremental chain: pg_combinebackup of the
 * chain's major version (Debian 13 root for 17, forky for 18) into a reference directory, and a
 * file-by-file comparison of barman-ts's native combine with it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPgClientTool } from './debian13.js';

/** Every entry below `root`: relative path → content hash, `link` or `dir`. */
export function treeOf(root: string, prefix = ''): Map<string, string> {
  const entries = new Map<string, string>();
  for (const name of readdirSync(join(root, prefix))) {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    const info = lstatSync(join(root, relative));
    if (info.isSymbolicLink()) entries.set(relative, 'link');
    else if (info.isDirectory()) {
      entries.set(relative, 'dir');
      for (const [path, kind] of treeOf(root, relative)) entries.set(path, kind);
    } else
      entries.set(
        relative,
        createHash('sha256')
          .update(readFileSync(join(root, relative)))
          .digest('hex'),
      );
  }
  return entries;
}

/**
 * pg_combinebackup `major` of `backups` (data directories, oldest first) into `output`, each
 * tablespace of the last backup (its directory → the reference's) relocated with -T.
 */
export async function pgCombinebackup(
  major: 17 | 18,
  backups: readonly string[],
  output: string,
  tablespaces: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const mappings = [...tablespaces].flatMap(([from, to]) => ['-T', `${from}=${to}`]);
  await runPgClientTool(major, 'pg_combinebackup', [...backups, '-o', output, ...mappings], {
    timeoutMs: 300_000,
  });
}

/**
 * The native combine's directories equal pg_combinebackup's (pairs of ours and theirs: the data
 * directory, each tablespace): the same paths, links and bytes. backup_manifest legitimately
 * differs — its timestamps and its own checksum (both write CRC32C for the files they build and
 * keep the backups' checksums of files copied whole) — and is left out.
 */
export function assertSameCombinedTrees(pairs: ReadonlyArray<readonly [string, string]>): void {
  for (const [ours, theirs] of pairs) {
    const left = treeOf(ours);
    const right = treeOf(theirs);
    left.delete('backup_manifest');
    right.delete('backup_manifest');
    assert.deepEqual(
      [...left.keys()].sort(),
      [...right.keys()].sort(),
      `${ours} and ${theirs} hold other paths`,
    );
    const differing = [...left].filter(([path, hash]) => right.get(path) !== hash).map(([path]) => path);
    assert.deepEqual(differing, [], `files that differ from pg_combinebackup's: ${differing.join(', ')}`);
  }
}
