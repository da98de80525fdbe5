/**
 * Phase 4 of a backup, finish: once the executor's copy is stored, its size and next status in
 * backup.info (WAITING_FOR_WALS, or DONE for a method that does not wait for its WAL), and the
 * closing messages. Or, when any phase failed, backup.info FAILED with the step and the reason.
 */
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import type { BackupExecutor, ExecutorOutcome } from '../../executors/index.js';
import { prettySize } from '../../output/format.js';
import { humanDuration } from '../../output/time.js';
import type { CommandContext } from '../definition.js';
import type { BackupPageCheck } from '../../catalog/page-verification.js';
import { storedBackupContent, VERIFY_CONCURRENCY, writeManifestOf } from '../shared/stored-backup.js';
import { concludePageCheck } from './page-check.js';
import type { BackupRun } from './start.js';

export async function finishBackup(
  ctx: CommandContext,
  config: ServerConfig,
  executor: BackupExecutor,
  run: BackupRun,
  outcome: ExecutorOutcome,
  startedMs: number,
  /** Planned before the copy (page-check.ts): fed by the executor, or read here. */
  pageCheck: BackupPageCheck | null,
): Promise<{ corruptPages: number }> {
  let corruptPages = 0;
  const status = executor.doneWithoutWal ? 'DONE' : 'WAITING_FOR_WALS';
  if (outcome.stored) {
    const { size, archives } = outcome.stored;
    // The executor's archives were checked as they were written.
    if (pageCheck) corruptPages = await concludePageCheck(ctx, config, run, pageCheck);
    run.step = 'uploading backup.info';
    await run.save({ size, deduplicated_size: size, status });
    ctx.report.info(
      `Backup size: ${prettySize(size)} in ${archives.length} archive${archives.length === 1 ? '' : 's'} ` +
        `(${archives.join(', ')})`,
    );
  } else {
    // Pages the executor checked as it copied are not read again.
    const read =
      (await autogenerateManifest(ctx, config, run, outcome.pagesChecked ? null : pageCheck)) ||
      outcome.pagesChecked === true;
    if (pageCheck) {
      // Read with the manifest when one was written, else on their own (a file read again
      // replaces its earlier reading).
      if (!read) {
        run.step = 'verifying data page checksums';
        const content = await storedBackupContent(
          run.location.storage,
          config.basebackups_directory,
          run.backupId!,
          run.info,
        );
        await pageCheck.readAll(content, VERIFY_CONCURRENCY);
      }
      corruptPages = await concludePageCheck(ctx, config, run, pageCheck);
    }
    run.step = 'calculating backup size';
    const { size, deduplicated } = await measure(run);
    await run.save({ size, deduplicated_size: deduplicated, status });
    ctx.report.info(
      config.reuse_backup === 'link' && config.backup_method !== 'postgres'
        ? `Backup size: ${prettySize(size)}. Actual size on disk: ${prettySize(deduplicated)} (-${(size > 0 ? (1 - deduplicated / size) * 100 : 0).toFixed(2)}% deduplication ratio).`
        : `Backup size: ${prettySize(size)}`,
    );
  }
  const final: BackupInfo = run.info!;
  ctx.report.info(
    `Backup end at LSN: ${final.end_xlog} (${final.end_wal}, ${(final.end_offset ?? 0).toString(16).toUpperCase().padStart(8, '0')})`,
  );
  ctx.report.info(
    `Backup completed (start time: ${new Date(startedMs).toISOString().replace('T', ' ').replace('Z', '')}, elapsed time: ${humanDuration((Date.now() - startedMs) / 1000)})`,
  );
  if (corruptPages > 0) {
    ctx.report.error(
      `Backup ${run.backupId} is complete, but ${corruptPages} data page${corruptPages === 1 ? '' : 's'} ` +
        'failed checksum verification (listed above, and by show-backup)',
    );
  }
  return { corruptPages };
}

/**
 * A failed backup: backup.info FAILED with `failure <step> (<reason>)`, when it was written. A
 * full disk also removes the partial copy: it is useless and takes the room every later run
 * needs (backup.info, archive-wal, the next backup).
 */
