import { backupNameProblem } from '../../catalog/backup-reference.js';
import { SECONDS } from '../../util/whole-number.js';
import type { CommandDefinition } from '../definition.js';

export const backup: CommandDefinition = {
  name: 'backup',
  summary: "Take a backup of one or more servers ('all' for every server, one after another)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  options: [
    {
      flags: '--name <name>',
      description: 'a name for the backup, usable instead of its id',
      check: backupNameProblem,
    },
    {
      flags: '--incremental <backup_id>',
      description:
        "take a block-level incremental backup (PostgreSQL 17+, backup_method = postgres) on this parent: a backup id or name, 'last-full'/'latest-full' (the newest full backup) or another shortcut; with encryption = gpg, compressed and encrypted as a full backup is",
    },
    { flags: '-w, --wait', description: 'wait until the WAL files the backup needs are archived' },
    {
      flags: '--wait-timeout <seconds>',
      description: 'with --wait: give up after this many seconds (default: no limit)',
      integer: SECONDS,
    },
    { flags: '--no-retry', description: 'do not retry a failed copy (same as --retry-times 0)' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
