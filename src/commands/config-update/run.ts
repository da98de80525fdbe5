/**
 * config-update '<json>' (Barman 3.10+): checks the requested changes against the option table
 * (config/changes.ts; a bad request changes nothing), queues them and writes them into
 * `.barman.auto.conf` under the config-update lock (shared/config-changes.ts), then restarts a
 * running receive-wal of each server changed so it streams with the new values.
 */
import { parseConfigUpdate } from '../../config/index.js';
import { defineCommandModule } from '../definition.js';
import {
  autoConfFile,
  processConfigChanges,
  reloadConfig,
  restartServerProcesses,
} from '../shared/config-changes.js';

interface Result {
  changed_sections: string[];
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const sets = parseConfigUpdate(input.args.json_changes as string, ctx.config, autoConfFile(ctx.config));
    const changed = await processConfigChanges(ctx.config, ctx.report, sets);
    const config = reloadConfig(ctx.config);
    for (const name of changed) {
      const server = config.servers.get(name);
      if (server && !server.disabled) await restartServerProcesses({ ...ctx, config }, server.config);
    }
    return { changed_sections: changed };
  },
  renderConsole: () => [],
  // As Barman: the document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
