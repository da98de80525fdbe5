/**
 * Command-line arguments: unknown commands and options, missing and extra arguments, server and
 * backup selection, backup names, numbers out of range and choices not offered. Usage errors
 * exit 2 (as Barman's argparse), refused requests 1; nothing on disk changes.
 */
import type { BadInputCase, CaseTable } from './world.js';
import { BACKUPS } from './world.js';

/** Every command with what it needs to get past argument parsing. */
const COMMANDS: ReadonlyArray<{ name: string; args: string[] }> = [
  { name: 'archive-wal', args: ['pg'] },
  { name: 'backup', args: ['pg'] },
  { name: 'check', args: ['pg'] },
  { name: 'cloud-wal-archive', args: ['pg', '/dev/null'] },
  { name: 'cloud-wal-upload', args: ['pg'] },
  { name: 'config-switch', args: ['pg', 'no_such_model'] },
  { name: 'config-update', args: ['[]'] },
  { name: 'cron', args: [] },
  { name: 'daemon', args: [] },
  { name: 'delete', args: ['pg', BACKUPS.failed] },
  { name: 'diagnose', args: [] },
  { name: 'get-wal', args: ['pg', '000000010000000000000004'] },
  { name: 'keep', args: ['--status', 'pg', BACKUPS.named] },
  { name: 'list-backup', args: ['pg'] },
  { name: 'list-files', args: ['pg', BACKUPS.named] },
  { name: 'list-processes', args: ['pg'] },
  { name: 'list-server', args: [] },
  { name: 'lock-directory-cleanup', args: [] },
  { name: 'metrics', args: ['pg'] },
  { name: 'put-wal', args: ['pg'] },
  { name: 'rebuild-xlogdb', args: ['pg'] },
  { name: 'receive-wal', args: ['pg'] },
  { name: 'recover', args: ['pg', BACKUPS.named, '{dest}'] },
  { name: 'replication-status', args: ['pg'] },
  { name: 'show-backup', args: ['pg', BACKUPS.named] },
  { name: 'show-server', args: ['pg'] },
  { name: 'status', args: ['pg'] },
  { name: 'switch-wal', args: ['pg'] },
  { name: 'terminate-process', args: ['pg', 'backup'] },
  { name: 'verify-restore', args: ['pg', BACKUPS.named] },
];

const unknownOption: BadInputCase[] = COMMANDS.map(({ name, args }) => ({
  name: `${name} with an unknown option`,
  args: [name, '--no-such-option', ...args],
  exit: 2,
  stderr: ["ERROR: unknown option '--no-such-option'"],
}));

// metrics takes any number of servers (none: all of them); verify-restore's backup id is optional;
// config-switch's model is optional for commander (--reset instead), so the command refuses it.
const missingArgument: BadInputCase[] = COMMANDS.filter(
  ({ name, args }) => args.length > 0 && name !== 'metrics' && name !== 'config-switch',
).map(({ name, args }) => ({
  name: `${name} without its last argument`,
  args: [name, ...args.slice(0, name === 'verify-restore' ? 0 : -1)],
  exit: 2,
  stderr: [/ERROR: missing required argument '\w+'/],
}));

const extraArgument: BadInputCase[] = COMMANDS.filter(
  ({ name }) =>
    ![
      'backup',
      'check',
      'list-backup',
      'metrics',
      'rebuild-xlogdb',
      'show-server',
      'status',
      'switch-wal',
      'replication-status',
    ].includes(name),
).map(({ name, args }) => ({
  name: `${name} with one argument too many`,
  args: [name, ...args, 'extra'],
  exit: 2,
  stderr: [`ERROR: too many arguments for '${name}'`],
}));

