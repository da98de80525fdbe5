import type { CommandDefinition } from '../definition.js';

export const listServer: CommandDefinition = {
  name: 'list-server',
  aliases: ['list-servers'],
  summary: 'List the configured servers with their description',
  options: [{ flags: '--minimal', description: 'machine readable output: server names only' }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
