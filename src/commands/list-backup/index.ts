import type { CommandDefinition } from '../definition.js';

export const listBackup: CommandDefinition = {
  name: 'list-backup',
  aliases: ['list-backups'],
  summary:
    "List the backups of one or more servers, newest first ('all' for every server); with incremental chains, each backup's type as Barman 3.11+ shows it",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  options: [{ flags: '--minimal', description: 'machine readable output: backup ids only' }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
