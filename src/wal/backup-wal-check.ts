/**
 * check-backup: whether the WAL a backup needs (begin_wal to end_wal) is all in the archive and
 * sound, with Barman's outcome for each case. The newest archived segment of the backup's
 * timeline (from the WAL index: xlog.db, or the object listing) says how far the archive has
 * got; every needed segment up to there must be found in the archive, and, beyond Barman (which
 * only looks for the file), each is read whole once: it must decompress, be a full segment,
 * and start with the long page header of this segment of this cluster. Segments are read a few
 * at a time, streamed, so memory stays bounded whatever the range.
 */
import { describeError } from '../errors/index.js';
import { runWorkers } from '../util/workers.js';
import type { WalArchive } from './archive.js';
import { parseWalName, segmentStartLsn, segmentsBetween } from './names.js';
import { parseWalHeader, WAL_HEADER_LENGTH } from './wal-header.js';

export interface BackupWalRange {
  beginWal: string;
  endWal: string;
  segmentSize: number;
  /** backup.info's systemid: an archived segment of another cluster is not this backup's. */
  systemId: string | null;
}

export type BackupWalVerdict =
  | { status: 'WAITING_FOR_WALS' }
  | { status: 'DONE'; checked: number }
  | { status: 'FAILED'; error: string; wal: string };

/** Segments read at a time. */
const CONCURRENCY = 4;

export async function checkBackupWal(
  archive: WalArchive,
  archivedNames: Iterable<string>,
  range: BackupWalRange,
  onProgress?: (checked: number, total: number) => void,
): Promise<BackupWalVerdict> {
  const timeline = parseWalName(range.beginWal)?.timeline;
  let lastArchived: string | null = null;
  for (const name of archivedNames) {
    const parsed = parseWalName(name);
    if (
      parsed?.kind === 'segment' &&
      parsed.timeline === timeline &&
      (lastArchived === null || name > lastArchived)
    )
      lastArchived = name;
  }
  // Nothing of the backup's timeline yet, or nothing from its start: the archiver is behind.
  if (lastArchived === null || lastArchived < range.beginWal) return { status: 'WAITING_FOR_WALS' };
  const needed = segmentsBetween(range.beginWal, range.endWal, range.segmentSize).filter(
    (name) => name <= lastArchived,
  );
  const problems = new Map<string, string>();
  let checked = 0;
  await runWorkers(CONCURRENCY, needed, async (name) => {
    const problem = await segmentProblem(archive, name, range);
    if (problem !== null) problems.set(name, problem);
    onProgress?.(++checked, needed.length);
  });
  // The first bad segment in WAL order, as Barman names the first missing one.
  const first = needed.find((name) => problems.has(name));
  if (first !== undefined) {
    const problem = problems.get(first)!;
    return {
      status: 'FAILED',
      wal: first,
      error:
        problem === 'missing'
          ? `At least one WAL file is missing. The first missing WAL file is ${first}`
          : `WAL file ${first} in the archive is damaged: ${problem}`,
    };
  }
  return range.endWal <= lastArchived
    ? { status: 'DONE', checked: needed.length }
    : { status: 'WAITING_FOR_WALS' };
}

/** Null when the archived segment is sound; 'missing' when absent; otherwise what is wrong. */
async function segmentProblem(
  archive: WalArchive,
  name: string,
  range: BackupWalRange,
): Promise<string | null> {
  const [stored] = await archive.find(name);
  if (!stored) return 'missing';
  let head = Buffer.alloc(0);
  let size = 0;
  try {
    for await (const chunk of await archive.open(stored)) {
      const bytes = chunk as Buffer;
      if (head.length < WAL_HEADER_LENGTH) head = Buffer.concat([head, bytes.subarray(0, WAL_HEADER_LENGTH)]);
      size += bytes.length;
    }
  } catch (error) {
    return `it cannot be read (${describeError(error).split('\n')[0]})`;
  }
  if (size !== range.segmentSize) return `${size} bytes instead of a ${range.segmentSize}-byte segment`;
  const header = parseWalHeader(head.subarray(0, WAL_HEADER_LENGTH));
  if ('invalid' in header) return `not a WAL segment: ${header.invalid}`;
  if (header.pageAddress !== segmentStartLsn(name, range.segmentSize))
    return 'its first page belongs to another segment';
  if (range.systemId && header.systemIdentifier !== range.systemId)
    return `it belongs to system ${header.systemIdentifier}, the backup to ${range.systemId}`;
  return null;
}
