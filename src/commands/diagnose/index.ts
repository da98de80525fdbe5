import type { CommandDefinition } from '../definition.js';

export const diagnose: CommandDefinition = {
  name: 'diagnose',
  summary: 'Print a JSON document describing barman-ts, its configuration, servers and host (for support)',
  usesConfig: true,
  alwaysJson: true,
  load: async () => (await import('./run.js')).default,
};
