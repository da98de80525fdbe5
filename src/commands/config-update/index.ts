import type { CommandDefinition } from '../definition.js';

export const configUpdate: CommandDefinition = {
  name: 'config-update',
  summary:
    'Change server and model options from a JSON array (queued in config_changes_queue, written into <barman_home>/.barman.auto.conf under the config-update lock); the servers changed have receive-wal restarted',
  arguments: [
    {
      name: 'json_changes',
      description:
        'JSON array of changes: [{"scope": "server"|"model", "server_name"|"model_name": NAME, OPTION: VALUE, ...}]',
      required: true,
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
