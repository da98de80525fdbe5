/** daemon: see daemon.ts. Its messages are its output; it returns when stopped. */
import { defineCommandModule } from '../commands/definition.js';
import type { DaemonSummary } from './health.js';
import { runDaemon } from './daemon.js';

export default defineCommandModule<DaemonSummary>({
  run: (ctx) => runDaemon(ctx),
  renderConsole: () => [],
  renderJson: (summary) => ({ ...summary }),
});
