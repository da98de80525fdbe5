import type { CommandDefinition } from '../definition.js';

export const receiveWal: CommandDefinition = {
  name: 'receive-wal',
  summary:
    'Stream WAL from PostgreSQL into streaming/ with pg_receivewal (long-running; cron starts it when streaming_archiver is on) — with encryption = gpg, natively, each segment sealed (compressed, encrypted) when complete and held in memory until then, which needs slot_name — or stop it, reset its position, create or drop its replication slot',
  arguments: [{ name: 'server_name', description: 'server name', required: true }],
  options: [
    {
      flags: '--stop',
      description: "stop the server's running receive-wal (SIGINT) and wait until it has ended",
    },
    {
      flags: '--reset',
      description:
        "when streaming/ is behind the position the server keeps WAL from (the slot's restart point), restart streaming from there: an empty .partial file marks it; a .partial with data is kept for archive-wal (receive-wal must not be running; refused with encryption = gpg, which keeps no .partial)",
    },
    { flags: '--create-slot', description: 'create the physical replication slot named by slot_name' },
    { flags: '--drop-slot', description: 'drop the physical replication slot named by slot_name' },
    {
      flags: '--if-not-exists',
      description: 'with --create-slot: succeed when the slot already exists',
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
