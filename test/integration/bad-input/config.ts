/**
 * The configuration: the file itself (missing, a directory, unparsable, included files), global
 * options, and every kind of server option value (numbers out of range or overflowing, booleans,
 * choices, paths, sizes, intervals, retention policies, conninfo, interpolation). A bad server
 * option disables that server: commands on it exit 1 naming file, section and option; nothing
 * changes on disk.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BadInputCase, CaseTable } from './world.js';

/** One server option value, checked through `backup pg` (refused before PostgreSQL is asked). */
const SERVER_VALUES: ReadonlyArray<[option: string, value: string, says: string]> = [
  ['parallel_jobs', '0', 'must be at least 1, got 0'],
  ['parallel_jobs', '-1', 'must be at least 1, got -1'],
  ['parallel_jobs', '1.5', "expected an integer, got '1.5'"],
  ['parallel_jobs', 'two', "expected an integer, got 'two'"],
  ['parallel_jobs', '99999999999999999999999', 'must be at most 2147483647, got 99999999999999999999999'],
  ['parallel_jobs', '2147483648', 'must be at most 2147483647, got 2147483648'],
  ['bandwidth_limit', '-5', 'must be at least 0, got -5'],
  ['bandwidth_limit', '99999999999999999999999', 'must be at most 2147483647, got 99999999999999999999999'],
  ['basebackup_retry_times', '-1', 'must be at least 0, got -1'],
  ['basebackup_retry_times', '1e3', "expected an integer, got '1e3'"],
  ['basebackup_retry_sleep', '99999999999', 'must be at most 2147483 seconds, got 99999999999'],
  ['keepalive_interval', '99999999999', 'must be at most 2147483 seconds, got 99999999999'],
  ['keepalive_interval', '-60', 'must be at least 0 seconds, got -60'],
  ['check_timeout', '99999999999999999999999', 'must be at most 2147483 seconds'],
  ['primary_checkpoint_timeout', '9999999999', 'must be at most 2147483 seconds'],
  ['parallel_jobs_start_batch_period', '0', 'must be at least 1 seconds, got 0'],
  ['parallel_jobs_start_batch_size', '0', 'must be at least 1, got 0'],
  ['archiver_batch_size', '-1', 'must be at least 0, got -1'],
  ['streaming_archiver_batch_size', '99999999999', 'must be at most 2147483647'],
  ['max_incoming_wals_queue', '1e5', "expected an integer, got '1e5'"],
  ['minimum_redundancy', '-1', 'must be at least 0, got -1'],
  ['minimum_redundancy', '99999999999999999999', 'must be at most 2147483647'],
  ['compression_level', '99999999999999999999999', 'must be at most 2147483647'],
  ['compression_level', 'highest', "expected low, medium, high or an integer, got 'highest'"],
  ['backup_compression_workers', '0', 'must be at least 1, got 0'],
  ['aws_read_timeout', '0', 'must be at least 1 seconds, got 0'],
  [
    'cloud_upload_max_archive_size',
    '99999999999999999999T',
    "must be at most 8 PiB, got '99999999999999999999T'",
  ],
  ['cloud_upload_min_chunk_size', 'lots', "expected a size such as 1024, 10 MiB, 100G, got 'lots'"],
  ['cloud_staging_max_size', 'plenty', "expected a size such as 1024, 10 MiB, 100G, got 'plenty'"],
  ['cloud_staging_directory', 'staging', "must be an absolute path, got 'staging'"],
  ['last_backup_minimum_size', '99999999999 Ti', "must be at most 8 PiB, got '99999999999 Ti'"],
  ['last_backup_minimum_size', '-1 GiB', "expected a size such as 1024, 10 MiB, 100G, got '-1 GiB'"],
  ['last_backup_maximum_age', '1 fortnight', "expected '<n> HOURS|DAYS|WEEKS|MONTHS', got '1 fortnight'"],
  ['last_backup_maximum_age', '99999999999999 days', 'must be at most 37200, got 99999999999999 days'],
  ['backup_schedule', 'daily', "expected a cron expression of 5 or 6 fields, got 'daily'"],
  ['backup_schedule', '61 2 * * *', "61 is out of range for the minute (0-59) in '61 2 * * *'"],
  ['backup_schedule', '*/0 * * * *', "'*/0': a step of 0 in the minute field"],
  ['backup_schedule_jitter', '-5', 'must be at least 0 seconds, got -5'],
  ['restore_drill_schedule', 'weekly', "expected a cron expression of 5 or 6 fields, got 'weekly'"],
  [
    'restore_drill_probe_max_age',
    'soon',
    "expected '<n> SECONDS|MINUTES|HOURS|DAYS|WEEKS' (e.g. 30 minutes), got 'soon'",
  ],
  ['restore_drill_probe_max_age', '99999999999 weeks', 'must be at most'],
  ['restore_drill_space_margin', '50', 'must be at least 100, got 50'],
  ['restore_drill_timeout', '0', "must be at least 1 second, got '0'"],
  [
    'restore_drill_timeout',
    'until done',
    "expected '<n> SECONDS|MINUTES|HOURS|DAYS|WEEKS' (e.g. 30 minutes), got 'until done'",
  ],
  ['restore_drill_nice', '20', 'must be at most 19, got 20'],
  ['restore_drill_directory', 'drills', "must be an absolute path, got 'drills'"],
  ['last_wal_maximum_age', 'yesterday', "expected '<n> HOURS|DAYS|WEEKS|MONTHS', got 'yesterday'"],
  ['retention_policy', 'REDUNDANCY 0', 'REDUNDANCY must be at least 1, got 0'],
  ['retention_policy', 'REDUNDANCY 99999999999999999999999', 'REDUNDANCY must be at most 2147483647'],
  ['retention_policy', 'RECOVERY WINDOW OF 0 DAYS', 'the recovery window must be at least 1, got 0 days'],
  [
    'retention_policy',
    'RECOVERY WINDOW OF 99999999 MONTHS',
    'the recovery window must be at most 1200, got 99999999 months',
  ],
  [
    'retention_policy',
    'forever',
    "expected 'REDUNDANCY <n>' or 'RECOVERY WINDOW OF <n> DAYS|WEEKS|MONTHS', got 'forever'",
  ],
  [
    'tablespace_bandwidth_limit',
    'tbs1:99999999999999999999',
    "invalid rule 'tbs1:99999999999999999999': the rate must be at most 2147483647",
  ],
  ['tablespace_bandwidth_limit', 'tbs1=100', "invalid rule 'tbs1=100': expected <tablespace>:<kbps>"],
  ['archiver', 'maybe', "expected a boolean (on/off, true/false, yes/no, 1/0), got 'maybe'"],
  ['active', 'perhaps', "expected a boolean (on/off, true/false, yes/no, 1/0), got 'perhaps'"],
  [
    'network_compression',
    'yes please',
    "expected a boolean (on/off, true/false, yes/no, 1/0), got 'yes please'",
  ],
  ['immediate_checkpoint', '2', "expected a boolean (on/off, true/false, yes/no, 1/0), got '2'"],
  [
    'backup_method',
    'ftp',
    "expected one of rsync, local-rsync, postgres, local-to-cloud, snapshot, got 'ftp'",
  ],
  [
    'compression',
    'rar',
    "expected one of gzip, bzip2, xz, zstd, lz4, snappy, pigz, pygzip, pybzip2, custom, none, got 'rar'",
  ],
  ['reuse_backup', 'sometimes', "expected one of off, copy, link, got 'sometimes'"],
  ['recovery_options', 'bogus', "unknown value(s) 'bogus'; allowed: get-wal, delta-restore"],
  ['backup_options', 'incremental', "unknown value(s) 'incremental'"],
  ['wal_retention_policy', 'all', "expected one of main, got 'all'"],
  ['retention_policy_mode', 'manual', "expected one of auto, got 'manual'"],
  [
    'slot_name',
    'Bad-Slot',
    "replication slot names may contain only lower-case letters, digits and '_', got 'Bad-Slot'",
  ],
  [
    'conninfo',
    'nonsense',
    "expected a libpq connection string such as 'host=pg user=barman dbname=postgres'",
  ],
  ['backup_directory', 'relative/dir', "must be an absolute path, got 'relative/dir'"],
  ['wals_directory', 'ftp://host/x', "unsupported URL scheme in 'ftp://host/x' (only s3:// is supported)"],
  ['wals_directory', 's3://B/x', "'B' is not a valid S3 bucket name"],
  ['basebackups_directory', 's3://', "'s3://' names no bucket: use s3://BUCKET/PREFIX"],
  ['custom_compression_magic', 'zz', "expected hex bytes such as 0x1f8b, got 'zz'"],
  ['nosuch_option', '1', "unknown option 'nosuch_option'"],
  ['path_prefix', '%(nosuch)s', "'%(nosuch)s' refers to an unknown option"],
  ['description', '%(description)s', 'interpolation loop: description -> description'],
  ['streaming_archiver_name', '%(', "'%' must be followed by '%' or '(name)s' in '%('"],
];

