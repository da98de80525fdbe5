import type { CommandDefinition } from '../definition.js';

export const rebuildXlogdb: CommandDefinition = {
  name: 'rebuild-xlogdb',
  summary: "Rebuild the WAL catalogue (xlog.db) from the files in the WAL archive ('all' for every server)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
