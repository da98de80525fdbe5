import type { CommandDefinition } from '../definition.js';

export const listFiles: CommandDefinition = {
  name: 'list-files',
  summary: 'List the files of a backup: its data files and/or the WAL files it needs',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'backup_id',
      description: 'backup id, backup name, or latest/last/oldest/first/last-failed',
      required: true,
    },
  ],
  options: [
    {
      flags: '--target <target>',
      description:
        'standalone (default): data files and the WAL needed to restore the backup; data: data files only; ' +
        'wal: WAL from the backup start to the next backup (or the archive end); full: data and wal',
      choices: ['standalone', 'data', 'wal', 'full'],
      defaultValue: 'standalone',
    },
    {
      flags: '--list-empty-directories',
      description: 'also list the empty directories of the backup (as Barman 3.16+)',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