/** Single-server commands refuse 'all'; every server command refuses an unknown server. */
const SERVER_COMMANDS = COMMANDS.filter(({ args }) => args[0] === 'pg');
const unknownServer: BadInputCase[] = SERVER_COMMANDS.filter(
  ({ name }) => !['cloud-wal-archive', 'cloud-wal-upload'].includes(name),
).map(({ name, args }) => ({
  name: `${name} of an unknown server`,
  args: [name, ...args.map((arg) => (arg === 'pg' ? 'nosuch' : arg))],
  exit: 1,
  stderr: ["ERROR: Unknown server 'nosuch'"],
}));
const allInSingleContext: BadInputCase[] = [
  'archive-wal',
  'delete',
  'get-wal',
  'keep',
  'list-files',
  'list-processes',
  'put-wal',
  'receive-wal',
  'recover',
  'show-backup',
  'terminate-process',
  'verify-restore',
].map((name) => {
  const args = COMMANDS.find((command) => command.name === name)!.args;
  return {
    name: `${name} of 'all'`,
    args: [name, ...args.map((arg) => (arg === 'pg' ? 'all' : arg))],
    exit: 2,
    stderr: ["ERROR: You cannot use 'all' in a single server context"],
  };
});

const BACKUP_COMMANDS = ['show-backup', 'list-files', 'delete', 'recover', 'verify-restore'];
const badBackupIds: BadInputCase[] = BACKUP_COMMANDS.flatMap((name) =>
  [
    {
      what: 'an unknown backup id',
      id: '20200101T000000',
      message: "Unknown backup '20200101T000000' for server 'pg'",
    },
    {
      what: 'a path instead of a backup id',
      id: '../../etc',
      message: "Unknown backup '../../etc' for server 'pg'",
    },
    { what: 'an empty backup id', id: '', message: "Unknown backup '' for server 'pg'" },
  ].map(({ what, id, message }) => ({
    name: `${name} of ${what}`,
    args: [name, 'pg', id, ...(name === 'recover' ? ['{dest}'] : [])],
    exit: 1,
    stderr: [`ERROR: ${message}`],
  })),
);

/** Barman 3.4 refuses these names at parse time (exit 2); so does barman-ts, and line breaks too. */
const badBackupNames: BadInputCase[] = [
  { name: 'latest', says: "Backup name 'latest' is not allowed: reserved word" },
  { name: 'last', says: "Backup name 'last' is not allowed: reserved word" },
  { name: 'oldest', says: "Backup name 'oldest' is not allowed: reserved word" },
  { name: 'first', says: "Backup name 'first' is not allowed: reserved word" },
  { name: 'last-failed', says: "Backup name 'last-failed' is not allowed: reserved word" },
  { name: 'auto', says: "Backup name 'auto' is not allowed: reserved word" },
  { name: '20240101T000000', says: "Backup name '20240101T000000' is not allowed: backup ID" },
  { name: '', says: 'Backup name cannot be empty' },
  { name: '   ', says: 'Backup name cannot be empty' },
  {
    name: 'monthly\nrelease',
    says: 'Backup name "monthly\\nrelease" is not allowed: it contains a line break',
  },
  {
    name: 'tab\there',
    says: 'Backup name "tab\\there" is not allowed: it contains a line break or another control character',
  },
  { name: 'cr\rhere', says: 'Backup name "cr\\rhere" is not allowed: it contains a line break' },
  { name: ' padded', says: "Backup name ' padded' is not allowed: it starts or ends with a blank" },
].map(({ name, says }) => ({
  name: `backup --name ${JSON.stringify(name)}`,
  args: ['backup', '--name', name, 'pg'],
  exit: 2,
  stderr: [`ERROR: argument --name: ${says}`],
}));

