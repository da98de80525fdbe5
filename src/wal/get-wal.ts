/** Finding and reading WAL files for get-wal and recovery, in Barman's search order. */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerLayout } from '../catalog/layout.js';
import { hashDir, nextSegmentName, parseWalName } from './names.js';

export interface LocatedWal {
  path: string;
  where: 'archive' | 'incoming' | 'streaming';
}

/** Whether `path` is a file; a path that cannot be looked at (EACCES) is an error, not "absent". */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw error;
  }
}

/**
 * wals/ first, then incoming/ and streaming/ (not yet archived); with `partial`, the `.partial`
 * files pg_receivewal is writing; then wals/ once more in case the archiver moved it meanwhile.
 */
export async function locateWal(
  layout: ServerLayout,
  name: string,
  partial: boolean,
): Promise<LocatedWal | null> {
  const archived = join(layout.walsDirectory, hashDir(name), name);
  const candidates: LocatedWal[] = [
    { path: archived, where: 'archive' },
    { path: join(layout.incomingDirectory, name), where: 'incoming' },
    { path: join(layout.streamingDirectory, name), where: 'streaming' },
  ];
  if (partial && parseWalName(name)?.kind === 'segment') {
    candidates.push(
      { path: join(layout.streamingDirectory, `${name}.partial`), where: 'streaming' },
      { path: join(layout.walsDirectory, hashDir(name), `${name}.partial`), where: 'archive' },
      { path: join(layout.incomingDirectory, `${name}.partial`), where: 'incoming' },
    );
  }
  candidates.push({ path: archived, where: 'archive' });
  for (const candidate of candidates) if (await isFile(candidate.path)) return candidate;
  return null;
}

/** Up to `count` consecutive segment names starting at `name` that are available (never partials). */
export async function peekWals(
  layout: ServerLayout,
  name: string,
  count: number,
  segmentSize: number,
): Promise<string[]> {
  const found: string[] = [];
  let current = name;
  while (found.length < count) {
    if (!(await locateWal(layout, current, false))) break;
    found.push(current);
    if (parseWalName(current)?.kind !== 'segment') break;
    current = nextSegmentName(current, segmentSize);
  }
  return found;
}
