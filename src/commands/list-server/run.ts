import { isPassive } from '../shared/passive/state.js';
import { defineCommandModule } from '../definition.js';

interface ListedServer {
  name: string;
  description: string | null;
  active: boolean;
  disabled: boolean;
  passive: boolean;
  /** barman-ts: the server this one mirrors (mirror_of), or null. */
  mirrorOf: string | null;
}

interface ListServerResult {
  minimal: boolean;
  servers: ListedServer[];
}

export default defineCommandModule<ListServerResult>({
  run(ctx, input) {
    const servers = [...ctx.config.servers.values()].map((server) => ({
      name: server.name,
      description: server.config.description,
      active: server.config.active,
      disabled: server.disabled,
      passive: isPassive(server.config),
      mirrorOf: server.config.mirror_of,
    }));
    return Promise.resolve({ minimal: input.options.minimal === true, servers });
  },

  renderConsole({ minimal, servers }) {
    if (minimal) return servers.map((server) => server.name);
    return servers.map((server) => {
      const description = describe(server);
      return description ? `${server.name} - ${description}` : server.name;
    });
  },

  // Barman 3.4's document, --minimal or not: `{"<server>": {"description": "<text and flags>"}}`.
  renderJson({ servers }) {
    return Object.fromEntries(servers.map((server) => [server.name, { description: describe(server) }]));
  },
});

/** Barman's layout: flags are appended to the description with a leading space. */
function describe(server: ListedServer): string {
  let description = server.description ?? '';
  if (!server.active) description += ' (inactive)';
  if (server.disabled) description += ' (WARNING: disabled)';
  if (server.passive) description += ' (Passive)';
  if (server.mirrorOf !== null) description += ` (Mirror of ${server.mirrorOf})`;
  return description;
}
