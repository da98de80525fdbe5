import type { CommandDefinition } from '../definition.js';

export const showServer: CommandDefinition = {
  name: 'show-server',
  aliases: ['show-servers'],
  summary: "Show every resolved configuration option of one or more servers ('all' for every server)",
  arguments: [{ name: 'server_name', description: "server name, or 'all'", required: true, variadic: true }],
  options: [
    {
      flags: '--show-config-source',
      description:
        "after each option, where its value comes from: file, line and section, the active model's name, or default",
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
