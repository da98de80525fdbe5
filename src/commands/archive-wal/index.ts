import type { CommandDefinition } from '../definition.js';

export const archiveWalCommand: CommandDefinition = {
  name: 'archive-wal',
  summary:
    'Archive the WAL files waiting in incoming/ and streaming/ into the WAL archive, compressed as configured',
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
