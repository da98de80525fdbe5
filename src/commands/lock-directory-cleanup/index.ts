import type { CommandDefinition } from '../definition.js';

export const lockDirectoryCleanup: CommandDefinition = {
  name: 'lock-directory-cleanup',
  summary:
    'Remove the lock files of barman_lock_directory that no process holds (what cron does when lock_directory_cleanup is on); a lock in use is never removed',
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