/** Numbers: negative, zero where not allowed, overflowing, not numbers at all. */
const badNumbers: BadInputCase[] = [
  {
    args: ['backup', '--wait-timeout', '-5', 'pg'],
    says: 'argument --wait-timeout: must be at least 0 seconds, got -5',
  },
  {
    args: ['backup', '--wait-timeout', '99999999999999999999999', 'pg'],
    says: 'argument --wait-timeout: must be at most 2147483 seconds, got 99999999999999999999999',
  },
  {
    args: ['backup', '--wait-timeout', '1.5', 'pg'],
    says: "argument --wait-timeout: expected an integer, got '1.5'",
  },
  {
    args: ['backup', '--wait-timeout', 'soon', 'pg'],
    says: "argument --wait-timeout: expected an integer, got 'soon'",
  },
  { args: ['backup', '--jobs', '0', 'pg'], says: 'argument --jobs: must be at least 1, got 0' },
  { args: ['backup', '-j', '-3', 'pg'], says: 'argument --jobs: must be at least 1, got -3' },
  {
    args: ['backup', '--jobs', '99999999999999999999999', 'pg'],
    says: 'argument --jobs: must be at most 2147483647, got 99999999999999999999999',
  },
  { args: ['backup', '--bwlimit', '-1', 'pg'], says: 'argument --bwlimit: must be at least 0, got -1' },
  {
    args: ['backup', '--cloud-staging-max-size', 'huge', 'pg'],
    says: "argument --cloud-staging-max-size: expected a size such as 1024, 10 MiB, 100G, got 'huge'",
  },
  {
    args: ['backup', '--cloud-staging-directory', 'staging', 'pg'],
    says: "argument --cloud-staging-directory: must be an absolute path, got 'staging'",
  },
  { args: ['backup', '--bwlimit', '1e9', 'pg'], says: "argument --bwlimit: expected an integer, got '1e9'" },
  {
    args: ['backup', '--retry-times', '-1', 'pg'],
    says: 'argument --retry-times: must be at least 0, got -1',
  },
  {
    args: ['backup', '--retry-times', '99999999999999999999', 'pg'],
    says: 'argument --retry-times: must be at most 2147483647',
  },
  {
    args: ['backup', '--retry-sleep', '99999999999', 'pg'],
    says: 'argument --retry-sleep: must be at most 2147483 seconds, got 99999999999',
  },
  {
    args: ['backup', '--keepalive-interval', '99999999999', 'pg'],
    says: 'argument --keepalive-interval: must be at most 2147483 seconds',
  },
  {
    args: ['backup', '--keepalive-interval', '-1', 'pg'],
    says: 'argument --keepalive-interval: must be at least 0 seconds, got -1',
  },
  {
    args: ['check', '--check-timeout', '-1', 'pg'],
    says: 'argument --check-timeout: must be at least 0 seconds, got -1',
  },
  {
    args: ['check', '--check-timeout', 'forever', 'pg'],
    says: "argument --check-timeout: expected an integer, got 'forever'",
  },
  {
    args: ['get-wal', '--peek', '0', 'pg', '000000010000000000000004'],
    says: 'argument --peek: must be at least 1, got 0',
  },
  {
    args: ['get-wal', '-p', '99999999999999999999', 'pg', '000000010000000000000004'],
    says: 'argument --peek: must be at most 2147483647, got 99999999999999999999',
  },
  {
    args: ['get-wal', '--peek', 'many', 'pg', '000000010000000000000004'],
    says: "argument --peek: expected an integer, got 'many'",
  },
  {
    args: ['switch-wal', '--archive', '--archive-timeout', '-1', 'pg'],
    says: 'argument --archive-timeout: must be at least 0 seconds, got -1',
  },
  {
    args: ['switch-wal', '--archive-timeout', '9999999999', 'pg'],
    says: 'argument --archive-timeout: must be at most 2147483 seconds',
  },
  { args: ['cloud-wal-upload', '--jobs', '0', 'pg'], says: 'argument --jobs: must be at least 1, got 0' },
  {
    args: ['metrics', '--postgres-timeout', '0', 'pg'],
    says: 'argument --postgres-timeout: must be at least 1 seconds, got 0',
  },
  {
    args: ['metrics', '--postgres-timeout', '301', 'pg'],
    says: 'argument --postgres-timeout: must be at most 300 seconds, got 301',
  },
  {
    args: ['metrics', '--postgres-timeout', 'soon', 'pg'],
    says: "argument --postgres-timeout: expected an integer, got 'soon'",
  },
  {
    args: ['cloud-wal-upload', '--jobs', '100000', 'pg'],
    says: 'argument --jobs: must be at most 1000, got 100000',
  },
  {
    args: ['cloud-wal-upload', '--wait-idle', '-1', 'pg'],
    says: 'argument --wait-idle: must be at least 0 seconds, got -1',
  },
  {
    args: ['cloud-wal-archive', '--timeout', '0', 'pg', '/dev/null'],
    says: 'argument --timeout: must be at least 1 seconds, got 0',
  },
  {
    args: ['cloud-wal-archive', '--timeout', 'x', 'pg', '/dev/null'],
    says: "argument --timeout: expected an integer, got 'x'",
  },
  {
    args: ['recover', '--jobs', '0', 'pg', 'latest', '{dest}'],
    says: 'argument --jobs: must be at least 1, got 0',
  },
  {
    args: ['recover', '--bwlimit', 'fast', 'pg', 'latest', '{dest}'],
    says: "argument --bwlimit: expected an integer, got 'fast'",
  },
  {
    args: ['recover', '--retry-sleep', '-2', 'pg', 'latest', '{dest}'],
    says: 'argument --retry-sleep: must be at least 0 seconds, got -2',
  },
].map(({ args, says }) => ({
  name: args.filter((arg) => arg !== '{dest}').join(' '),
  args,
  exit: 2,
  stderr: [`ERROR: ${says}`],
}));

