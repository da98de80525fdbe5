import type { CommandDefinition } from '../definition.js';

export const cron: CommandDefinition = {
  name: 'cron',
  summary:
    'Periodic maintenance of every active server (run it every minute): archive WAL, complete backups waiting for WAL, apply retention policies',
  options: [
    {
      flags: '--keep-descriptors',
      description: 'accepted for compatibility (barman-ts runs the work in-process)',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
