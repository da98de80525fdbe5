import { defineCommandModule } from '../definition.js';

interface ListedServer {
  name: string;
  description: string | null;
  active: boolean;
  disabled: boolean;
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
    }));
    return Promise.resolve({ minimal: input.options.minimal === true, servers });
  },

  renderConsole({ minimal, servers }) {
    if (minimal) return servers.map((server) => server.name);
    return servers.map((server) => {
      // Barman's layout: flags are appended to the description with a leading space.
      let description = server.description ?? '';
      if (!server.active) description += ' (inactive)';
      if (server.disabled) description += ' (WARNING: disabled)';
      return description ? `${server.name} - ${description}` : server.name;
    });
  },

  renderJson({ minimal, servers }) {
    if (minimal) return servers.map((server) => server.name);
    return Object.fromEntries(
      servers.map((server) => [
        server.name,
        { description: server.description, active: server.active, disabled: server.disabled },
      ]),
    );
  },
});
