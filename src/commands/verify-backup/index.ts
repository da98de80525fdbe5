import type { CommandDefinition } from '../definition.js';

export const verifyBackup: CommandDefinition = {
  name: 'verify-backup',
  aliases: ['verify'],
  summary:
    "Check a stored backup against its backup_manifest, as pg_verifybackup does (every file present with its size and checksum, no other file, the manifest's own checksum), in a directory or an s3:// catalogue",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'backup_id', description: 'backup id, backup name, or latest/last/oldest/first', required: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
