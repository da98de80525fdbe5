import type { CommandDefinition } from '../definition.js';

export const listProcesses: CommandDefinition = {
  name: 'list-processes',
  aliases: ['list-process'],
  summary:
    'List the running processes of a server (backup, receive-wal, cron, archive-wal, sync-*): the holders of its lock files, with their pid',
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
