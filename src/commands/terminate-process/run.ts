/**
 * terminate-process SERVER TASK (Barman 3.14): stops the process of a task listed by
 * list-processes and waits until it has ended (shared/terminate-task.ts). A task that is not
 * running, or that ended before the signal, is Barman's error (exit 1). A stopped backup is
 * FAILED when the command returns.
 */
import { failInterruptedBackups } from '../backup/abandoned.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import { terminateTask } from '../shared/terminate-task.js';

interface Result {
  server: string;
  task: string;
  stopped: number[];
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const task = input.args.task as string;
    const stopped = await terminateTask(server.config, task, ctx.report);
    // A backup stopped by the signal may end before it records its failure (a kill does the
    // same): it is marked FAILED now, as the next backup would, not left STARTED until then.
    if (task === 'backup') await failInterruptedBackups(ctx, server.config);
    return { server: server.name, task, stopped };
  },
  renderConsole: () => [],
  // As Barman: the document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
