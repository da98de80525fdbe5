import type { CommandDefinition } from '../definition.js';

export const checkBackup: CommandDefinition = {
  name: 'check-backup',
  summary:
    'Check that every WAL file a backup needs (begin_wal to end_wal) is archived and sound: the backup becomes DONE, stays WAITING_FOR_WALS, or is marked FAILED naming the first missing or damaged WAL file',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'backup_id', description: 'backup id, backup name, or latest/last/oldest/first', required: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