const serverValues: BadInputCase[] = SERVER_VALUES.map(([option, value, says]) => ({
  name: `${option} = ${value}`,
  config: { pg: `${option} = ${value}` },
  args: ['backup', 'pg'],
  exit: 1,
  stderr: [`ERROR: [pg] ${option}: ${says}`, "ERROR: Server 'pg' is disabled by configuration errors"],
}));

/** The same problems, through other commands: a disabled server is refused by each. */
const disabledEverywhere: BadInputCase[] = [
  ['list-backup', 'pg'],
  ['show-backup', 'pg', 'latest'],
  ['list-files', 'pg', 'latest'],
  ['archive-wal', 'pg'],
  ['rebuild-xlogdb', 'pg'],
  ['delete', 'pg', 'oldest'],
  ['keep', '--release', 'pg', 'oldest'],
  ['get-wal', 'pg', '000000010000000000000004'],
  ['put-wal', '--test', 'pg'],
  ['recover', 'pg', 'latest', '{dest}'],
  ['receive-wal', '--stop', 'pg'],
  ['switch-wal', 'pg'],
  ['status', 'pg'],
].map((args) => ({
  name: `${args[0]!} on a server disabled by parallel_jobs = 0`,
  config: { pg: 'parallel_jobs = 0' },
  args,
  exit: 1,
  stderr: ['ERROR: [pg] parallel_jobs: must be at least 1, got 0 ({config}, line '],
}));

