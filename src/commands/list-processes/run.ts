/**
 * list-processes SERVER (Barman 3.14): the server's tasks running now, found through the lock
 * files they hold (locks/processes.ts), with the pid each wrote into its lock file.
 */
import { listServerProcesses } from '../../locks/processes.js';
import type { ServerProcess } from '../../locks/processes.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  server: string;
  processes: ServerProcess[];
}

export default defineCommandModule<Result | null>({
  run(ctx, input) {
    // Inactive servers included: a backup started before `active = false` still runs.
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return Promise.resolve(null);
    const { processes, unreadable } = listServerProcesses(server.config.barman_lock_directory, server.name);
    for (const { task, lockFile } of unreadable) {
      ctx.report.warning(
        `Skipping the ${task} process of server ${server.name}: no pid in its lock file ${lockFile}`,
      );
    }
    return Promise.resolve({ server: server.name, processes });
  },

  renderConsole(result) {
    if (!result) return [];
    if (result.processes.length === 0) return [`No active subprocesses found for server ${result.server}.`];
    return [
      `Active subprocesses for server ${result.server}:`,
      ...result.processes.map((process) => `${process.pid} ${process.task}`),
    ];
  },

  // Barman 3.14's document: `{"<server>": [{"pid": <pid>, "name": "<task>"}]}`.
  renderJson(result) {
    if (!result) return null;
    return { [result.server]: result.processes.map((process) => ({ pid: process.pid, name: process.task })) };
  },
});
