/**
 * Part of a backup's finish phase: the data page checksums of the copy, for a cluster with data
 * checksums, checked while the copy is read (with autogenerate_manifest's hashing, else in a pass
 * of its own). A page that fails is read again at the source before it is reported: one the copy
 * caught mid-write is sound there (newer LSN or a matching checksum) and WAL replay restores it.
 * What remains is corruption in the cluster itself: each page is reported with its relation and
 * block, recorded in the backup's page_checksums.json (show-backup, check), and the backup ends
 * DONE but the command fails, so that nobody mistakes it for a clean one.
 */
import type { CorruptPage, PageChecksumResult, PageFinding } from '../../catalog/page-verification.js';
import {
  BackupPageCheck,
  CORRUPT_PAGES_LISTED,
  describeCorruptPage,
  writePageChecksumResult,
} from '../../catalog/page-verification.js';
import {
  BLOCKS_PER_SEGMENT,
  PAGE_SIZE,
  pageChecksum,
  pageLsn,
  storedChecksum,
} from '../../catalog/page-checksum.js';
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import * as postgres from '../../postgres/index.js';
import { parseLsn } from '../../wal/names.js';
import type { CommandContext } from '../definition.js';
import type { BackupRun } from './start.js';

/**
 * The check of this backup, planned before the copy (executors that archive as they copy feed
 * it), or null when its cluster has no data checksums (or cannot say).
 */
export async function planPageCheck(
  ctx: CommandContext,
  config: ServerConfig,
  run: BackupRun,
): Promise<BackupPageCheck | null> {
  // Encrypted backups are stored as ciphertext the finish phase cannot read: PostgreSQL's own
  // check stays on for them (pg_basebackup fails the backup on a bad page).
  if (!config.conninfo || config.encryption === 'gpg') return null;
  let enabled: boolean;
  try {
    enabled = await postgres.dataChecksumsEnabled(await run.connection.client());
  } catch (error) {
    ctx.report.warning(
      `data page checksums of backup ${run.backupId} not verified: cannot ask PostgreSQL whether ` +
        `the cluster has them (${describeError(error).split('\n')[0]!})`,
    );
    return null;
  }
  if (!enabled) return null;
  return new BackupPageCheck(() => {
    const begin = run.info?.begin_xlog;
    if (!begin) throw new Error('the backup has no start LSN yet');
    return parseLsn(begin);
  });
}

/**
 * Confirms the failures at the source, names their relations and records the result; reports
 * each corrupt page. Resolves with the number of corrupt pages.
 */
export async function concludePageCheck(
  ctx: CommandContext,
  config: ServerConfig,
  run: BackupRun,
  check: BackupPageCheck,
): Promise<number> {
  run.step = 'verifying data page checksums';
  const startLsn = check.backupStartLsn;
  const findings = check.findings();
  let note: string | null = null;
  const corrupt: CorruptPage[] = [];
  if (findings.length > 0) {
    try {
      const client = await run.connection.client();
      const confirmed = await confirmAtSource(client, findings, startLsn);
      note = confirmed.note;
      const names = await postgres.relationNames(
        client,
        config.conninfo,
        confirmed.findings.map((f) => f.file),
      );
      for (const finding of confirmed.findings) {
        const name = names.get(finding.file);
        const fork = finding.file.fork === 'main' ? '' : ` (${finding.file.fork} fork)`;
        corrupt.push({
          path: finding.path,
          block: finding.block,
          expected: finding.expected,
          calculated: finding.calculated,
          relation: name ? `${name}${fork}` : null,
          at_source: finding.atSource,
        });
      }
    } catch (error) {
      note = `the failures could not be confirmed at the source: ${describeError(error).split('\n')[0]!}`;
      corrupt.push(
        ...findings.map((f) => ({
          path: f.path,
          block: f.block,
          expected: f.expected,
          calculated: f.calculated,
          relation: null,
          at_source: 'unconfirmed' as const,
        })),
      );
    }
  }
  const result: PageChecksumResult = {
    version: 1,
    pages_checked: check.pagesChecked,
    files_checked: check.filesChecked,
    corrupt_pages: corrupt.slice(0, CORRUPT_PAGES_LISTED),
    corrupt_total: corrupt.length,
    note,
  };
  await writePageChecksumResult(run.location.storage, run.backupId!, result);
  if (corrupt.length === 0) {
    ctx.report.info(`Data page checksums verified: ${result.pages_checked} pages, no corruption`);
    return 0;
  }
  for (const page of result.corrupt_pages)
    ctx.report.error(`data page checksum failure in ${describeCorruptPage(page)}`);
  if (corrupt.length > result.corrupt_pages.length)
    ctx.report.error(`... and ${corrupt.length - result.corrupt_pages.length} more corrupt pages`);
  if (note) ctx.report.warning(note);
  return corrupt.length;
}

/**
 * Each failure as the source sees it now. Gone, or rewritten since the backup started (a newer
 * LSN): the copy caught it mid-write and WAL replay restores it, so it is dropped. Corrupt there
 * too: the cluster is damaged. Sound there with an older LSN (unchanged since the start): the
 * copy itself is damaged. A page the server will not let us read (no superuser or
 * pg_read_server_files) stays unconfirmed, and the note says so.
 */
async function confirmAtSource(
  client: postgres.PostgresClient,
  findings: PageFinding[],
  startLsn: bigint,
): Promise<{ findings: Array<PageFinding & { atSource: CorruptPage['at_source'] }>; note: string | null }> {
  const kept: Array<PageFinding & { atSource: CorruptPage['at_source'] }> = [];
  let note: string | null = null;
  for (const finding of findings) {
    let page: Buffer | null;
    try {
      page = await postgres.readServerFile(
        client,
        finding.path,
        (finding.block % BLOCKS_PER_SEGMENT) * PAGE_SIZE,
        PAGE_SIZE,
      );
    } catch (error) {
      note = `not confirmed at the source (${describeError(error).split('\n')[0]!}): a page the copy caught mid-write would be listed too`;
      kept.push({ ...finding, atSource: 'unconfirmed' });
      continue;
    }
    if (!page || page.length < PAGE_SIZE || pageLsn(page) >= startLsn) continue;
    const sound = storedChecksum(page) === pageChecksum(page, finding.block);
    kept.push({ ...finding, atSource: sound ? 'sound' : 'corrupt' });
  }
  return { findings: kept, note };
}
