import type { CommandDefinition } from '../definition.js';

export const status: CommandDefinition = {
  name: 'status',
  summary:
    "Show the live status of one or more servers: PostgreSQL, WAL archiving, retention and backups ('all' for every server)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
