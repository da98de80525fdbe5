/**
 * The checks of the server's catalogue: its directories (created when missing) and their
 * permissions, the age and size of the last backup and of its WAL, failed backups, the
 * configuration and the system identifier it was made with.
 */
import { statusOf } from '../../../catalog/backups.js';
import { formatProblem } from '../../../config/index.js';
import { isLockHeld, serverLockPath } from '../../../locks/index.js';
import { prettySize } from '../../../output/format.js';
import { humanDuration } from '../../../output/time.js';
import { PosixStorage } from '../../../storage/index.js';
import { walAfter } from '../backup-catalog.js';
import type { CheckContext } from './context.js';
import { strerror } from './context.js';
import { DIRECTORY_PERMISSIONS_CHECK, describeOpenDirectories, openDirectories } from './permissions.js';
import { identityCheck } from './wal-streaming-checks.js';

/** The server's local directories (object-storage ones left out). */
function serverDirectories(ctx: CheckContext): string[] {
  const config = ctx.config;
  return [
    config.backup_directory,
    config.basebackups_directory.kind === 'posix' ? config.basebackups_directory.path : null,
    config.wals_directory.kind === 'posix' ? config.wals_directory.path : null,
    config.incoming_wals_directory,
    config.streaming_wals_directory,
    config.errors_directory,
    config.xlogdb_directory,
  ].filter((directory): directory is string => directory !== null);
}

/**
 * The directories holding copies of the database, for `directory permissions`. Left out:
 * backup_directory, a container (its data lives in the directories below, each checked with
 * its parents), and incoming_wals_directory, the drop box a local archive_command running as
 * postgres has to write into (archive-wal moves each file out of it, 0600).
 */
function dataDirectories(ctx: CheckContext): string[] {
  const { backup_directory, incoming_wals_directory } = ctx.config;
  return serverDirectories(ctx).filter(
    (directory) => directory !== backup_directory && directory !== incoming_wals_directory,
  );
}

/** Creates the server's directories when missing, as Barman's check does. */
export async function directoriesCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('directories');
  if (ctx.entry.disabled) return;
  for (const directory of serverDirectories(ctx)) {
    try {
      const storage = new PosixStorage(directory);
      await storage.mkdir('');
      if ((await storage.stat(''))?.kind !== 'directory')
        throw Object.assign(new Error('Not a directory'), { path: directory });
    } catch (error) {
      ctx.c.add(
        'directories',
        false,
        `${(error as NodeJS.ErrnoException).path ?? directory}: ${strerror(error)}`,
      );
      return;
    }
  }
  ctx.c.add('directories', true);
}

/** barman-ts: a server directory other users can reach fails (shown only then, see permissions.ts). */
export async function directoryPermissionsCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start(DIRECTORY_PERMISSIONS_CHECK);
  if (ctx.entry.disabled) return;
  const open = await openDirectories(dataDirectories(ctx));
  if (open.length > 0) ctx.c.add(DIRECTORY_PERMISSIONS_CHECK, false, describeOpenDirectories(open));
}

export async function backupValidityChecks(ctx: CheckContext): Promise<void> {
  if (!(await ctx.catalog())) return;
  ctx.c.start('backup maximum age');
  const last = await ctx.lastBackup();
  const maxAge = ctx.config.last_backup_maximum_age;
  if (maxAge) {
    const end = last?.info?.end_time ?? null;
    let ok = false;
    let age = 'No available backups';
    if (last && end) {
      const seconds = (ctx.nowMs - end.epochMs) / 1000;
      ok = seconds <= maxAge.seconds;
      age = humanDuration(Math.abs(seconds));
    } else if (last) {
      age = 'unknown (the backup has no end time)';
    }
    ctx.c.add(
      'backup maximum age',
      ok,
      `interval provided: ${humanDuration(maxAge.seconds)}, latest backup age: ${age}`,
    );
  } else {
    ctx.c.add('backup maximum age', true, 'no last_backup_maximum_age provided');
  }

  ctx.c.start('backup minimum size');
  const size = last?.info?.size ?? 0;
  const minimum = ctx.config.last_backup_minimum_size;
  if (minimum !== null && minimum !== undefined) {
    const ok = last !== null && size >= minimum;
    ctx.c.add(
      'backup minimum size',
      ok,
      `last backup size ${prettySize(size)} ${ok ? '>' : '<'} ${prettySize(minimum)} minimum`,
      { perfdata: size },
    );
  } else {
    ctx.c.add('backup minimum size', true, prettySize(size), { perfdata: size });
  }
}

export async function walValidityChecks(ctx: CheckContext): Promise<void> {
  if (!(await ctx.catalog())) return;
  ctx.c.start('wal maximum age');
  const catalog = (await ctx.catalog())!;
  const last = await ctx.lastBackup();
  const maxAge = ctx.config.last_wal_maximum_age;
  const begin = last?.info?.begin_wal ?? null;
  // WAL from the backup's first segment to the newest archived on its timeline.
  const wal = begin ? catalog.usage.range(begin, null) : null;
  const walSize = last ? walAfter(catalog, last).bytes : 0;
  if (maxAge) {
    if (!wal || wal.lastMtime === null) {
      ctx.c.add('wal maximum age', false, 'No WAL files archived for last backup');
    } else {
      const seconds = ctx.nowMs / 1000 - wal.lastMtime;
      ctx.c.add(
        'wal maximum age',
        seconds <= maxAge.seconds,
        `interval provided: ${humanDuration(maxAge.seconds)}, latest wal age: ${humanDuration(Math.abs(seconds))}`,
      );
    }
  } else {
    ctx.c.add('wal maximum age', true, 'no last_wal_maximum_age provided');
  }
  ctx.c.start('wal size');
  ctx.c.add('wal size', true, prettySize(walSize), { perfdata: walSize });
}

export async function failedBackupsCheck(ctx: CheckContext): Promise<void> {
  const catalog = await ctx.catalog();
  if (!catalog) return;
  ctx.c.start('failed backups');
  const failed = catalog.backups.filter((backup) => statusOf(backup) === 'FAILED').length;
  // A STARTED (or EMPTY) backup while no backup process holds the lock was interrupted.
  const backupRunning = isLockHeld(serverLockPath(catalog.layout.lockDirectory, ctx.config.name, 'backup'));
  const interrupted = backupRunning
    ? 0
    : catalog.backups.filter((backup) => ['STARTED', 'EMPTY'].includes(statusOf(backup))).length;
  const hint =
    `there are ${failed} failed backups` +
    (interrupted > 0 ? `, ${interrupted} interrupted backups (the next backup marks them FAILED)` : '');
  ctx.c.add('failed backups', failed === 0 && interrupted === 0, hint);
}

export function configurationCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('configuration');
  const errors = ctx.entry.problems.filter((problem) => problem.severity === 'error');
  if (errors.length > 0) ctx.c.add('configuration', false, null, { details: errors.map(formatProblem) });
  return Promise.resolve();
}

export async function identityChecks(ctx: CheckContext): Promise<void> {
  await identityCheck(ctx.c, ctx.config, await ctx.streaming(), await ctx.pg());
}
