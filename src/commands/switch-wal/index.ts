import { SECONDS } from '../../util/whole-number.js';
import type { CommandDefinition } from '../definition.js';

export const switchWal: CommandDefinition = {
  name: 'switch-wal',
  aliases: ['switch-xlog'],
  summary:
    "Ask PostgreSQL to close its current WAL file, optionally waiting until it is archived ('all' for every server)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  options: [
    {
      flags: '--force',
      description: 'run a CHECKPOINT first, so that a switch happens even on an idle server',
    },
    { flags: '--archive', description: 'wait until the closed WAL file is archived (running archive-wal)' },
    {
      flags: '--archive-timeout <seconds>',
      description: 'seconds to wait with --archive (0: no limit)',
      defaultValue: '30',
      integer: SECONDS,
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
