import type { CommandDefinition } from '../definition.js';

export const check: CommandDefinition = {
  name: 'check',
  summary:
    "Check the configuration, PostgreSQL, the WAL archive and the backup requirements of one or more servers ('all' for every server)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  options: [{ flags: '--nagios', description: 'Nagios plugin compatible output' }],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
