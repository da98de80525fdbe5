/**
 * `restore drill` (barman-ts), for a server with a restore_drill_schedule or a
 * restore_drill_directory: what a drill of the latest backup would refuse, found now rather
 * than at 05:00 on Sunday: a drill directory inside the catalogue, and (with a schedule) the
 * PostgreSQL programs of the backup's major version missing.
 */
import { describeError } from '../../../errors/index.js';
import { drillBaseDirectory, findDrillPrograms } from '../drill-programs.js';
import type { CheckContext } from './context.js';

export const RESTORE_DRILL_CHECK = 'restore drill';

export function concernsDrills(ctx: CheckContext): boolean {
  return ctx.config.restore_drill_schedule !== null || ctx.config.restore_drill_directory !== null;
}

export async function restoreDrillCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start(RESTORE_DRILL_CHECK);
  try {
    const directory = drillBaseDirectory(ctx.config, ctx.catalogueAreas);
    if (ctx.config.restore_drill_schedule === null) {
      ctx.c.add(RESTORE_DRILL_CHECK, true, `directory ${directory}`);
      return;
    }
    const version = (await ctx.lastBackup())?.info?.version ?? null;
    if (version === null) {
      ctx.c.add(RESTORE_DRILL_CHECK, true, `no backup to drill yet (directory ${directory})`);
      return;
    }
    const programs = await findDrillPrograms(ctx.config, version);
    ctx.c.add(
      RESTORE_DRILL_CHECK,
      true,
      `PostgreSQL ${programs.major} (${programs.postgres}), directory ${directory}`,
    );
  } catch (error) {
    ctx.c.add(RESTORE_DRILL_CHECK, false, describeError(error));
  }
}
