/**
 * The checks of the PostgreSQL connections: the server (version, backup privileges), the
 * streaming connection, wal_level, the replication slot and, with primary_conninfo, the standby
 * and its primary.
 */
import type { CheckContext } from './context.js';
import { versionText } from '../../../postgres/index.js';
import type { PostgresProbe, PrimaryProbe } from '../../../postgres/probe.js';
import { MINIMAL_VERSION, probePrimary, usesStreamingConnection } from '../../../postgres/probe.js';
import { replicationSlotCheck } from './wal-streaming-checks.js';
import { hasWalConnections } from '../wal-connections.js';

export async function postgresChecks(ctx: CheckContext): Promise<void> {
  ctx.c.start('PostgreSQL');
  const pg = await ctx.pg();
  if (pg.serverVersion === null) {
    ctx.c.add('PostgreSQL', false, pg.error);
    return;
  }
  if (pg.serverVersion < MINIMAL_VERSION) {
    ctx.c.add(
      'PostgreSQL',
      false,
      `unsupported version: PostgreSQL server is too old (${pg.versionText} < ${versionText(MINIMAL_VERSION)})`,
    );
    return;
  }
  ctx.c.add('PostgreSQL', true);

  if (pg.hasBackupPrivileges !== null) {
    ctx.c.start('superuser or standard user with backup privileges');
    if (pg.hasBackupPrivileges) ctx.c.add('superuser or standard user with backup privileges', true);
    else
      ctx.c.add(
        'no access to backup functions',
        false,
        'privileges for PostgreSQL backup functions are required (see documentation)',
      );
  }

  if (usesStreamingConnection(ctx.config)) {
    ctx.c.start('PostgreSQL streaming');
    const streaming = (await ctx.streaming())!;
    ctx.c.add('PostgreSQL streaming', streaming.identity !== null, streaming.error);
  }

  if (pg.walLevel !== null) {
    ctx.c.start('wal_level');
    if (pg.walLevel !== 'minimal') ctx.c.add('wal_level', true);
    else ctx.c.add('wal_level', false, "please set it to a higher level than 'minimal'");
  }

  // With WAL connections of its own, the slot is checked there (runWalStreamingChecks).
  if (ctx.config.slot_name && !hasWalConnections(ctx.config)) replicationSlotCheck(ctx.c, ctx.config, pg);
  if (ctx.config.primary_conninfo) {
    const primary = await probePrimary(ctx.config.primary_conninfo, {
      log: ctx.log,
      signal: ctx.signal,
    });
    standby(ctx, pg, primary);
  }
}

function standby(ctx: CheckContext, pg: PostgresProbe, primary: PrimaryProbe): void {
  ctx.c.start('PostgreSQL server is standby');
  if (pg.isInRecovery) ctx.c.add('PostgreSQL server is standby', true);
  else
    ctx.c.add(
      'PostgreSQL server is standby',
      false,
      'conninfo should point to a standby server if primary_conninfo is set',
    );
  ctx.c.start('Primary server is not a standby');
  if (primary.isInRecovery === false) ctx.c.add('Primary server is not a standby', true);
  else
    ctx.c.add(
      'Primary server is not a standby',
      false,
      primary.error ?? 'primary_conninfo should point to a primary server, not a standby',
    );
  ctx.c.start('Primary and standby have same system ID');
  if (pg.systemid !== null && pg.systemid === primary.systemid)
    ctx.c.add('Primary and standby have same system ID', true);
  else
    ctx.c.add(
      'Primary and standby have same system ID',
      false,
      'primary_conninfo and conninfo should point to primary and standby servers which share the same system identifier',
    );
}
