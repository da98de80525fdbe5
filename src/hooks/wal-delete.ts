/** The wal_delete hooks around the removal of one archived WAL file. */
import { describeError } from '../errors/index.js';
import type { WalHookInfo } from './env.js';
import { walDeleteHookEnv } from './env.js';
import type { HookRunner } from './runner.js';

/**
 * Runs `remove` between the pre and post wal_delete scripts, as Barman's delete_wal: a stop
 * request (exit 63) of the pre retry script is only a warning (the file's xlog.db line is already
 * gone), and the post scripts get the removal's error, which is then thrown again. Without a
 * runner or a wal_delete script it just runs `remove`.
 */
export async function withWalDeleteHooks(
  runner: HookRunner | undefined,
  file: Omit<WalHookInfo, 'error'>,
  remove: () => Promise<void>,
): Promise<void> {
  if (!runner?.has('wal_delete')) return remove();
  await runner.run('wal_delete', 'pre', walDeleteHookEnv(file), { ignoreStop: true });
  try {
    await remove();
  } catch (error) {
    await runner.run('wal_delete', 'post', walDeleteHookEnv({ ...file, error: describeError(error) }));
    throw error;
  }
  await runner.run('wal_delete', 'post', walDeleteHookEnv(file));
}
