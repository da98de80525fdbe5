import type { CommandDefinition, CommandOption } from '../definition.js';

/** The recovery target options, shared with verify-restore (a drill recovers the same way). */
export const RECOVERY_TARGET_OPTIONS: readonly CommandOption[] = [
  { flags: '--target-tli <timeline>', description: "target timeline: 'current', 'latest' or a number" },
  { flags: '--target-time <time>', description: "recover up to this time ('YYYY-MM-DD HH:MM:SS[+HH:MM]')" },
  { flags: '--target-xid <xid>', description: 'recover up to this transaction id' },
  { flags: '--target-lsn <lsn>', description: 'recover up to this LSN' },
  {
    flags: '--target-name <name>',
    description: 'recover up to this restore point (pg_create_restore_point)',
  },
  { flags: '--target-immediate', description: 'stop as soon as the backup is consistent' },
  {
    flags: '--exclusive',
    description: 'stop just before the target (time, xid or LSN) instead of after it',
  },
];

/** The target options of a parsed command line, as parseRecoveryTargets (recovery/targets.ts) takes them. */
export function targetOptionValues(options: Readonly<Record<string, unknown>>) {
  return {
    targetTime: options.targetTime as string | undefined,
    targetXid: options.targetXid as string | undefined,
    targetLsn: options.targetLsn as string | undefined,
    targetName: options.targetName as string | undefined,
    targetImmediate: options.targetImmediate === true,
    targetTli: options.targetTli as string | undefined,
    exclusive: options.exclusive === true,
  };
}

export const recover: CommandDefinition = {
  name: 'recover',
  aliases: ['restore'],
  summary:
    'Restore a backup into a directory, locally or over SSH, up to the end of the archive or a target; ' +
    'an incremental backup is combined from its chain natively (no pg_combinebackup), a broken chain refused before anything is written',
  arguments: [
    { name: 'server_name', description: 'server name', required: true },
    {
      name: 'backup_id',
      description:
        "backup id, name, shortcut (latest, last, oldest, first) or 'auto' (newest that reaches the target)",
      required: true,
    },
    {
      name: 'destination_directory',
      description: 'the directory to restore into (absolute path)',
      required: true,
    },
  ],
  options: [
    ...RECOVERY_TARGET_OPTIONS,
    {
      flags: '--target-action <action>',
      description: 'what PostgreSQL does at the target',
      choices: ['pause', 'promote', 'shutdown'],
    },
    { flags: '--standby-mode', description: 'start the recovered server as a standby (standby.signal)' },
    {
      flags: '--tablespace <NAME:LOCATION>',
      description: 'restore tablespace NAME at LOCATION (repeatable)',
      repeatable: true,
    },
    {
      flags: '--remote-ssh-command <command>',
      description: "restore on another host through this ssh command (e.g. 'ssh postgres@pg')",
    },
    {
      flags: '--get-wal',
      description: 'let PostgreSQL fetch WAL files from barman-ts (restore_command) instead of copying them',
    },
    { flags: '--no-get-wal', description: 'copy the WAL files (overrides recovery_options)' },
    {
      flags: '--delta-restore',
      description:
        'reuse identical files already in the destination; remove the others (an incremental chain is combined in staging, then compared)',
    },
    { flags: '--no-delta-restore', description: 'require an empty destination (overrides recovery_options)' },
    {
      flags: '--recovery-staging-path <dir>',
      description:
        'local scratch directory for tar backups, remote WAL copies and incremental chains combined for a remote or delta restore',
    },
    {
      flags: '--staging-wal-directory <dir>',
      description:
        'absolute directory on the destination host for the WAL files of a point-in-time recovery ' +
        '(default: barman_wal inside the destination); removed by PostgreSQL when recovery ends',
    },
    {
      flags: '--recovery-conf-filename <name>',
      description:
        'file of the data directory the recovery settings are written to, PostgreSQL 12+ (default: postgresql.auto.conf)',
    },
    {
      flags: '--recovery-option-port <port>',
      description:
        'ssh port written as --port into the barman-wal-restore restore_command of a remote --get-wal recovery',
    },
    { flags: '--no-retry', description: 'do not retry a failed copy (same as --retry-times 0)' },
    { flags: '--dry-run', description: 'print the recovery plan and change nothing' },
  ],
  usesConfig: true,
  load: async () => (await import('./run.js')).default,
};
