import { SECONDS } from '../../util/whole-number.js';
import type { CommandDefinition } from '../definition.js';

export const cloudWalUpload: CommandDefinition = {
  name: 'cloud-wal-upload',
  summary:
    'Upload the WAL files queued by cloud-wal-archive --async to the s3:// wals_directory (started in the background by cloud-wal-archive and cron)',
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  options: [
    {
      flags: '-j, --jobs <n>',
      description: 'uploads at the same time',
      defaultValue: '4',
      integer: { min: 1, max: 1000 },
    },
    {
      flags: '--wait-idle <seconds>',
      description: 'keep waiting for new files this long once the queue is empty',
      defaultValue: '0',
      integer: SECONDS,
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
