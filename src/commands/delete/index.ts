import type { CommandDefinition } from '../definition.js';

export const deleteCommand: CommandDefinition = {
  name: 'delete',
  summary:
    'Delete a backup with the incremental backups built on it, and the WAL files only they needed (refused for kept backups and below minimum_redundancy)',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'backup_id',
      description: 'backup id, backup name, or latest/last/oldest/first/last-failed',
      required: true,
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
