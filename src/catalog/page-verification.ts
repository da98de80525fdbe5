/**
 * The page checksum verification of one backup: a verifier per relation file fed while the
 * backup's files are read (with the manifest's hashing when autogenerate_manifest reads them
 * anyway, else on its own pass), and its result, `page_checksums.json` in the backup's directory
 * (Barman ignores files it does not know there; a backup never verified has none). Written once,
 * as the backup is finished, before its final status: never changed afterwards.
 */
import type { ServerConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { BackupContent } from './backup-content.js';
import type { RelationFile } from './page-checksum.js';
import { PageChecksumVerifier, relationFileOf } from './page-checksum.js';
import { displayPath, readIfExists, withBackupStore } from './store.js';
import { parseLsn } from '../wal/names.js';

export const PAGE_CHECKSUMS_FILE = 'page_checksums.json';
/** Corrupt pages listed in full; a badly damaged cluster is summarised past this. */
export const CORRUPT_PAGES_LISTED = 1000;

export interface CorruptPage {
  /** As the manifest names the file: `base/16384/16385.1`. */
  path: string;
  block: number;
  expected: number;
  calculated: number;
  /** `database.schema.relation` (and the fork when not main), when the server could name it. */
  relation: string | null;
  /**
   * The same page read again at the source: `corrupt` (the cluster is damaged), `sound` (the copy
   * is), or `unconfirmed` (the server could not be asked).
   */
  at_source: 'corrupt' | 'sound' | 'unconfirmed';
}

export interface PageChecksumResult {
  version: 1;
  /** Pages checked (new pages and pages written after the backup started are not). */
  pages_checked: number;
  files_checked: number;
  corrupt_pages: CorruptPage[];
  /** Corrupt pages found in all (may exceed the list). */
  corrupt_total: number;
  /** Why some failures could not be confirmed at the source (e.g. no permission to read files). */
  note: string | null;
}

export interface PageFinding {
  path: string;
  file: RelationFile;
  block: number;
  expected: number;
  calculated: number;
}

/** Collects the pages of every relation file read through `observe`. */
export class BackupPageCheck {
  /** By path: a file read again (a retried copy) replaces its earlier reading. */
  private readonly verifiers = new Map<string, { file: RelationFile; verifier: PageChecksumVerifier }>();

  private startLsn: bigint | null = null;

  /**
   * `backupStart` is asked when the first file is read, unless the executor said when the
   * backup started (`started`): a streamed backup's pages arrive before backup.info has it.
   */
  constructor(private readonly backupStart: () => bigint) {}

  /** Where the backup started: pages written later are left to WAL replay. */
  get backupStartLsn(): bigint {
    this.startLsn ??= this.backupStart();
    return this.startLsn;
  }

  /** The backup's start LSN (`0/2000028`), as the server reported it. */
  started(lsn: string): void {
    this.startLsn = parseLsn(lsn);
  }

  /** A chunk consumer for `file`, or null when it holds no checksummed pages. */
  observe(file: { path: string }): ((chunk: Buffer) => void) | null {
    const relation = relationFileOf(file.path);
    if (!relation) return null;
    const verifier = new PageChecksumVerifier(relation, this.backupStartLsn);
    this.verifiers.set(file.path, { file: relation, verifier });
    return (chunk) => verifier.update(chunk);
  }

  /** Reads every relation file of `content` (when nothing else reads them). */
  async readAll(content: BackupContent, concurrency: number): Promise<void> {
    await content.forEach(concurrency, async (file, read) => {
      const consume = this.observe(file);
      if (consume) await read(consume);
    });
  }

  get pagesChecked(): number {
    let pages = 0;
    for (const { verifier } of this.verifiers.values()) pages += verifier.pagesChecked;
    return pages;
  }

  get filesChecked(): number {
    return this.verifiers.size;
  }

  findings(): PageFinding[] {
    return [...this.verifiers].flatMap(([path, { file, verifier }]) =>
      verifier.failures.map((failure) => ({ path, file, ...failure })),
    );
  }
}

function place(backupId: string): string {
  return `${backupId}/${PAGE_CHECKSUMS_FILE}`;
}

export async function writePageChecksumResult(
  storage: Storage,
  backupId: string,
  result: PageChecksumResult,
): Promise<void> {
  await storage.writeFile(place(backupId), `${JSON.stringify(result, null, 2)}\n`, { mode: 0o600 });
}

/** A backup's verification result; null when it was not verified (no data checksums, older backups). */
export async function readPageChecksumResult(
  storage: Storage,
  backupId: string,
): Promise<PageChecksumResult | null> {
  const path = place(backupId);
  let data: Buffer | null;
  try {
    data = await readIfExists(storage, path);
  } catch (error) {
    throw new BarmanError(
      'page-checksums-unreadable',
      `cannot read ${displayPath(storage, path)}: ${describeError(error)}`,
    );
  }
  if (data === null) return null;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as Partial<PageChecksumResult>;
    if (parsed.version !== 1 || !Array.isArray(parsed.corrupt_pages)) throw new Error('unknown format');
    return {
      version: 1,
      pages_checked: Number(parsed.pages_checked ?? 0),
      files_checked: Number(parsed.files_checked ?? 0),
      corrupt_pages: parsed.corrupt_pages.map((page) => ({
        ...page,
        at_source: page.at_source ?? 'unconfirmed',
      })),
      corrupt_total: Number(parsed.corrupt_total ?? parsed.corrupt_pages.length),
      note: parsed.note ?? null,
    };
  } catch (error) {
    throw new BarmanError(
      'page-checksums-unreadable',
      `cannot read ${displayPath(storage, path)}: ${describeError(error)}`,
      { hint: 'the file is damaged; verify the backup with barman verify-backup' },
    );
  }
}

/** `postgres.public.orders block 3 (base/5/16384)`, for messages. */
export function describeCorruptPage(page: CorruptPage): string {
  const where =
    page.at_source === 'sound'
      ? '; sound at the source: the copy is damaged'
      : page.at_source === 'unconfirmed'
        ? '; not confirmed at the source'
        : '';
  return (
    `${page.relation ?? 'unknown relation'} block ${page.block} ` +
    `(${page.path}: checksum ${page.expected}, calculated ${page.calculated}${where})`
  );
}

/** show-backup's and check's view: the result, or why it cannot be read. */
export async function loadPageChecksumResult(
  config: ServerConfig,
  backupId: string,
): Promise<{ result: PageChecksumResult | null; error: string | null }> {
  try {
    return {
      result: await withBackupStore(config, (store) => readPageChecksumResult(store.base, backupId)),
      error: null,
    };
  } catch (error) {
    return { result: null, error: describeError(error) };
  }
}

/** One line for show-backup: `verified, 2841 pages, no corruption` / `3 corrupt pages`. */
export function summarisePageChecksums(result: PageChecksumResult): string {
  if (result.corrupt_total === 0) return `verified, ${result.pages_checked} pages, no corruption`;
  return `FAILED: ${result.corrupt_total} corrupt page${result.corrupt_total === 1 ? '' : 's'} of ${result.pages_checked} checked`;
}
