/**
 * Checks of the methods that copy PGDATA's files themselves between pg_backup_start and
 * pg_backup_stop (rsync, local-rsync, local-to-cloud): the backup protocol they will use and,
 * for the methods running on the database host, read access to PGDATA.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { strerror } from '../errors/system.js';
import { majorVersion } from '../postgres/index.js';
import { MINIMAL_VERSION } from '../postgres/probe.js';
import type { ExecutorCheckContext } from './types.js';

/** local-rsync and local-to-cloud read PGDATA directly, as barman_user. */
export async function localPgdataCheck(ctx: ExecutorCheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (pg.dataDirectory === null) return; // unknown without a connection (or the privilege)
  ctx.c.start('local PGDATA');
  try {
    if (!(await stat(pg.dataDirectory)).isDirectory())
      throw new Error('A file with the same name exists, but is not a directory');
    await access(pg.dataDirectory, constants.R_OK | constants.X_OK);
    ctx.c.add('local PGDATA', true, 'Access to local PGDATA');
  } catch (error) {
    ctx.c.add('local PGDATA', false, `cannot read '${pg.dataDirectory}': ${strerror(error)}`);
  }
}

/** The exclusive protocol (standby, PostgreSQL 15 removed it) or the concurrent one's minimum. */
export async function backupStrategyChecks(ctx: ExecutorCheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (ctx.config.backup_options.includes('exclusive_backup')) {
    ctx.c.start('not in recovery');
    if (pg.isInRecovery !== null) {
      if (pg.isInRecovery)
        ctx.c.add('not in recovery', false, 'cannot perform exclusive backup on a standby');
      else ctx.c.add('not in recovery', true);
    }
    ctx.c.start('exclusive backup supported');
    if (pg.serverVersion === null)
      ctx.c.add('exclusive backup supported', false, 'unable to determine postgres version');
    else if (pg.serverVersion < 150000) ctx.c.add('exclusive backup supported', true);
    else
      ctx.c.add(
        'exclusive backup supported',
        false,
        `exclusive backups not supported on PostgreSQL ${pg.majorVersion}: set backup_options = concurrent_backup`,
      );
    return;
  }
  ctx.c.start('postgres minimal version');
  if (pg.serverVersion !== null && pg.serverVersion < MINIMAL_VERSION) {
    ctx.c.add(
      'postgres minimal version',
      false,
      `unsupported PostgresSQL version ${pg.majorVersion}. Expecting ${majorVersion(MINIMAL_VERSION)} or above.`,
    );
  }
}
