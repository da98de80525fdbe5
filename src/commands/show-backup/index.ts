import type { CommandDefinition } from '../definition.js';

export const showBackup: CommandDefinition = {
  name: 'show-backup',
  aliases: ['show-backups'],
  summary:
    'Show the details of a backup (id, name, or latest, oldest, last-failed); in a catalogue with incremental chains, also its type, root, parent, children and the resources it saved',
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
