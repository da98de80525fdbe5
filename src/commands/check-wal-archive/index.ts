import type { CommandDefinition } from '../definition.js';

export const checkWalArchive: CommandDefinition = {
  name: 'check-wal-archive',
  summary:
    "Check that the server's WAL archive can be used by a new server: it must be empty, or (--timeline N) hold nothing of timeline N or later",
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  options: [
    {
      flags: '--timeline <timeline>',
      description: 'the earliest timeline whose WAL files make the check fail',
      integer: { min: 1 },
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
