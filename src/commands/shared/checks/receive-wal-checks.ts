/**
 * The checks of the streaming archiver (receive-wal): pg_receivewal, and that it runs. With
 * encryption = gpg receive-wal streams natively and seals as it receives (no pg_receivewal),
 * which needs a replication slot.
 */
import { isLockHeld, serverLockPath } from '../../../locks/index.js';
import { findPgTool } from '../../../process/postgres-tools.js';
import type { CheckContext } from './context.js';

export async function streamingArchiverChecks(ctx: CheckContext): Promise<void> {
  if (ctx.config.encryption === 'gpg') {
    ctx.c.start('receive-wal slot');
    ctx.c.add(
      'receive-wal slot',
      ctx.config.slot_name !== null,
      'encryption = gpg streams WAL sealed, held in memory until its segment is complete: set slot_name',
    );
    return receiveWalRunning(ctx);
  }
  ctx.c.start('pg_receivexlog');
  const tool = await findPgTool(['pg_receivewal', 'pg_receivexlog'], ctx.searchPath, ctx.signal);
  ctx.c.add('pg_receivexlog', tool !== null);
  ctx.c.start('pg_receivexlog compatible');
  ctx.toolCompatibility('pg_receivexlog compatible', 'pg_receivexlog', tool, await ctx.serverVersion());
  receiveWalRunning(ctx);
}

function receiveWalRunning(ctx: CheckContext): void {
  ctx.c.start('receive-wal running');
  const lock = serverLockPath(ctx.config.barman_lock_directory, ctx.config.name, 'receive-wal');
  if (isLockHeld(lock)) ctx.c.add('receive-wal running', true);
  else ctx.c.add('receive-wal running', false, 'See the Barman log file for more details');
}