export async function failBackup(
  ctx: CommandContext,
  config: ServerConfig,
  run: BackupRun,
  error: unknown,
): Promise<void> {
  const full = isNoSpace(error);
  const { backupId, info, location } = run;
  if (info && backupId) {
    if (full) await removePartialCopy(ctx, run);
    const message = describeError(error).split('\n')[0]!;
    const failed: BackupInfo = { ...info, status: 'FAILED', error: `failure ${run.step} (${message})` };
    await location
      .writeBackupInfo(backupId, failed)
      .catch((writeError: unknown) =>
        ctx.report.warning(
          `cannot mark backup ${backupId} FAILED: ${describeError(writeError).split('\n')[0]!}; ` +
            `it stays STARTED until the next backup of ${config.name} marks it FAILED`,
        ),
      );
  }
  ctx.report.error(`Backup failed ${run.step}.\nDETAILS: ${describeError(error)}`);
  if (full && backupId) {
    ctx.report.error(
      `No space left on the device of ${location.directory}: ` +
        `the partial copy of backup ${backupId} was removed (its backup.info is kept, FAILED)`,
    );
  }
}

function isNoSpace(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (
      (cause as NodeJS.ErrnoException).code === 'ENOSPC' ||
      (cause as NodeJS.ErrnoException).code === 'EDQUOT'
    )
      return true;
    if (/no space left on device|disk quota exceeded/i.test(cause.message)) return true;
  }
  return false;
}

/** Everything of a failed backup but its backup.info. */
async function removePartialCopy(ctx: CommandContext, run: BackupRun): Promise<void> {
  const { storage } = run.location;
  const id = run.backupId!;
  for (const entry of await storage.list(id).catch(() => [])) {
    if (entry.name === 'backup.info') continue;
    const path = `${id}/${entry.name}`;
    await (entry.kind === 'directory' ? storage.removeTree(path) : storage.remove(path)).catch(
      (error: unknown) =>
        ctx.log.warning(`cannot remove ${run.location.directoryOf(path)}: ${describeError(error)}`),
    );
  }
}

/**
 * size = every file; deduplicated = files not hard-linked to another backup (reuse_backup =
 * link: a file with one name is this backup's alone; a store without hard links has none).
 */
async function measure(run: BackupRun): Promise<{ size: number; deduplicated: number }> {
  let size = 0;
  let deduplicated = 0;
  for (const file of await run.location.storage.listTree(run.backupId!)) {
    size += file.size;
    if ((file.links ?? 1) === 1) deduplicated += file.size;
  }
  return { size, deduplicated };
}

/** Methods whose copies get no backup_manifest from PostgreSQL: autogenerate_manifest writes one. */
const MANIFEST_METHODS = new Set(['rsync', 'local-rsync']);

/**
 * autogenerate_manifest: once the copy is complete, its backup_manifest (SHA-256 of every file),
 * before the backup's final status is saved, so a finished backup has it. A failure leaves the
 * copy as it is (it is sound) and says how to write the manifest later.
 */
async function autogenerateManifest(
  ctx: CommandContext,
  config: ServerConfig,
  run: BackupRun,
  pages: BackupPageCheck | null,
): Promise<boolean> {
  if (!config.autogenerate_manifest || !MANIFEST_METHODS.has(config.backup_method)) return false;
  run.step = 'writing backup_manifest';
  try {
    await writeManifestOf(
      ctx.report,
      run.location.storage,
      config,
      { id: run.backupId!, info: run.info },
      pages ? (file) => pages.observe(file) : undefined,
    );
    ctx.report.info(
      `Backup manifest for backup '${run.backupId}' successfully generated for server ${config.name}`,
    );
    return true;
  } catch (error) {
    ctx.report.error(
      `cannot write the backup_manifest of backup ${run.backupId}: ${describeError(error)}\n` +
        `HINT: the backup itself is complete; write it later with 'barman generate-manifest ${config.name} ${run.backupId}'`,
    );
    return false;
  }
}
