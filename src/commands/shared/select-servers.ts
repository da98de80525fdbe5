import type { ServerEntry } from '../../config/index.js';
import { formatProblem } from '../../config/index.js';
import { UsageError } from '../../errors/index.js';
import type { CommandContext } from '../definition.js';

export interface SelectOptions {
  /** Accept the word `all` (alone) meaning every server. */
  allowAll: boolean;
  /** Return inactive servers instead of skipping them with an info message. */
  includeInactive: boolean;
  /** Return disabled servers instead of reporting their errors and skipping them. */
  includeDisabled: boolean;
}

/**
 * Barman's server selection rules: unknown names are errors, `all` must stand alone, inactive
 * servers are skipped (exit 0), disabled ones report their configuration errors (exit 1).
 */
export function selectServers(
  ctx: CommandContext,
  names: readonly string[],
  options: SelectOptions,
): ServerEntry[] {
  const servers = ctx.config.servers;
  let wanted: string[];
  if (names.includes('all')) {
    if (!options.allowAll) throw new UsageError("You cannot use 'all' in a single server context");
    if (names.length > 1) throw new UsageError("You cannot use 'all' with other server names");
    wanted = [...servers.keys()];
  } else {
    wanted = [...new Set(names)];
  }

  const selected: ServerEntry[] = [];
  for (const name of wanted) {
    const server = servers.get(name);
    if (!server) {
      ctx.report.error(
        ctx.config.models.has(name)
          ? `'${name}' is a configuration model, not a server`
          : `Unknown server '${name}'`,
      );
      continue;
    }
    if (server.disabled && !options.includeDisabled) {
      for (const problem of server.problems.filter((p) => p.severity === 'error')) {
        ctx.report.error(formatProblem(problem));
      }
      ctx.report.error(`Server '${name}' is disabled by configuration errors`);
      continue;
    }
    if (server.config.active === false && !options.includeInactive) {
      ctx.report.info(`Skipping inactive server '${name}'`);
      continue;
    }
    selected.push(server);
  }
  return selected;
}
