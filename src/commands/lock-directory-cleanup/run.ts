/**
 * lock-directory-cleanup (Barman 3.10): the clean-up cron runs when lock_directory_cleanup is on,
 * on demand whatever the option says. Silent on the console, as Barman; the log names each file.
 */
import { cleanLockDirectory } from '../shared/lock-cleanup.js';
import { defineCommandModule } from '../definition.js';

export default defineCommandModule<{ removed: string[] }>({
  run(ctx) {
    return Promise.resolve({ removed: cleanLockDirectory(ctx) });
  },
  renderConsole: () => [],
  renderJson: () => null,
});
