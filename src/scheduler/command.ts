import type { CommandDefinition } from '../commands/definition.js';

/** `barman daemon`: registered by the CLI beside the commands of src/commands/ (it runs them). */
export const daemonCommand: CommandDefinition = {
  name: 'daemon',
  summary:
    "Run unattended until stopped: the work of 'cron' every minute (daemon_cron_schedule) and each server's scheduled backups (backup_schedule) and restore drills (restore_drill_schedule, one at a time); SIGHUP reloads the configuration, SIGTERM stops",
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
