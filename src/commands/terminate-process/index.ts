import type { CommandDefinition } from '../definition.js';

export const terminateProcess: CommandDefinition = {
  name: 'terminate-process',
  summary:
    "Stop a server's running task (SIGINT to the holder of its lock, as receive-wal --stop does) and wait until it has ended",
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'task',
      description: 'the task to stop, as list-processes names it (e.g. backup, receive-wal)',
      required: true,
    },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
