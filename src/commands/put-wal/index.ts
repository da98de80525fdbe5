import type { CommandDefinition } from '../definition.js';

export const putWal: CommandDefinition = {
  name: 'put-wal',
  summary:
    "Receive WAL files into the server's incoming directory: a barman-wal-archive tar stream on stdin, or a local file with --file (archive_command)",
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  options: [
    {
      flags: '--file <path>',
      description: 'copy this local WAL file (archive_command = barman put-wal SERVER --file %p)',
    },
    { flags: '-t, --test', description: 'test the connection only (used by barman-wal-archive)' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