/** Global options, the file and its included files. */
const file: BadInputCase[] = [
  {
    name: 'a configuration file that does not exist',
    args: ['-c', '{root}/nosuch.conf', 'list-server'],
    noConfigFlag: true,
    exit: 1,
    stderr: ["ERROR: Configuration file '{root}/nosuch.conf' does not exist"],
  },
  {
    name: 'a configuration path that is a directory',
    args: ['-c', '{home}', 'list-server'],
    noConfigFlag: true,
    exit: 1,
    stderr: [
      "ERROR: Configuration file '{home}' is a directory, not a file",
      'HINT: pass the path of the barman.conf file with -c',
    ],
  },
  {
    name: 'a configuration path below a file',
    args: ['-c', '{config}/barman.conf', 'list-server'],
    noConfigFlag: true,
    exit: 1,
    stderr: [
      "ERROR: Configuration file '{config}/barman.conf' does not exist (a part of its path is a file)",
    ],
  },
  {
    name: 'an empty configuration path',
    args: ['-c', '', 'list-server'],
    noConfigFlag: true,
    exit: 1,
    stderr: ["ERROR: Configuration file '' is an empty path"],
  },
  {
    name: 'BARMAN_CONFIG_FILE naming a directory',
    args: ['list-server'],
    noConfigFlag: true,
    env: { BARMAN_CONFIG_FILE: '/tmp' },
    exit: 1,
    stderr: ["ERROR: Configuration file '/tmp' (from BARMAN_CONFIG_FILE) is a directory, not a file"],
  },
  {
    name: 'a configuration file that is a device',
    args: ['-c', '/dev/null', 'list-server'],
    noConfigFlag: true,
    exit: 1,
    stderr: ["ERROR: Configuration file '/dev/null' is not a regular file"],
  },
  {
    name: 'an option before any section',
    config: { replace: 'barman_home = {home}\n[barman]\nbarman_user = {user}\n' },
    args: ['list-server'],
    exit: 1,
    stderr: [
      "ERROR: Cannot parse the configuration: option 'barman_home' appears before any [section] header ({config}, line 1)",
    ],
  },
  {
    name: 'a line that is neither an option nor a section',
    config: { barman: 'this is not an option' },
    args: ['list-server'],
    exit: 1,
    stderr: ["ERROR: Cannot parse the configuration: [barman]: cannot parse line 'this is not an option'"],
  },
  {
    name: 'a section header without its bracket',
    config: { replace: '[barman\nbarman_home = {home}\n' },
    args: ['list-server'],
    exit: 1,
    stderr: ["cannot parse line '[barman': expected 'option = value' or '[section]' ({config}, line 1)"],
  },
  {
    name: 'binary garbage instead of a configuration',
    config: { replace: '\u0000\u0001\u0002garbage\n' },
    args: ['list-server'],
    exit: 1,
    stderr: ['ERROR: Cannot parse the configuration: cannot parse line'],
  },
  {
    name: 'no [barman] section',
    config: { replace: '[pg]\nconninfo = host=/nonexistent\n' },
    args: ['list-server'],
    exit: 1,
    stderr: [
      "ERROR: [barman] barman_home: required option 'barman_home' is not set",
      'HINT: Every configuration needs barman_home',
    ],
  },
  {
    name: 'a relative barman_home',
    config: { replace: '[barman]\nbarman_home = relative/home\n' },
    args: ['list-server'],
    exit: 1,
    stderr: ["ERROR: [barman] barman_home: must be an absolute path, got 'relative/home' ({config}, line 2)"],
  },
  {
    name: 'barman_home continued by an indented line',
    config: { replace: '[barman]\nbarman_user = {user}\nbarman_home = {home}\n  compression = gzip\n' },
    args: ['list-server'],
    exit: 1,
    stderr: [
      'ERROR: [barman] barman_home: must not contain a line break or control character',
      'an indented line continues the value above it',
    ],
  },
  {
    name: 'backup_directory continued by an indented line',
    config: { pg: 'backup_directory = {home}/pg\n    archiver = on' },
    args: ['backup', 'pg'],
    exit: 1,
    stderr: ['ERROR: [pg] backup_directory: must not contain a line break or control character'],
  },
  {
    name: 'an unknown barman_user',
    config: { barman: 'barman_user = no_such_user_here' },
    args: ['list-backup', 'pg'],
    exit: 1,
    stderr: ["ERROR: the configured user 'no_such_user_here' does not exist"],
  },
  {
    name: 'an invalid log_level',
    config: { barman: 'log_level = LOUD' },
    args: ['list-server'],
    exit: 1,
    stderr: ["ERROR: [barman] log_level: expected one of debug, info, warning, error, critical, got 'LOUD'"],
  },
  {
    name: 'a relative barman_lock_directory',
    config: { barman: 'barman_lock_directory = locks' },
    args: ['list-server'],
    exit: 1,
    stderr: ["ERROR: [barman] barman_lock_directory: must be an absolute path, got 'locks'"],
  },
  {
    name: 'a server section named all',
    config: { more: '[all]\nconninfo = host=/nonexistent\n' },
    args: ['list-backup', 'all'],
    exit: 1,
    stderr: ["'all' is a reserved word and cannot be used as a server name; rename the section"],
  },
  {
    name: 'a server name with a slash',
    config: { more: '[../escape]\nconninfo = host=/nonexistent\n' },
    args: ['backup', '../escape'],
    exit: 1,
    stderr: ["invalid server name '../escape': use letters, digits, '_', '-' and '.'"],
  },
  {
    name: 'a server name with a space',
    config: { more: '[my server]\nconninfo = host=/nonexistent\n' },
    args: ['backup', 'my server'],
    exit: 1,
    stderr: ["invalid server name 'my server'"],
  },
  {
    name: 'a server name too long for a file name',
    config: { more: `[${'s'.repeat(300)}]\nconninfo = host=/nonexistent\nbackup_method = postgres\n` },
    args: ['archive-wal', 's'.repeat(300)],
    exit: 1,
    stderr: [`server name '${'s'.repeat(20)}…' is too long (300 characters, at most 200)`],
  },
  {
    name: 'every server listed with an over-long one among them',
    config: { more: `[${'s'.repeat(256)}]\nconninfo = host=/nonexistent\nbackup_method = postgres\n` },
    args: ['list-backup', 'all'],
    exit: 1,
    stderr: ['is too long (256 characters, at most 200)'],
  },
  {
    name: 'a model used as a server',
    config: { more: '[mymodel]\nmodel = true\ncluster = pg\n' },
    args: ['backup', 'mymodel'],
    exit: 1,
    stderr: ["ERROR: 'mymodel' is a configuration model, not a server"],
  },
  {
    name: 'an empty conninfo',
    config: { pg: 'conninfo =' },
    args: ['backup', 'pg'],
    exit: 1,
    stderr: ["ERROR: [pg] conninfo: required option 'conninfo' is not set"],
  },
  {
    name: 'custom compression without its filters',
    config: { pg: 'compression = custom' },
    args: ['backup', 'pg'],
    exit: 1,
    stderr: [
      "ERROR: [pg] custom_compression_filter: 'compression = custom' requires 'custom_compression_filter'",
    ],
  },
  {
    name: 'a streaming-only server without slot_name',
    config: {
      more: '[nosl]\nconninfo = host=/nonexistent\nbackup_method = postgres\nstreaming_conninfo = host=/x\nstreaming_archiver = on\n',
    },
    args: ['backup', 'nosl'],
    exit: 1,
    stderr: ["ERROR: [nosl] slot_name: a streaming-only archiver requires 'slot_name'"],
  },
  {
    name: 'rsync without ssh_command',
    config: { more: '[rs]\nconninfo = host=/nonexistent\nbackup_method = rsync\narchiver = on\n' },
    args: ['backup', 'rs'],
    exit: 1,
    stderr: ["ERROR: [rs] ssh_command: 'backup_method = rsync' requires 'ssh_command'"],
  },
  {
    name: 'an option set twice (the later wins, with a warning)',
    config: { pg: 'parallel_jobs = 2\nparallel_jobs = 0' },
    args: ['backup', 'pg'],
    exit: 1,
    stderr: [
      "WARNING: [pg] parallel_jobs: 'parallel_jobs' is set twice (lines",
      'ERROR: [pg] parallel_jobs: must be at least 1, got 0',
    ],
  },
  {
    name: 'configuration_files_directory that does not exist (a warning)',
    config: { barman: 'configuration_files_directory = {root}/nosuch.d' },
    args: ['show-backup', 'pg', 'nosuch'],
    exit: 1,
    stderr: [
      "WARNING: [barman] configuration_files_directory: cannot read directory '{root}/nosuch.d' (ENOENT)",
      "ERROR: Unknown backup 'nosuch'",
    ],
  },
  {
    name: 'an included file that does not parse',
    config: { barman: 'configuration_files_directory = {root}/conf.d' },
    setup: (world) => {
      mkdirSync(join(world.root, 'conf.d'));
      writeFileSync(join(world.root, 'conf.d', 'extra.conf'), '[extra\nconninfo = host=x\n');
    },
    args: ['check', 'extra'],
    exit: 1,
    stderr: ["cannot parse line '[extra'", '{root}/conf.d/extra.conf'],
  },
  {
    name: 'an included file with a [barman] section',
    config: { barman: 'configuration_files_directory = {root}/conf.d' },
    setup: (world) => {
      mkdirSync(join(world.root, 'conf.d'));
      writeFileSync(join(world.root, 'conf.d', 'global.conf'), '[barman]\nbarman_home = /elsewhere\n');
    },
    args: ['show-backup', 'pg', 'nosuch'],
    exit: 1,
    stderr: [
      'WARNING: [barman]: an included file must not contain a non-empty [barman] section; this file is ignored ({root}/conf.d/global.conf',
    ],
  },
  {
    name: 'an included .conf that is a directory',
    config: { barman: 'configuration_files_directory = {root}/conf.d' },
    setup: (world) => mkdirSync(join(world.root, 'conf.d', 'dir.conf'), { recursive: true }),
    args: ['show-backup', 'pg', 'nosuch'],
    exit: 1,
    stderr: [
      "WARNING: [barman] configuration_files_directory: '{root}/conf.d/dir.conf' is a directory, not a file; it is not read",
    ],
  },
  {
    name: 'a log_file that is a directory (a warning, the command still runs)',
    config: { barman: 'log_file = {root}' },
    args: ['show-backup', 'pg', 'nosuch'],
    exit: 1,
    stderr: ["WARNING: cannot write the log file '{root}'", "ERROR: Unknown backup 'nosuch'"],
  },
];

