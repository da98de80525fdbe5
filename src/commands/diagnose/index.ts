import type { CommandDefinition } from '../definition.js';

export const diagnose: CommandDefinition = {
  name: 'diagnose',
  summary: 'Print a JSON document describing barman-ts, its configuration, servers and host (for support)',
  options: [
    {
      flags: '--show-config-source',
      description:
        'each server option as {"value", "source"}: the file that set it (with section, line and the active model) or "default"',
    },
  ],
  usesConfig: true,
  alwaysJson: true,
  load: async () => (await import('./run.js')).default,
};
