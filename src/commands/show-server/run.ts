import type { ServerEntry } from '../../config/index.js';
import { defineCommandModule } from '../definition.js';
import { serverConfigConsole, serverConfigJson } from '../shared/config-display.js';
import { selectServers } from '../shared/select-servers.js';

export default defineCommandModule<ServerEntry[]>({
  run(ctx, input) {
    const names = (input.args.server_name as readonly string[] | undefined) ?? [];
    return Promise.resolve(
      selectServers(ctx, names, { allowAll: true, includeInactive: true, includeDisabled: true }),
    );
  },

  renderConsole(servers) {
    return servers.flatMap((server) => {
      const flag = server.disabled ? ' (WARNING: disabled)' : server.config.active ? '' : ' (inactive)';
      return [`Server ${server.name}:${flag}`, ...serverConfigConsole(server)];
    });
  },

  renderJson(servers) {
    return Object.fromEntries(servers.map((server) => [server.name, serverConfigJson(server)]));
  },
});
