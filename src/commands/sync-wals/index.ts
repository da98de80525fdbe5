import type { CommandDefinition } from '../definition.js';

export const syncWalsCommand: CommandDefinition = {
  name: 'sync-wals',
  summary: 'Copy the WAL files primary.info lists from the primary Barman to this passive node',
  arguments: [{ name: 'server_name', description: 'server name (a passive node)', required: true }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
