import type { CommandDefinition } from '../definition.js';
import { RECOVERY_TARGET_OPTIONS } from '../recover/index.js';

export const verifyRestore: CommandDefinition = {
  name: 'verify-restore',
  summary:
    'Restore drill: recover a backup into a private temporary directory, start PostgreSQL on it (127.0.0.1, archiving off) until recovery ends, ' +
    'run pg_verifybackup, pg_amcheck and restore_drill_probe, then stop and remove it all; the result is recorded beside the catalogue',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'backup_id',
      description: "backup id, name, shortcut (latest, last, oldest, first) or 'auto' (default: latest)",
      required: false,
    },
  ],
  options: RECOVERY_TARGET_OPTIONS,
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