/** A server backing up to s3:// (nothing is asked of the bucket before these refusals). */
const CLOUD_SERVER =
  '[cloud]\nconninfo = host=/nonexistent dbname=postgres connect_timeout=2\nbackup_method = local-to-cloud\n' +
  'basebackups_directory = s3://bad-input/cloud/base\nwals_directory = s3://bad-input/cloud/wals\n';

/** Bounded local staging of backups to object storage: a limit must hold one upload part. */
const staging: BadInputCase[] = [
  {
    name: 'cloud_staging_max_size smaller than one upload part',
    config: { more: `${CLOUD_SERVER}cloud_staging_max_size = 1M\n` },
    args: ['backup', 'cloud'],
    exit: 1,
    stderr: [
      'ERROR: [cloud] cloud_staging_max_size: the cloud staging limit (cloud_staging_max_size, or --cloud-staging-max-size) of 976.6 KiB is smaller than one upload part (5.0 MiB',
      "ERROR: Server 'cloud' is disabled by configuration errors",
    ],
  },
  {
    name: '--cloud-staging-max-size smaller than one upload part',
    config: { more: CLOUD_SERVER },
    args: ['backup', '--cloud-staging-max-size', '4MiB', 'cloud'],
    exit: 1,
    stderr: [
      'ERROR: the cloud staging limit (cloud_staging_max_size, or --cloud-staging-max-size) of 4.0 MiB is smaller than one upload part (5.0 MiB',
    ],
  },
];

/** Backups in object storage with a WAL archive on local disk: refused before any command runs. */
const locations: BadInputCase[] = [
  {
    name: 'an s3:// basebackups_directory beside a local wals_directory',
    config: {
      more: CLOUD_SERVER.replace(
        'wals_directory = s3://bad-input/cloud/wals\n',
        'wals_directory = {root}/cloud-wals\n',
      ),
    },
    args: ['backup', 'cloud'],
    exit: 1,
    stderr: [
      "ERROR: [cloud] wals_directory: an s3:// 'basebackups_directory' needs an s3://bucket/prefix URL here too",
      "ERROR: Server 'cloud' is disabled by configuration errors",
    ],
  },
];

export const configTable: CaseTable = {
  title: 'configuration',
  cases: [...file, ...serverValues, ...disabledEverywhere, ...staging, ...locations],
};
