import { SECONDS } from '../../util/whole-number.js';
import type { CommandDefinition } from '../definition.js';

export const cloudWalArchive: CommandDefinition = {
  name: 'cloud-wal-archive',
  summary:
    "Archive a WAL file into the server's s3:// wals_directory, compressed and verified (archive_command = barman cloud-wal-archive SERVER %p)",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'wal_path', description: 'the WAL file to archive (%p)', required: true },
  ],
  options: [
    {
      flags: '--async',
      description:
        'queue the file durably in incoming_wals_directory and return; a background cloud-wal-upload uploads it',
    },
    {
      flags: '--timeout <seconds>',
      description: 'give up (exit 1, PostgreSQL retries) when the upload has not completed by then',
      defaultValue: '60',
      integer: { ...SECONDS, min: 1 },
    },
    { flags: '-t, --test', description: 'check that the bucket is reachable and exit' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
