/**
 * backup_method = postgres's checks: pg_basebackup (found, compatible with the server, able to
 * map tablespaces) unless barman-ts's own BASE_BACKUP client takes the server's backups
 * (postgres-native.ts: a server newer than pg_basebackup, or no pg_basebackup, on PostgreSQL 15+;
 * postgres-sealed.ts: an encrypted backup of PostgreSQL 15+)
 * or, to an s3:// basebackups_directory, that client (postgres-cloud.ts).
 */
import { BASE_BACKUP_MIN_VERSION, majorVersion } from '../postgres/index.js';
import { compareVersions, findPgTool } from '../process/postgres-tools.js';
import { encryptionKeyOf } from '../transfer/gpg.js';
import { baseBackupClient } from './postgres-native.js';
import { canSealWhileCopying } from './postgres-sealed.js';
import type { ExecutorCheckContext } from './types.js';

export async function pgBasebackupChecks(ctx: ExecutorCheckContext): Promise<void> {
  if (ctx.config.basebackups_directory.kind === 's3') {
    await baseBackupProtocolCheck(ctx);
    return;
  }
  ctx.c.start('pg_basebackup');
  if (ctx.incrementalBackup) {
    // Taken by barman-ts's own client whatever pg_basebackup is (baseBackupClient): not looked for.
    const hint = 'not used: barman-ts takes incremental backups with its own BASE_BACKUP client';
    ctx.c.add('pg_basebackup', true, hint);
    ctx.c.start('pg_basebackup compatible');
    ctx.c.add('pg_basebackup compatible', true, hint);
    return;
  }
  const tool = await findPgTool(['pg_basebackup'], ctx.searchPath, ctx.signal);
  const version = await ctx.serverVersion();
  const toolMajor = tool?.majorVersion ? Number.parseFloat(tool.majorVersion) : null;
  // An encrypted backup of PostgreSQL 15+ is taken by that client too (postgres-sealed.ts).
  const sealed = version !== null && encryptionKeyOf(ctx.config) !== null && canSealWhileCopying(version);
  if (
    version !== null &&
    (sealed || baseBackupClient(ctx.config.backup_compression, version, toolMajor, false) === 'native')
  ) {
    // barman-ts's own BASE_BACKUP client takes these backups: pg_basebackup is not needed.
    const hint = `not used: barman-ts takes PostgreSQL ${majorVersion(version)}'s backups with its own BASE_BACKUP client`;
    ctx.c.add('pg_basebackup', true, tool ? null : hint);
    ctx.c.start('pg_basebackup compatible');
    ctx.c.add('pg_basebackup compatible', true, hint);
    return;
  }
  ctx.c.add('pg_basebackup', tool !== null);

  ctx.c.start('pg_basebackup compatible');
  ctx.toolCompatibility('pg_basebackup compatible', 'pg_basebackup', tool, version);

  const pg = await ctx.pg();
  if (pg.serverVersion === null) return; // reported by the PostgreSQL check
  ctx.c.start('pg_basebackup supports tablespaces mapping');
  const mapping = tool?.majorVersion ? compareVersions(tool.majorVersion, '9.4') >= 0 : false;
  const hint = 'pg_basebackup 9.4 or higher is required for tablespaces support';
  if (mapping) ctx.c.add('pg_basebackup supports tablespaces mapping', true);
  else if ((pg.tablespaces ?? []).length > 0)
    ctx.c.add('pg_basebackup supports tablespaces mapping', false, hint);
  else ctx.c.add('pg_basebackup supports tablespaces mapping', true, hint);
}

async function baseBackupProtocolCheck(ctx: ExecutorCheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (pg.serverVersion === null) return; // reported by the PostgreSQL check
  ctx.c.start('streaming backup to object storage');
  if (pg.serverVersion >= BASE_BACKUP_MIN_VERSION) ctx.c.add('streaming backup to object storage', true);
  else
    ctx.c.add(
      'streaming backup to object storage',
      false,
      `PostgreSQL ${pg.majorVersion} is older than ${majorVersion(BASE_BACKUP_MIN_VERSION)}: backups to an s3:// basebackups_directory need PostgreSQL 15 or newer`,
    );
}
