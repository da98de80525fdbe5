import type { CommandDefinition } from '../definition.js';

export const cloudWalUpload: CommandDefinition = {
  name: 'cloud-wal-upload',
  summary:
    'Upload the WAL files queued by cloud-wal-archive --async to the s3:// wals_directory (started in the background by cloud-wal-archive and cron)',
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  options: [
    { flags: '-j, --jobs <n>', description: 'uploads at the same time', defaultValue: '4' },
    {
      flags: '--wait-idle <seconds>',
      description: 'keep waiting for new files this long once the queue is empty',
      defaultValue: '0',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
