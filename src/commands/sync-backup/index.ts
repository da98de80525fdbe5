import type { CommandDefinition } from '../definition.js';

export const syncBackupCommand: CommandDefinition = {
  name: 'sync-backup',
  summary: 'Copy one backup from the primary Barman to this passive node (as primary.info lists it)',
  arguments: [
    { name: 'server_name', description: 'server name (a passive node)', required: true },
    { name: 'backup_id', description: 'the backup ID to copy', required: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