const badChoices: BadInputCase[] = [
  {
    args: ['-f', 'xml', 'list-server'],
    says: "argument 'xml' is invalid. Allowed choices are console, json",
  },
  {
    args: ['--color', 'sometimes', 'list-server'],
    says: "argument 'sometimes' is invalid. Allowed choices are auto, always, never",
  },
  {
    args: ['--log-level', 'LOUD', 'list-server'],
    says: "argument --log-level: expected one of debug, info, warning, error, critical, got 'LOUD'",
  },
  {
    args: ['keep', '--target', 'forever', 'pg', BACKUPS.named],
    says: "argument 'forever' is invalid. Allowed choices are full, standalone",
  },
  {
    args: ['list-files', '--target', 'everything', 'pg', BACKUPS.named],
    says: "argument 'everything' is invalid",
  },
  { args: ['replication-status', '--target', 'replicas', 'pg'], says: "argument 'replicas' is invalid" },
  { args: ['replication-status', '--source', 'elsewhere', 'pg'], says: "argument 'elsewhere' is invalid" },
  {
    args: ['recover', '--target-action', 'explode', 'pg', 'latest', '{dest}'],
    says: "argument 'explode' is invalid. Allowed choices are pause, promote, shutdown",
  },
  {
    args: ['backup', '--reuse-backup', 'always', 'pg'],
    says: "argument --reuse-backup: expected one of off, copy, link, got 'always'",
  },
].map(({ args, says }) => ({
  name: `choice: ${args.filter((arg) => arg !== '{dest}').join(' ')}`,
  args,
  exit: 2,
  stderr: [says],
}));

