import type { CommandDefinition } from '../definition.js';

export const generateManifest: CommandDefinition = {
  name: 'generate-manifest',
  summary:
    "Write a PostgreSQL backup_manifest (SHA-256 of every file, the backup's WAL range) for a stored backup that has none: rsync and local-rsync copies, barman-cloud archives",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'backup_id', description: 'backup id, backup name, or latest/last/oldest/first', required: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
