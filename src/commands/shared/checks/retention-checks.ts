/** The checks of the retention policies (Barman's and retention_gfs): their settings and the minimum redundancy. */
import { statusOf } from '../../../catalog/backups.js';
import type { CheckContext } from './context.js';

export function retentionPolicyCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('retention policy settings');
  const problem = ctx.entry.problems.find(
    (candidate) =>
      candidate.severity === 'error' &&
      (candidate.option === 'retention_policy' || candidate.option === 'retention_gfs'),
  );
  if (problem) ctx.c.add('retention policy settings', false, problem.message);
  else ctx.c.add('retention policy settings', true);
  return Promise.resolve();
}

export async function minimumRedundancyCheck(ctx: CheckContext): Promise<void> {
  const catalog = await ctx.catalog();
  if (!catalog) return;
  ctx.c.start('minimum redundancy requirements');
  const done = catalog.backups.filter((backup) => statusOf(backup) === 'DONE').length;
  const minimum = ctx.config.minimum_redundancy;
  ctx.c.add(
    'minimum redundancy requirements',
    done >= minimum,
    `have ${done} backups, expected at least ${minimum}`,
  );
}
