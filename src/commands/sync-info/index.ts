import type { CommandDefinition } from '../definition.js';

export const syncInfo: CommandDefinition = {
  name: 'sync-info',
  summary:
    "Print the server's catalogue status for a passive node, as JSON (run by the passive node over primary_ssh_command)",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'last_wal',
      description: 'the last WAL file already read: list only newer ones',
      required: false,
    },
    { name: 'last_position', description: "the byte offset in xlog.db of last_wal's line", required: false },
  ],
  options: [
    {
      flags: '--primary',
      description: 'on a passive node: run sync-info on the primary and save its answer as primary.info',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
