import type { CommandDefinition } from '../definition.js';

export const showServer: CommandDefinition = {
  name: 'show-server',
  aliases: ['show-servers'],
  summary: "Show every resolved configuration option of one or more servers ('all' for every server)",
  arguments: [{ name: 'server_name', description: "server name, or 'all'", required: true, variadic: true }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