const general: BadInputCase[] = [
  {
    name: 'an unknown command',
    args: ['frobnicate'],
    exit: 2,
    stderr: ["ERROR: unknown command 'frobnicate'"],
  },
  {
    name: 'a misspelt command',
    args: ['list-backpu', 'pg'],
    exit: 2,
    stderr: ["ERROR: unknown command 'list-backpu'", '(Did you mean list-backup?)'],
  },
  {
    name: 'an unknown global option',
    args: ['--verbose', 'list-server'],
    exit: 2,
    stderr: ["ERROR: unknown option '--verbose'"],
  },
  {
    name: 'help for an unknown command',
    args: ['help', 'nosuch'],
    exit: 2,
    stderr: ["ERROR: unknown command 'nosuch'", "HINT: run 'barman help'"],
  },
  { name: 'no command at all', args: [], exit: 2, stderr: ['ERROR: a command is required'] },
  {
    name: '-c without a file',
    args: ['-c'],
    noConfigFlag: true,
    exit: 2,
    stderr: ["ERROR: option '-c, --config <file>' argument missing"],
  },
  {
    name: 'keep without --target, --status or --release',
    args: ['keep', 'pg', BACKUPS.named],
    exit: 2,
    stderr: ['ERROR: one of the arguments -r/--release -s/--status --target is required'],
  },
  {
    name: "'all' mixed with a server name",
    args: ['list-backup', 'all', 'pg'],
    exit: 2,
    stderr: ["ERROR: You cannot use 'all' with other server names"],
  },
  {
    name: 'keep of a FAILED backup',
    args: ['keep', '--target', 'full', 'pg', BACKUPS.failed],
    exit: 1,
    stderr: [`ERROR: Cannot add keep to backup ${BACKUPS.failed} because it has status FAILED`],
  },
  {
    name: 'last-failed of a server without failed backups',
    args: ['show-backup', 'pgr', 'last-failed'],
    exit: 1,
    stderr: ["ERROR: Unknown backup 'last-failed' for server 'pgr'"],
  },
  {
    name: 'recover of a FAILED backup',
    args: ['recover', 'pg', BACKUPS.failed, '{dest}'],
    exit: 1,
    stderr: [`backup status is not DONE (FAILED)`],
  },
  {
    name: 'get-wal of a name that is not a WAL name',
    args: ['get-wal', 'pg', 'pg_hba.conf'],
    exit: 3,
    stderr: ["ERROR: 'pg_hba.conf' is not a valid wal file name"],
  },
  {
    name: 'get-wal of a path',
    args: ['get-wal', 'pg', '../../000000010000000000000004'],
    exit: 3,
    stderr: ['is not a valid wal file name'],
  },
  {
    name: 'get-wal of a lower-case WAL name with a suffix',
    args: ['get-wal', 'pg', '000000010000000000000004.gz'],
    exit: 3,
    stderr: ["ERROR: '000000010000000000000004.gz' is not a valid wal file name"],
  },
  {
    name: 'get-wal of a WAL name too short',
    args: ['get-wal', 'pg', '00000001000000000000004'],
    exit: 3,
    stderr: ["ERROR: '00000001000000000000004' is not a valid wal file name"],
  },
  {
    name: 'get-wal of a WAL file not archived',
    args: ['get-wal', 'pg', '0000000100000000000000FE'],
    exit: 1,
    stderr: ["ERROR: WAL file '0000000100000000000000FE' not found in server 'pg'"],
  },
  {
    name: 'config-switch with neither a model nor --reset',
    args: ['config-switch', 'pg'],
    exit: 2,
    stderr: ["ERROR: Either a model name or '--reset' flag need to be given"],
  },
  {
    name: 'config-switch to a model that does not exist',
    args: ['config-switch', 'pg', 'no_such_model'],
    exit: 1,
    stderr: ["ERROR: Unknown model 'no_such_model'"],
  },
  {
    name: 'config-update with malformed JSON',
    args: ['config-update', '[{"scope": "server", "server_name": "pg"'],
    exit: 1,
    stderr: ['ERROR: the configuration changes are not valid JSON: '],
  },
  {
    name: 'config-update of an unknown option',
    args: ['config-update', '[{"scope": "server", "server_name": "pg", "bogus": "1"}]'],
    exit: 1,
    stderr: ['ERROR: change #1 [pg] bogus: unknown option'],
  },
];

export const cliTable: CaseTable = {
  title: 'command-line arguments',
  cases: [
    ...general,
    ...unknownOption,
    ...missingArgument,
    ...extraArgument,
    ...unknownServer,
    ...allInSingleContext,
    ...badBackupIds,
    ...badBackupNames,
    ...badNumbers,
    ...badChoices,
  ],
};
