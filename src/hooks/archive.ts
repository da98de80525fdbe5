/** The archive hooks of archive-wal: src/wal's hook points backed by a HookRunner. */
import type { ArchiveHookFile, ArchiveHooks } from '../wal/archiver.js';
import { archiveHookEnv } from './env.js';
import type { HookRunner } from './runner.js';
import { isHookAbort } from './runner.js';

/**
 * The pre/post_archive hook points for the archiver, or undefined when the server has no archive
 * script (archive-wal then spawns nothing and keeps archiving in chunks).
 */
export function archiveHooks(runner: HookRunner): ArchiveHooks | undefined {
  if (!runner.has('archive')) return undefined;
  const env = (file: ArchiveHookFile, error: string | null) =>
    archiveHookEnv({
      segment: file.segment,
      file: file.path,
      size: file.size,
      timestamp: file.mtime,
      compression: file.compression,
      error,
    });
  return {
    async before(file) {
      try {
        await runner.run('archive', 'pre', env(file, null));
        return null;
      } catch (error) {
        if (isHookAbort(error)) return error.message;
        throw error;
      }
    },
    after: (file, error) => runner.run('archive', 'post', env(file, error)),
  };
}
