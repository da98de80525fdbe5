import { SECONDS } from '../../util/whole-number.js';
import type { CommandDefinition } from '../definition.js';

export const metrics: CommandDefinition = {
  name: 'metrics',
  summary:
    "Print Prometheus metrics (text exposition format) of the servers' backups, WAL archiving and retention (all servers unless named)",
  arguments: [
    {
      name: 'server_name',
      description: "server name(s), or 'all' (the default)",
      required: false,
      variadic: true,
    },
  ],
  options: [
    {
      flags: '--checks',
      description:
        "also run barman check on each server and expose each result (costs a whole 'check' per run)",
    },
    {
      flags: '--postgres-timeout <seconds>',
      description: "seconds to wait for each server's pg_stat_archiver before leaving its series out",
      defaultValue: '5',
      integer: { ...SECONDS, min: 1, max: 300 },
    },
    {
      flags: '--no-postgres',
      description: 'do not connect to PostgreSQL (catalogue and local directories only)',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
