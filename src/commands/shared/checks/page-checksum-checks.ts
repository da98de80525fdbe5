/**
 * `data page checksums` (barman-ts): whether the latest backup's data pages passed the checksum
 * verification made as it was taken. Shown only for a backup that was verified (a cluster with
 * data checksums); fails while the latest backup holds corrupt pages, naming the first ones,
 * until a clean backup is taken.
 */
import type { CorruptPage } from '../../../catalog/page-verification.js';
import { describeCorruptPage, loadPageChecksumResult } from '../../../catalog/page-verification.js';
import type { CheckContext } from './context.js';

export const PAGE_CHECKSUMS_CHECK = 'data page checksums';
/** Corrupt pages named in the hint; show-backup lists them all. */
const NAMED = 3;

export async function pageChecksumsCheck(ctx: CheckContext): Promise<void> {
  const backup = await ctx.lastBackup();
  if (!backup) return;
  const { result, error } = await loadPageChecksumResult(ctx.config, backup.id);
  if (error) {
    ctx.c.add(PAGE_CHECKSUMS_CHECK, false, error);
    return;
  }
  if (!result) return;
  ctx.c.start(PAGE_CHECKSUMS_CHECK);
  if (result.corrupt_total === 0) {
    ctx.c.add(PAGE_CHECKSUMS_CHECK, true, `backup ${backup.id}: ${result.pages_checked} pages verified`);
    return;
  }
  const named = result.corrupt_pages.slice(0, NAMED).map((page: CorruptPage) => describeCorruptPage(page));
  const more = result.corrupt_total - named.length;
  ctx.c.add(
    PAGE_CHECKSUMS_CHECK,
    false,
    `backup ${backup.id} has ${result.corrupt_total} corrupt data page${result.corrupt_total === 1 ? '' : 's'}: ` +
      `${named.join('; ')}${more > 0 ? `; and ${more} more (barman show-backup ${ctx.config.name} ${backup.id})` : ''}`,
  );
}
