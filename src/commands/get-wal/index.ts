import type { CommandDefinition } from '../definition.js';

export const getWal: CommandDefinition = {
  name: 'get-wal',
  summary:
    "Send a WAL file from the server's archive to stdout or a directory (PostgreSQL's restore_command)",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    { name: 'wal_name', description: 'WAL file name (segment, .history, .backup)', required: true },
  ],
  options: [
    {
      flags: '-o, --output-directory <dir>',
      description: 'write the WAL file into this directory instead of stdout',
    },
    { flags: '-P, --partial', description: 'also look for a .partial file being streamed' },
    { flags: '-z, --gzip', description: 'send the WAL file compressed with gzip' },
    { flags: '-x', description: 'same as --gzip' },
    { flags: '-j, --bzip2', description: 'send the WAL file compressed with bzip2' },
    { flags: '--keep-compression', description: 'send the file as stored in the archive' },
    {
      flags: '-p, --peek <n>',
      description: 'print the names of up to N available WAL files starting from this one',
      integer: { min: 1 },
    },
    { flags: '-t, --test', description: 'test the connection only (used by barman-wal-restore)' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
