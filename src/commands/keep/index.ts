import type { CommandDefinition } from '../definition.js';

export const keep: CommandDefinition = {
  name: 'keep',
  summary:
    'Keep a full backup forever, whatever the retention policy (--target full|standalone; incremental backups are refused), show (--status) or --release it',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'backup_id', description: 'backup id, backup name, or latest/last/oldest/first', required: true },
  ],
  options: [
    {
      flags: '--target <target>',
      description: 'full: recoverable to any later point; standalone: only to its end',
      choices: ['full', 'standalone'],
    },
    { flags: '-s, --status', description: 'show the keep status of the backup' },
    { flags: '-r, --release', description: 'remove the keep: the retention policy applies again' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
