import type { CommandDefinition } from '../definition.js';

export const replicationStatus: CommandDefinition = {
  name: 'replication-status',
  summary:
    "Show the streaming replication clients (standbys, WAL streamers) of one or more servers ('all' for every server)",
  arguments: [
    { name: 'server_name', description: "server name(s), or 'all'", required: true, variadic: true },
  ],
  options: [
    { flags: '--minimal', description: 'machine readable output: one line per client' },
    {
      flags: '--target <target>',
      description: 'clients to show: all, hot-standby (standbys) or wal-streamer (e.g. pg_receivewal)',
      choices: ['all', 'hot-standby', 'wal-streamer'],
      defaultValue: 'all',
    },
    {
      flags: '--source <source>',
      description: "ask the server of 'conninfo' (backup-host) or of 'wal_conninfo' (wal-host)",
      choices: ['backup-host', 'wal-host'],
      defaultValue: 'backup-host',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
