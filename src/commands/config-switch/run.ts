/**
 * config-switch SERVER MODEL | SERVER --reset (Barman 3.10+): writes or removes the server's
 * `.active-model.auto`, prints the options the model changes as Barman does, then restarts a
 * running receive-wal so streaming follows the new values. A model of another cluster, an unknown
 * model or one with configuration errors is refused before anything is written.
 */
import type { ServerEntry } from '../../config/index.js';
import { modelOverrides, modelRefusal } from '../../config/index.js';
import { UsageError } from '../../errors/index.js';
import { pythonStr } from '../../output/format.js';
import { redactSecrets } from '../../util/redact.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import {
  reloadConfig,
  removeActiveModel,
  restartServerProcesses,
  writeActiveModel,
} from '../shared/config-changes.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  server: string;
  active_model: string | null;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const modelName = input.args.model_name as string | undefined;
    const reset = input.options.reset === true;
    if (reset && modelName !== undefined)
      throw new UsageError("Give either a model name or '--reset', not both");
    if (!reset && modelName === undefined)
      throw new UsageError("Either a model name or '--reset' flag need to be given");
    // A server disabled only by its active model must still be switchable (that is the fix).
    const server = ctx.config.servers.get(input.args.server_name as string);
    const [selected] = server
      ? [server]
      : selectServers(ctx, [input.args.server_name as string], {
          allowAll: false,
          includeInactive: true,
          includeDisabled: true,
        });
    if (!selected) return null;
    if (reset) {
      ctx.report.info(`Resetting the active model for the server ${selected.name}`);
      await removeActiveModel(selected.config);
    } else if (!(await applyModel(ctx, selected, modelName!))) {
      return null;
    }
    const config = reloadConfig(ctx.config);
    const reloaded = config.servers.get(selected.name);
    if (reloaded && !reloaded.disabled) await restartServerProcesses({ ...ctx, config }, reloaded.config);
    return { server: selected.name, active_model: reset ? null : modelName! };
  },
  renderConsole: () => [],
  // As Barman: the document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});

async function applyModel(ctx: CommandContext, server: ServerEntry, name: string): Promise<boolean> {
  const model = ctx.config.models.get(name);
  if (!model) {
    ctx.report.error(
      ctx.config.servers.has(name)
        ? `'${name}' is a server, not a configuration model`
        : `Unknown model '${name}'`,
    );
    return false;
  }
  const refusal = modelRefusal(model, server.name, server.config.cluster);
  if (refusal) {
    ctx.report.error(refusal);
    return false;
  }
  if (server.activeModel === name) {
    ctx.report.info(`Model '${name}' is already active for server '${server.name}', skipping...`);
    return true;
  }
  ctx.report.info(`Applying model '${name}' to server '${server.name}'`);
  // From the values in effect now (with the model active until now, if any), as Barman prints.
  const values = server.config as unknown as Record<string, unknown>;
  for (const [key, value] of modelOverrides(model)) {
    if (pythonStr(values[key] ?? null) === pythonStr(value)) continue;
    ctx.report.info(
      redactSecrets(
        `Changing value of option '${key}' for server '${server.name}' from '${pythonStr(values[key] ?? null)}' to '${pythonStr(value)}' through the model '${name}'`,
      ),
    );
  }
  await writeActiveModel(server.config, name);
  return true;
}
