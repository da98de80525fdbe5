/**
 * lock_directory_cleanup (Barman 3.10+), run by cron at its end and by lock-directory-cleanup:
 * the lock files of barman_lock_directory nobody holds are removed; a lock in use (a running
 * backup, receive-wal) stays. Returns the removed paths.
 */
import { describeError } from '../../errors/index.js';
import { removeUnusedLockFiles } from '../../locks/index.js';
import type { CommandContext } from '../definition.js';

export function cleanLockDirectory(ctx: CommandContext): string[] {
  const directory = ctx.config.global.barman_lock_directory;
  ctx.log.info(`Cleaning up lock files directory ${directory}`);
  try {
    const removed = removeUnusedLockFiles(directory);
    for (const path of removed) ctx.log.debug(`removed unused lock file ${path}`);
    return removed;
  } catch (error) {
    ctx.report.warning(`cannot clean up the lock files directory ${directory}: ${describeError(error)}`);
    return [];
  }
}
