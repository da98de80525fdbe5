import type { CommandDefinition } from '../definition.js';

export const configSwitch: CommandDefinition = {
  name: 'config-switch',
  summary:
    "Make a configuration model active for a server (its values laid over the server's), or with --reset go back to the server's own values; a running receive-wal is restarted",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'model_name', description: 'the model to apply (not with --reset)', required: false },
  ],
  options: [{ flags: '--reset', description: 'remove the active model of the server' }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
