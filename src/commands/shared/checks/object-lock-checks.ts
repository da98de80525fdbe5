/**
 * worm_mode with an s3:// basebackups_directory or wals_directory: `s3 object lock` says whether
 * each bucket enforces immutability itself (S3 Object Lock enabled), since barman-ts's retention
 * headers are refused by, or mean nothing on, a bucket without it. FAILED when a bucket cannot
 * lock: worm_mode's promise would not hold there.
 */
import { describeError } from '../../../errors/index.js';
import { storageFor } from '../../../storage/for-location.js';
import type { CheckContext } from './context.js';

const CHECK = 's3 object lock';

/** The s3:// locations of a worm_mode server: the check applies when there is one. */
export function objectLockLocations(ctx: CheckContext) {
  const { config } = ctx;
  if (!config.worm_mode) return [];
  return [config.basebackups_directory, config.wals_directory].filter((location) => location.kind === 's3');
}

export async function objectLockCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start(CHECK);
  const details: string[] = [];
  const seen = new Set<string>();
  for (const location of objectLockLocations(ctx)) {
    const storage = await storageFor(ctx.config, location, { signal: ctx.signal });
    try {
      if (!storage.immutabilityStatus) continue;
      const status = await storage.immutabilityStatus().catch((error: unknown) => ({
        enforced: false,
        detail: describeError(error),
      }));
      if (!status.enforced) {
        ctx.c.add(CHECK, false, `${storage.location}: ${status.detail}`);
        return;
      }
      if (!seen.has(status.detail)) details.push(status.detail);
      seen.add(status.detail);
    } finally {
      storage.close();
    }
  }
  ctx.c.add(CHECK, true, details.join('; ') || null);
}
