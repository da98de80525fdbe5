/**
 * THE option table: every configuration option barman-ts reads, declared once. The zod schema of
 * a server's configuration, docs/configuration.md and the CLI override flags are derived from it.
 */
import type { OptionFlag, OptionScope, OptionSpec, OptionSupport } from './option-spec.js';
import * as kinds from './value-kinds.js';

type Spec<S extends OptionSpec['schema']> = Omit<OptionSpec<S>, 'support' | 'inModel' | 'key'> & {
  support?: OptionSupport;
  inModel?: boolean;
};

function option<
  S extends OptionSpec['schema'],
  const Scope extends OptionScope,
  const D extends string | undefined,
  const R extends boolean | undefined,
>(
  spec: Spec<S> & { scope: Scope; default?: D; required?: R },
): OptionSpec<S> & { scope: Scope; default: D; required: R } {
  return {
    ...spec,
    key: '',
    support: spec.support ?? { level: 'full' },
    inModel: spec.inModel ?? spec.scope !== 'global-only',
  } as OptionSpec<S> & { scope: Scope; default: D; required: R };
}

const ignored = (reason: string): OptionSupport => ({ level: 'ignored', reason });
const notSupported = (
  reason: string,
  effectiveWhen?: Extract<OptionSupport, { level: 'not-supported' }>['effectiveWhen'],
): OptionSupport => ({ level: 'not-supported', reason, ...(effectiveWhen ? { effectiveWhen } : {}) });
const SNAPSHOTS = notSupported('snapshot backups are not supported by barman-ts', {
  holds: (values) => values.backup_method === 'snapshot',
  text: 'backup_method = snapshot',
});

const hook = (when: 'pre' | 'post', what: string, retry: boolean) =>
  option({
    scope: 'global',
    schema: kinds.text(),
    inModel: false,
    since: '3.4',
    category: 'Hooks',
    description:
      `Shell command run ${when === 'pre' ? 'before' : 'after'} ${what}, with the BARMAN_* environment. ` +
      (retry
        ? 'Re-run until it exits 0; exit 62 stops retrying and continues' +
          (when === 'pre' ? ', exit 63 aborts the operation.' : ', exit 63 stops retrying with a warning.')
        : 'A non-zero exit is logged as a warning.'),
  });

const optionTable = {
  // ---------------------------------------------------------------- General
  barman_home: option({
    scope: 'global-only',
    schema: kinds.absolutePath(),
    required: true,
    since: '3.4',
    category: 'General',
    description: 'Main data directory: one sub-directory per server holds its backups and WAL archive.',
  }),
  barman_user: option({
    scope: 'global-only',
    schema: kinds.nonEmptyText(),
    default: 'barman',
    since: '3.4',
    category: 'General',
    description:
      'OS user barman-ts runs as. Started as root, barman-ts switches to this user before any work; ' +
      'started as another user, it refuses to run.',
  }),
  barman_lock_directory: option({
    scope: 'global-only',
    schema: kinds.absolutePath(),
    default: '%(barman_home)s',
    since: '3.4',
    category: 'General',
    description: 'Directory of the lock files (`.<server>-<task>.lock`).',
  }),
  configuration_files_directory: option({
    scope: 'global-only',
    schema: kinds.absolutePath(),
    since: '3.4',
    category: 'General',
    description:
      'Directory whose `*.conf` files (sorted by name) are read after the main file; one or more servers each.',
  }),
  lock_directory_cleanup: option({
    scope: 'global-only',
    schema: kinds.bool(),
    default: 'true',
    since: '3.10',
    category: 'General',
    description:
      '`cron` removes the lock files (`.*.lock`) of `barman_lock_directory` that no process holds at the end of each run; a lock in use is never removed. `barman lock-directory-cleanup` does the same on demand, whatever this option says.',
  }),
  config_changes_queue: option({
    scope: 'global-only',
    schema: kinds.absolutePath(),
    default: '%(barman_home)s/cfg_changes.queue',
    since: '3.10',
    category: 'General',
    description:
      'Queue file of `config-update`: JSON changes waiting to be written into `<barman_home>/.barman.auto.conf`; `config-update` and `cron` process it under the `.config-update.lock` lock.',
  }),
  active: option({
    scope: 'server',
    schema: kinds.bool(),
    default: 'true',
    since: '3.4',
    category: 'General',
    description: 'An inactive server is skipped by cron, backup and most commands, but can still be checked.',
  }),
  description: option({
    scope: 'server',
    schema: kinds.text(),
    since: '3.4',
    category: 'General',
    description: 'Free text shown by `list-server` and `status`.',
  }),
  cluster: option({
    scope: 'server',
    schema: kinds.nonEmptyText(),
    default: '%(name)s',
    since: '3.10',
    category: 'General',
    description: 'Name grouping a server with its configuration models.',
  }),
  model: option({
    scope: 'server',
    schema: kinds.bool(),
    since: '3.10',
    category: 'General',
    description:
      '`true` turns the section into a configuration model: values `config-switch` lays over the servers of the same `cluster`.',
  }),
  path_prefix: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.4',
    category: 'General',
    description:
      'Colon-separated directories searched first for PostgreSQL client programs (pg_basebackup, pg_receivewal, ...) and hooks.',
  }),
  forward_config_path: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.4',
    category: 'Connection',
    description:
      'A passive node runs `barman -c <its configuration file> sync-info` on the primary over `primary_ssh_command` (the primary keeps its configuration at the same path). barman-ts always writes `-c <config>` into the restore_command of `recover --get-wal`, whatever this option says.',
  }),

  // ---------------------------------------------------------------- Logging
  log_file: option({
    scope: 'global-only',
    schema: kinds.absolutePath(),
    since: '3.4',
    category: 'Logging',
    description: 'Log file (JSON lines). Its directory is created when possible. Unset: no log file.',
  }),
  log_level: option({
    scope: 'global-only',
    schema: kinds.oneOf(['debug', 'info', 'warning', 'error', 'critical']),
    default: 'INFO',
    since: '3.4',
    category: 'Logging',
    description: 'Minimum level written to the log file: DEBUG, INFO, WARNING, ERROR or CRITICAL.',
    flag: {
      flags: '--log-level <level>',
      commands: ['*'],
      description: 'log level for this run (DEBUG, INFO, WARNING, ERROR, CRITICAL)',
    },
  }),
  log_format: option({
    scope: 'global-only',
    schema: kinds.text(),
    since: '3.4',
    category: 'Logging',
    description: "Python logging format of Barman's text log; barman-ts writes JSON lines and ignores it.",
    support: ignored('barman-ts writes JSON log lines'),
  }),

  // ---------------------------------------------------------------- Connection
  conninfo: option({
    scope: 'server',
    schema: kinds.conninfo(),
    required: true,
    since: '3.4',
    category: 'Connection',
    secret: false,
    description:
      'libpq connection string to the PostgreSQL server. The password comes from `password=`, then PGPASSWORD, then the password file ' +
      'named by `passfile=`, PGPASSFILE or `~/.pgpass` (mode 0600 or less, as libpq requires); programs barman-ts runs get it in ' +
      'their environment, never on their command line, and it is redacted in all output.',
  }),
  streaming_conninfo: option({
    scope: 'server',
    schema: kinds.conninfo(),
    default: '%(conninfo)s',
    since: '3.4',
    category: 'Connection',
    description:
      "Connection string for replication connections (pg_basebackup, barman-ts's BASE_BACKUP client, pg_receivewal). Passwords as for `conninfo`; in a password file, these connections match the database `replication`.",
  }),
  primary_conninfo: option({
    scope: 'server',
    schema: kinds.conninfo(),
    since: '3.4',
    category: 'Connection',
    description:
      'When `conninfo` points to a standby: the primary, where WAL switches are issued during a backup.',
  }),
  primary_checkpoint_timeout: option({
    scope: 'server',
    schema: kinds.seconds(),
    default: '0',
    since: '3.8',
    category: 'Connection',
    description:
      'Seconds to wait at the end of a standby backup before forcing a CHECKPOINT on the primary (0: never).',
  }),
  wal_conninfo: option({
    scope: 'server',
    schema: kinds.conninfo(),
    since: '3.10',
    category: 'Connection',
    description:
      'Connection for the WAL side of a server whose WAL comes from elsewhere than its backups (e.g. streamed from a standby): receive-wal (replication slot, wal_level, system identifier), its checks (`... (WAL streaming)`) and `replication-status --source wal-host`. Default: `wal_streaming_conninfo`, else `conninfo`.',
  }),
  wal_streaming_conninfo: option({
    scope: 'server',
    schema: kinds.conninfo(),
    since: '3.10',
    category: 'Connection',
    description:
      'Replication connection of WAL streaming when it differs from `streaming_conninfo`: receive-wal (pg_receivewal, slot creation and removal) and its checks use it; backups keep `streaming_conninfo`. Default: `streaming_conninfo`.',
  }),
  ssh_command: option({
    scope: 'server',
    schema: kinds.nonEmptyText(),
    since: '3.4',
    category: 'Connection',
    description:
      'Shell command that opens an SSH session to the PostgreSQL host, e.g. `ssh postgres@pg`. ' +
      'Required by `backup_method = rsync`; must be unset for `local-rsync` and `local-to-cloud`.',
  }),
  primary_ssh_command: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: '3.4',
    category: 'Connection',
    description:
      'Shell command that opens an SSH session to the primary Barman host, e.g. `ssh barman@backup1`: the server becomes a *passive node*. It never connects to PostgreSQL and takes no backups; `cron` runs `barman sync-info` there and copies the backups and WAL files with rsync (`sync-backup`, `sync-wals`), honouring `parallel_jobs`, `bandwidth_limit` and `network_compression`.',
  }),
  mirror_of: option({
    scope: 'server',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Connection',
    description:
      'Name of another server section of this barman.conf: this server becomes a *mirror* of it, a second copy of its ' +
      'catalogue in another location, of the same or another kind (a directory, or `s3://`). A mirror never connects ' +
      "to PostgreSQL and takes no backups; `cron` copies the source's new DONE backups and WAL files into it, converting " +
      "between Barman's directory layout and barman-cloud's object layout, and applies the mirror's own " +
      "`retention_policy`. It reads the source's catalogue and never writes there (docs/second-site.md). " +
      'Cannot be combined with `primary_ssh_command`. Barman has no such option.',
  }),
  keepalive_interval: option({
    scope: 'global',
    schema: kinds.seconds(),
    default: '60',
    since: '3.11',
    category: 'Connection',
    description:
      'Seconds between keep-alive queries on the PostgreSQL session held open during a backup copy (0: off). ' +
      'Unlike Barman 3.11-3.17, a value in [barman] is inherited.',
    flag: {
      flags: '--keepalive-interval <seconds>',
      commands: ['backup'],
      description: 'seconds between keep-alive queries during the copy (0: off)',
    },
  }),
  check_timeout: option({
    scope: 'global',
    schema: kinds.seconds(),
    default: '30',
    since: '3.4',
    category: 'Retention and checks',
    description: 'Seconds allowed for the whole `check` of one server (0: no limit).',
    flag: {
      flags: '--check-timeout <seconds>',
      commands: ['check'],
      description: 'seconds allowed for the check (0: no limit)',
    },
  }),

  // ---------------------------------------------------------------- Backup
  backup_method: option({
    scope: 'global',
    schema: kinds.oneOf(['rsync', 'local-rsync', 'postgres', 'local-to-cloud', 'snapshot']),
    default: 'rsync',
    since: '3.4',
    category: 'Backup',
    description:
      '`rsync` (over `ssh_command`), `local-rsync` (on the PostgreSQL host), `postgres` (pg_basebackup, or ' +
      "barman-ts's own BASE_BACKUP client on PostgreSQL 15+ when pg_basebackup is missing or older than the server, and for every `backup --incremental` (PostgreSQL 17+); " +
      'to an s3:// `basebackups_directory`, streamed to S3 over the replication protocol, PostgreSQL 15+), ' +
      '`local-to-cloud` (PGDATA straight to S3; barman-ts). `snapshot` is not supported by barman-ts.',
  }),
  backup_options: option({
    scope: 'global',
    schema: kinds.wordSet(['concurrent_backup', 'exclusive_backup', 'external_configuration']),
    default: 'concurrent_backup',
    since: '3.4',
    category: 'Backup',
    description:
      'Comma-separated: `concurrent_backup` (default), `exclusive_backup` (deprecated; rsync and local-rsync on PostgreSQL 9.6 to 14: backup_label and tablespace_map stay in PGDATA while the backup runs and are copied with it; refused on PostgreSQL 15+ and on a standby), ' +
      '`external_configuration` (do not warn about configuration files outside PGDATA).',
  }),
  reuse_backup: option({
    scope: 'global',
    schema: kinds.oneOf(['off', 'copy', 'link']),
    since: '3.4',
    category: 'Backup',
    description:
      'Incremental file-level copies for rsync methods: `link` hard-links unchanged files to the previous backup, ' +
      '`copy` copies them locally, `off` copies everything.',
    flag: {
      flags: '--reuse-backup [mode]',
      bareValue: 'link',
      commands: ['backup'],
      description: 'off, copy or link (bare flag: link)',
    },
  }),
  bandwidth_limit: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    since: '3.4',
    category: 'Backup',
    description:
      'Maximum transfer rate in KB/s for backups (rsync `--bwlimit`, pg_basebackup `--max-rate`, S3 uploads) and recoveries (copies, S3 downloads); never WAL archiving; 0: none.',
    flag: {
      flags: '--bwlimit <kbps>',
      commands: ['backup', 'recover'],
      description: 'maximum transfer rate in KB/s (0: none)',
    },
  }),
  tablespace_bandwidth_limit: option({
    scope: 'global',
    schema: kinds.tablespaceBandwidth(),
    since: '3.4',
    category: 'Backup',
    description:
      'Per-tablespace bandwidth limits in KB/s, `name:kbps name2:kbps` (space-separated; tablespace names as in PostgreSQL): the copy of each named tablespace uses its own limit instead of `bandwidth_limit`, in backups (rsync, local-rsync) and recoveries of their backups. Refused with `backup_method = postgres` and `local-to-cloud`.',
  }),
  network_compression: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.4',
    category: 'Backup',
    description: 'rsync `-z` for backup and remote recovery (not with `backup_method = postgres`).',
    flag: {
      flags: '--network-compression',
      negate: '--no-network-compression',
      commands: ['recover'],
      description: 'compress data sent over the network',
    },
  }),
  parallel_jobs: option({
    scope: 'global',
    schema: kinds.int({ min: 1 }),
    default: '1',
    since: '3.4',
    category: 'Backup',
    description:
      'Parallel copy workers for backup and recovery: rsync processes (rsync), copy loops (local-rsync, local recovery), concurrent S3 part uploads (local-to-cloud). pg_basebackup (`backup_method = postgres`) copies over one connection and does not use it.',
    flag: {
      flags: '-j, --jobs <n>',
      commands: ['backup', 'recover'],
      description: 'number of parallel copy workers',
    },
  }),
  parallel_jobs_start_batch_size: option({
    scope: 'global',
    schema: kinds.int({ min: 1 }),
    default: '10',
    since: '3.5',
    category: 'Backup',
    description:
      'Maximum copy workers (rsync processes over SSH, local copy loops) started within any `parallel_jobs_start_batch_period`, for backups and recoveries; the others wait, so that many `parallel_jobs` do not open their SSH connections at once. Not used by `postgres` and `local-to-cloud` backups, which start no copy workers.',
    flag: {
      flags: '--jobs-start-batch-size <n>',
      commands: ['backup', 'recover'],
      description: 'maximum copy workers started per batch period',
    },
  }),
  parallel_jobs_start_batch_period: option({
    scope: 'global',
    schema: kinds.int({ min: 1, max: kinds.MAX_SECONDS, unit: 'seconds' }),
    default: '1',
    since: '3.5',
    category: 'Backup',
    description:
      'Seconds of the window in which at most `parallel_jobs_start_batch_size` copy workers start.',
    flag: {
      flags: '--jobs-start-batch-period <seconds>',
      commands: ['backup', 'recover'],
      description: 'seconds of the window in which a batch of copy workers starts',
    },
  }),
  immediate_checkpoint: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.4',
    category: 'Backup',
    description: 'Ask PostgreSQL for an immediate checkpoint at backup start instead of a spread one.',
    flag: {
      flags: '--immediate-checkpoint',
      negate: '--no-immediate-checkpoint',
      commands: ['backup'],
      description: 'request an immediate checkpoint at backup start',
    },
  }),
  basebackup_retry_times: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    default: '0',
    since: '3.4',
    category: 'Backup',
    description:
      'Retries of a failed copy: each rsync process (rsync backups, remote recoveries) and pg_basebackup. Local copies (local-rsync, local recovery) fail at once, and object storage transfers (local-to-cloud) retry each request instead.',
    flag: {
      flags: '--retry-times <n>',
      commands: ['backup', 'recover'],
      description: 'retries of a failed copy',
    },
  }),
  basebackup_retry_sleep: option({
    scope: 'global',
    schema: kinds.seconds(),
    default: '30',
    since: '3.4',
    category: 'Backup',
    description: 'Seconds between copy retries (`basebackup_retry_times`).',
    flag: {
      flags: '--retry-sleep <seconds>',
      commands: ['backup', 'recover'],
      description: 'seconds between retries',
    },
  }),
  autogenerate_manifest: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.7',
    category: 'Backup',
    description:
      'Write a PostgreSQL `backup_manifest` (SHA-256 of every file) at the end of each `rsync` and `local-rsync` backup, so `verify-backup` and `pg_verifybackup` can check it (the other methods always have one).',
    flag: {
      flags: '--manifest',
      negate: '--no-manifest',
      commands: ['backup'],
      description: 'write a backup_manifest at the end of an rsync or local-rsync backup',
    },
  }),
  streaming_backup_name: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    default: 'barman_streaming_backup',
    since: '3.4',
    category: 'Backup',
    description: "application_name of pg_basebackup (and of barman-ts's BASE_BACKUP client).",
  }),
  backup_compression: option({
    scope: 'global',
    schema: kinds.oneOf(['gzip', 'lz4', 'zstd', 'none']),
    since: '3.4',
    category: 'Compression',
    description:
      "pg_basebackup compression for `backup_method = postgres` (such backups are taken by pg_basebackup, except encrypted ones of PostgreSQL 15+, which barman-ts's BASE_BACKUP client compresses and encrypts as they arrive; `backup --incremental` refuses it, as Barman does, unless `encryption = gpg`: an encrypted incremental is compressed tar archives like an encrypted full backup), or of the tar archives uploaded by `local-to-cloud` and by `postgres` to an s3:// `basebackups_directory`: gzip, lz4, zstd or none.",
  }),
  backup_compression_format: option({
    scope: 'global',
    schema: kinds.oneOf(['plain', 'tar']),
    since: '3.4',
    category: 'Compression',
    description: '`plain` (decompressed on arrival) or `tar` (kept compressed).',
  }),
  backup_compression_level: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    since: '3.4',
    category: 'Compression',
    description: 'Compression level passed to pg_basebackup.',
  }),
  backup_compression_location: option({
    scope: 'global',
    schema: kinds.oneOf(['client', 'server']),
    since: '3.4',
    category: 'Compression',
    description: 'Where pg_basebackup compresses: `client` or `server` (PostgreSQL 15+).',
  }),
  backup_compression_workers: option({
    scope: 'global',
    schema: kinds.int({ min: 1 }),
    since: '3.4',
    category: 'Compression',
    description: 'zstd worker threads for pg_basebackup compression.',
  }),

  // ---------------------------------------------------------------- WAL archiving
  archiver: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.4',
    category: 'WAL archiving',
    description:
      'Process WAL files that `archive_command` puts in `incoming_wals_directory`. ' +
      'When both `archiver` and `streaming_archiver` are off, `archiver` is turned on with a warning.',
  }),
  archiver_batch_size: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    default: '0',
    since: '3.4',
    category: 'WAL archiving',
    description: 'Maximum files taken from incoming/ per `archive-wal` run (0: all).',
  }),
  streaming_archiver: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.4',
    category: 'WAL archiving',
    description:
      'Stream WAL with pg_receivewal into `streaming_wals_directory`, supervised by `cron`; with `encryption = gpg`, barman-ts streams natively and writes each segment sealed when complete (needs `slot_name`).',
  }),
  streaming_archiver_batch_size: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    default: '0',
    since: '3.4',
    category: 'WAL archiving',
    description: 'Maximum files taken from streaming/ per `archive-wal` run (0: all).',
  }),
  streaming_archiver_name: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    default: 'barman_receive_wal',
    since: '3.4',
    category: 'WAL archiving',
    description:
      'application_name of pg_receivewal (also matched against synchronous_standby_names; with `encryption = gpg` being listed there is refused).',
  }),
  slot_name: option({
    scope: 'global',
    schema: kinds.slotName(),
    since: '3.4',
    category: 'WAL archiving',
    description:
      'Physical replication slot used by pg_receivewal; required with `encryption = gpg`, whose receive-wal keeps the segment it receives in memory until it is sealed.',
  }),
  create_slot: option({
    scope: 'global',
    schema: kinds.oneOf(['manual', 'auto']),
    default: 'manual',
    since: '3.4',
    category: 'WAL archiving',
    description: '`auto`: receive-wal creates the replication slot when missing.',
  }),
  max_incoming_wals_queue: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    since: '3.4',
    category: 'WAL archiving',
    description: '`check` warns when more WAL files than this wait in incoming/ or streaming/.',
  }),
  compression: option({
    scope: 'global',
    schema: kinds.oneOf([
      'gzip',
      'bzip2',
      'xz',
      'zstd',
      'lz4',
      'snappy',
      'pigz',
      'pygzip',
      'pybzip2',
      'custom',
      'none',
    ]),
    since: '3.4',
    category: 'Compression',
    description:
      'Compression of archived WAL files: gzip, bzip2, xz, zstd, lz4, snappy, pigz, custom or none. ' +
      'pygzip and pybzip2 are accepted as gzip and bzip2.',
  }),
  compression_level: option({
    scope: 'global',
    schema: kinds.compressionLevel(),
    default: 'medium',
    since: '3.14',
    category: 'Compression',
    description:
      'WAL compression level: `low`, `medium`, `high` or an integer (clamped to the algorithm range).',
  }),
  custom_compression_filter: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: '3.4',
    category: 'Compression',
    description: 'Shell filter (stdin to stdout) compressing WAL files when `compression = custom`.',
  }),
  custom_decompression_filter: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: '3.4',
    category: 'Compression',
    description: 'Shell filter decompressing WAL files written with `custom_compression_filter`.',
  }),
  custom_compression_magic: option({
    scope: 'global',
    schema: kinds.hexMagic(),
    since: '3.4',
    category: 'Compression',
    description: 'Leading bytes (hex, `0x` prefix) identifying custom-compressed WAL files.',
  }),

  // ---------------------------------------------------------------- Directories
  backup_directory: option({
    scope: 'server',
    schema: kinds.absolutePath(),
    default: '%(barman_home)s/%(name)s',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description: 'Directory of the server: identity.json, base/, wals/, incoming/, streaming/, errors/.',
  }),
  basebackups_directory: option({
    scope: 'server',
    schema: kinds.location({ allowS3: true }),
    default: '%(backup_directory)s/base',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description:
      'Where base backups are stored; an `s3://bucket/prefix` URL for `backup_method = local-to-cloud` or `postgres` (barman-cloud layout), which needs an s3:// `wals_directory` too (otherwise the server is disabled).',
  }),
  wals_directory: option({
    scope: 'server',
    schema: kinds.location({ allowS3: true }),
    default: '%(backup_directory)s/wals',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description:
      'The WAL archive; an `s3://bucket/prefix` URL for `local-to-cloud` servers, `cloud-wal-archive` and any server with an s3:// `basebackups_directory` (required there). A server with local backups may keep its WAL in object storage.',
  }),
  incoming_wals_directory: option({
    scope: 'server',
    schema: kinds.absolutePath(),
    default: '%(backup_directory)s/incoming',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description: 'Where `archive_command` / `put-wal` deliver WAL files.',
  }),
  streaming_wals_directory: option({
    scope: 'server',
    schema: kinds.absolutePath(),
    default: '%(backup_directory)s/streaming',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description:
      'Where pg_receivewal writes WAL files (with `encryption = gpg`: the sealed `<name><ext>.gpg` segments of the native receiver).',
  }),
  errors_directory: option({
    scope: 'server',
    schema: kinds.absolutePath(),
    default: '%(backup_directory)s/errors',
    inModel: false,
    since: '3.4',
    category: 'Directories',
    description: 'Where rejected WAL files (duplicates, strangers, garbage) are kept.',
  }),
  xlogdb_directory: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: '3.13',
    inModel: false,
    category: 'Directories',
    description:
      'Directory of the WAL catalogue `<server>-xlog.db` (Barman 3.13+ layout). ' +
      'Unset: `wals/xlog.db` (the 3.4 layout, written by default). Required with `worm_mode = on` and a local ' +
      'wals_directory, outside wals_directory and basebackups_directory (an s3:// WAL archive has no WAL index).',
  }),

  // ---------------------------------------------------------------- Retention and checks
  retention_policy: option({
    scope: 'global',
    schema: kinds.retentionPolicy(),
    since: '3.4',
    category: 'Retention and checks',
    description:
      '`REDUNDANCY <n>` or `RECOVERY WINDOW OF <n> DAYS|WEEKS|MONTHS` (a month is 31 days). Unset: keep everything.',
  }),
  retention_gfs: option({
    scope: 'global',
    schema: kinds.gfsPolicy(),
    since: 'barman-ts',
    category: 'Retention and checks',
    description:
      'Grandfather-father-son retention: `<n> DAILY, <n> WEEKLY, <n> MONTHLY` (any of them). `cron` keeps the ' +
      'newest DONE full backup of each of the n most recent days, ISO weeks and months (local time) that have one, ' +
      'on top of what `retention_policy` keeps (docs/retention.md). Barman ignores this option with a warning.',
  }),
  retention_policy_mode: option({
    scope: 'global',
    schema: kinds.oneOf(['auto']),
    default: 'auto',
    since: '3.4',
    category: 'Retention and checks',
    description: 'Only `auto`: `cron` applies the retention policy.',
  }),
  wal_retention_policy: option({
    scope: 'global',
    schema: kinds.oneOf(['main']),
    default: 'main',
    since: '3.4',
    category: 'Retention and checks',
    description: 'Only `main`: WAL files are kept as long as the backups that need them.',
  }),
  minimum_redundancy: option({
    scope: 'global',
    schema: kinds.int({ min: 0 }),
    default: '0',
    since: '3.4',
    category: 'Retention and checks',
    description: 'Backups that deletion and retention never go below.',
  }),
  last_backup_maximum_age: option({
    scope: 'global',
    schema: kinds.interval(),
    since: '3.4',
    category: 'Retention and checks',
    description: '`check` fails when the newest backup is older than this (`<n> HOURS|DAYS|WEEKS|MONTHS`).',
  }),
  last_backup_minimum_size: option({
    scope: 'global',
    schema: kinds.size(),
    since: '3.4',
    category: 'Retention and checks',
    description: '`check` fails when the newest backup is smaller than this (`10 GiB`, `500M`, bytes).',
  }),
  last_wal_maximum_age: option({
    scope: 'global',
    schema: kinds.interval(),
    since: '3.4',
    category: 'Retention and checks',
    description: '`check` fails when the newest archived WAL is older than this.',
  }),

  // ---------------------------------------------------------------- Recovery
  recovery_options: option({
    scope: 'global',
    schema: kinds.wordSet(['get-wal', 'delta-restore']),
    default: '',
    since: '3.4',
    category: 'Recovery',
    description: 'Comma-separated defaults for `recover`: `get-wal`, `delta-restore`.',
  }),
  recovery_staging_path: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: '3.4',
    category: 'Recovery',
    description: 'Staging directory for recovering compressed backups (deprecated name of `staging_path`).',
  }),
  local_staging_path: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: '3.11',
    category: 'Recovery',
    description: 'Local staging directory (deprecated name of `staging_path`).',
  }),
  staging_path: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: '3.15',
    category: 'Recovery',
    description:
      'Directory for decompressing backups during recovery: on the barman-ts host, or on the recovery host of a ' +
      '`--remote-ssh-command` recovery with `staging_location = remote`.',
  }),
  staging_location: option({
    scope: 'global',
    schema: kinds.oneOf(['local', 'remote']),
    default: 'local',
    since: '3.15',
    category: 'Recovery',
    description:
      'Whether `staging_path` is on the barman-ts host (`local`) or the recovery host (`remote`). With `remote`, ' +
      'a tar backup recovered with `--remote-ssh-command` is copied compressed to `staging_path` on the recovery ' +
      'host and extracted there with its GNU `tar` and decompressor (gzip, bzip2, xz, lz4 or zstd), checked ' +
      'before anything is written; barman-ts is not needed there. Refused with `remote`: incremental chains ' +
      '(combined on the barman-ts host), `--delta-restore`, encrypted or object-storage archives, snappy.',
  }),
  combine_mode: option({
    scope: 'global',
    schema: kinds.oneOf(['copy', 'link', 'clone', 'copy-file-range']),
    default: 'copy',
    since: '3.16',
    category: 'Recovery',
    description:
      'How `recover` of a block-level incremental backup places the files the native combine copies whole ' +
      '(relation segments rebuilt from INCREMENTAL files are always written): `copy` and `copy-file-range` ' +
      "copy them in the kernel (copy_file_range); `clone` clones them (FICLONE: XFS, Btrfs …, on the backups' " +
      'file system); `link` hard-links them into the staging directory of a remote or `--delta-restore` ' +
      'recovery, which then copies them (refused for a local recovery: PostgreSQL would write into the ' +
      'backups). A mode the file systems cannot do is refused before anything is written (probed with one ' +
      'file where the chain goes), never replaced by a copy. A chain stored as tar archives (an s3:// ' +
      'basebackups_directory, an encrypted chain) is extracted: `copy` and `copy-file-range` only, `link` and `clone` are refused.',
    flag: {
      flags: '--combine-mode <mode>',
      commands: ['recover'],
      description: 'how an incremental chain is combined: copy, copy-file-range, clone or link',
    },
  }),
  worm_mode: option({
    scope: 'global',
    schema: kinds.bool(),
    default: 'false',
    since: '3.13.2',
    category: 'Backup',
    description:
      'Backups and WAL on write-once (WORM) storage: what changes later (backup.info, keep annotations) goes to ' +
      '`meta/` in backup_directory, never into basebackups_directory or wals_directory; deletions refuse files ' +
      'the storage still protects; the first backup keeps the WAL before it. Needs `xlogdb_directory` outside ' +
      'both; not with `reuse_backup = link`. With s3:// locations barman-ts sets S3 Object Lock retention on ' +
      'every object it writes there (`worm_object_lock_retention`). See docs/immutable-storage.md.',
  }),
  worm_object_lock_retention: option({
    scope: 'global',
    schema: kinds.duration({ minSeconds: 1 }),
    since: 'barman-ts',
    category: 'Backup',
    description:
      'With `worm_mode = on` and an s3:// basebackups_directory or wals_directory (required then): how long ' +
      'each object barman-ts writes there stays locked from its write (`30 days`, `2 weeks`; a bare number is ' +
      'seconds): S3 Object Lock retention, retain-until = write time + this. Set it to no more than the time ' +
      'retention_policy keeps a backup (the recovery window), or retention is refused until the lock ends. The ' +
      'bucket must have Object Lock enabled (`check` says). See docs/immutable-storage.md.',
  }),
  worm_object_lock_mode: option({
    scope: 'global',
    schema: kinds.oneOf(['compliance', 'governance']),
    default: 'compliance',
    since: 'barman-ts',
    category: 'Backup',
    description:
      'The S3 Object Lock mode of `worm_object_lock_retention`: `compliance` (nobody, the account root ' +
      'included, can delete a locked object or shorten its lock) or `governance` (a user granted ' +
      's3:BypassGovernanceRetention can, e.g. to undo a retention set too long by mistake).',
  }),

  restore_drill_directory: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: 'barman-ts',
    category: 'Recovery',
    description:
      '`verify-restore` recovers into a private directory (0700) created below this one and removed at the end of the drill; default: the system temporary directory (TMPDIR, else /tmp). It must lie outside barman_home and every server directory.',
  }),
  restore_drill_bin_path: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    since: 'barman-ts',
    category: 'Recovery',
    description:
      "Directory of the PostgreSQL server programs (`postgres`, `pg_amcheck`, `pg_verifybackup`) `verify-restore` runs; searched first, then `path_prefix`, Debian's `/usr/lib/postgresql/<major>/bin` and PATH. `postgres` must be the backup's major version; a drill without one is refused, naming the directories searched.",
  }),
  restore_drill_probe: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Recovery',
    description:
      'SQL query `verify-restore` runs on the recovered copy (in `restore_drill_probe_database`), returning one timestamp, e.g. `select max(created_at) from orders`: the drill fails when it errors or returns no value, and, with `restore_drill_probe_max_age`, when the value is older than the recovery target (or the backup end) minus that age.',
  }),
  restore_drill_probe_database: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    default: 'postgres',
    since: 'barman-ts',
    category: 'Recovery',
    description: 'Database `restore_drill_probe` runs in.',
  }),
  restore_drill_probe_max_age: option({
    scope: 'global',
    schema: kinds.duration(),
    since: 'barman-ts',
    category: 'Recovery',
    description:
      "How stale the probe's timestamp may be (`30 minutes`, `2 hours`, a bare number is seconds): the drill fails when the value is older than the recovery target time, or the backup's end time, minus this. Needs `restore_drill_probe`.",
  }),
  restore_drill_timeout: option({
    scope: 'global',
    schema: kinds.duration({ minSeconds: 1 }),
    default: '4 hours',
    since: 'barman-ts',
    category: 'Recovery',
    description:
      "How long `verify-restore` waits for the PostgreSQL it started on the copy to accept sessions and end its recovery (`30 minutes`, `2 hours`, a bare number is seconds; at least 1 second). Past it, the drill's `start` step fails, saying how far recovery got, and the copy is stopped and removed. Allow for the WAL the drill replays: to the end of the archive, that is up to a backup cycle's worth.",
  }),
  restore_drill_space_margin: option({
    scope: 'global',
    schema: kinds.int({ min: 100, max: 10_000 }),
    default: '120',
    since: 'barman-ts',
    category: 'Recovery',
    description:
      "Disk-space cap of `verify-restore`, in percent of the backup's size: the drill is refused before anything is recovered when the file system of the drill directory has less free space than that (120: the backup's size plus 20 % for the WAL it replays).",
  }),
  restore_drill_nice: option({
    scope: 'global',
    schema: kinds.int({ min: 0, max: 19 }),
    default: '10',
    since: 'barman-ts',
    category: 'Recovery',
    description:
      'Niceness of `verify-restore` and every process it starts (the copy, PostgreSQL, pg_amcheck); above 0, their I/O also runs at the lowest best-effort priority (`ionice -c 2 -n 7`, when ionice is installed). 0 leaves both as they are.',
  }),

  // ---------------------------------------------------------------- Scheduling
  backup_schedule: option({
    scope: 'global',
    schema: kinds.cronExpression(),
    since: 'barman-ts',
    category: 'Scheduling',
    description:
      '`barman daemon` runs `barman backup SERVER` on this cron schedule (5 fields, or 6 with seconds first: `30 2 * * *` is every day at 02:30, local time). A backup still running when the next one is due is not overlapped: the due run is skipped and logged. `barman cron` and crontab users are not affected.',
  }),
  backup_schedule_jitter: option({
    scope: 'global',
    schema: kinds.seconds(),
    default: '0',
    since: 'barman-ts',
    category: 'Scheduling',
    description:
      'Each scheduled backup starts after a random delay of up to this many seconds, so that servers sharing a schedule (a fleet) do not start at the same second.',
  }),
  restore_drill_schedule: option({
    scope: 'global',
    schema: kinds.cronExpression(),
    since: 'barman-ts',
    category: 'Scheduling',
    description:
      '`barman daemon` runs `barman verify-restore SERVER` (a restore drill of the latest backup) on this cron schedule, as `backup_schedule` runs backups. One drill runs at a time: a drill due while another runs is skipped and logged. See docs/restore-drills.md.',
  }),

  daemon_metrics_address: option({
    scope: 'global-only',
    schema: kinds.listenAddress(),
    default: '127.0.0.1:9780',
    since: 'barman-ts',
    category: 'Scheduling',
    description:
      '`barman daemon` serves the metrics of `barman metrics` (and its own) at `http://HOST:PORT/metrics` for Prometheus; `off` serves nothing. The metrics name servers and paths: listen beyond 127.0.0.1 only on a trusted network.',
  }),
  daemon_cron_schedule: option({
    scope: 'global-only',
    schema: kinds.cronExpression(),
    default: '* * * * *',
    since: 'barman-ts',
    category: 'Scheduling',
    description:
      'How often `barman daemon` runs the work of `barman cron` (WAL archiving, completing backups, retention, receive-wal supervision); every minute by default, as the crontab line Barman documents.',
  }),

  // ---------------------------------------------------------------- Cloud (S3)
  aws_region: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'AWS region of the bucket (default: the SDK credential chain / environment).',
  }),
  aws_profile: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'Profile in the AWS shared config/credentials files.',
  }),
  aws_endpoint_url: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description:
      'Endpoint of an S3-compatible store (path-style addressing is used), e.g. `http://127.0.0.1:9000`.',
  }),
  aws_encryption: option({
    scope: 'global',
    schema: kinds.oneOf(['AES256', 'aws:kms'], { lowerCase: false }),
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'Server-side encryption of uploaded objects: `AES256` or `aws:kms`.',
  }),
  aws_sse_kms_key_id: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'KMS key for `aws_encryption = aws:kms`.',
  }),
  aws_read_timeout: option({
    scope: 'global',
    schema: kinds.int({ min: 1, max: kinds.MAX_SECONDS, unit: 'seconds' }),
    default: '60',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description:
      'Seconds an S3 request may go without sending or receiving a byte before it is abandoned and retried.',
  }),
  cloud_upload_max_archive_size: option({
    scope: 'global',
    schema: kinds.size(),
    default: '100G',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description:
      'A backup tar archive uploaded to S3 (`local-to-cloud`, `postgres`) is split when it reaches this size.',
  }),
  cloud_upload_min_chunk_size: option({
    scope: 'global',
    schema: kinds.size(),
    default: '5M',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'Minimum multipart upload part size (S3 requires at least 5 MiB).',
  }),
  cloud_staging_directory: option({
    scope: 'global',
    schema: kinds.absolutePath(),
    default: '%(backup_directory)s/cloud-staging',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description:
      'Local directory where a backup streamed to an s3:// `basebackups_directory` stages its upload parts ' +
      '(one private file each, removed once the bucket has it; created 0700 when missing). Used by ' +
      '`backup_method = postgres`, and by `local-to-cloud` only when this or `cloud_staging_max_size` is set. ' +
      "Files a killed backup left are removed by the next one. Barman's default is /tmp/barman/cloud-staging; " +
      "barman-ts keeps it under the server's private directory. Several servers may share one directory.",
    flag: {
      flags: '--cloud-staging-directory <dir>',
      commands: ['backup'],
      description: 'local directory staging the upload parts of a backup to s3://',
    },
  }),
  cloud_staging_max_size: option({
    scope: 'global',
    schema: kinds.size(),
    default: '30G',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description:
      'Most bytes a backup to s3:// stages in `cloud_staging_directory` at once: the stream from PostgreSQL ' +
      'waits while one more part would pass it. At least one upload part (`cloud_upload_min_chunk_size`, 5 MiB ' +
      'or more); a few parts let the backup run ahead of slow uploads.',
    flag: {
      flags: '--cloud-staging-max-size <size>',
      commands: ['backup'],
      description: 'most bytes staged on disk at once by a backup to s3:// (e.g. 2G)',
    },
  }),
  cloud_delete_batch_size: option({
    scope: 'global',
    schema: kinds.int({ min: 1, max: 1000 }),
    default: '1000',
    since: 'barman-ts',
    category: 'Cloud (S3)',
    description: 'Objects deleted per DeleteObjects request.',
  }),

  // ---------------------------------------------------------------- Hooks
  pre_backup_script: hook('pre', 'a backup', false),
  pre_backup_retry_script: hook('pre', 'a backup', true),
  post_backup_script: hook('post', 'a backup', false),
  post_backup_retry_script: hook('post', 'a backup', true),
  pre_archive_script: hook('pre', 'archiving a WAL file', false),
  pre_archive_retry_script: hook('pre', 'archiving a WAL file', true),
  post_archive_script: hook('post', 'archiving a WAL file', false),
  post_archive_retry_script: hook('post', 'archiving a WAL file', true),
  pre_delete_script: hook('pre', 'deleting a backup', false),
  pre_delete_retry_script: hook('pre', 'deleting a backup', true),
  post_delete_script: hook('post', 'deleting a backup', false),
  post_delete_retry_script: hook('post', 'deleting a backup', true),
  pre_wal_delete_script: hook('pre', 'deleting a WAL file', false),
  pre_wal_delete_retry_script: hook('pre', 'deleting a WAL file', true),
  post_wal_delete_script: hook('post', 'deleting a WAL file', false),
  post_wal_delete_retry_script: hook('post', 'deleting a WAL file', true),
  pre_recovery_script: hook('pre', 'a recovery', false),
  pre_recovery_retry_script: hook('pre', 'a recovery', true),
  post_recovery_script: hook('post', 'a recovery', false),
  post_recovery_retry_script: hook('post', 'a recovery', true),

  // ---------------------------------------------------------------- accepted, not supported
  encryption: option({
    scope: 'global',
    schema: kinds.oneOf(['none', 'gpg']),
    default: 'none',
    since: '3.14',
    category: 'Encryption',
    description:
      '`gpg`: every archived WAL file (compressed first) and every backup barman-ts writes as archives ' +
      '(`postgres` with `backup_compression_format = tar`, `local-to-cloud`, `postgres` to s3://) is ' +
      "encrypted to `encryption_key_id` before it is written; Barman 3.14+'s format. Refused with " +
      '`rsync` and `local-rsync` (plain files). See docs/encryption.md.',
  }),
  encryption_key_id: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: '3.14',
    category: 'Encryption',
    description:
      'The gpg recipient (key id, fingerprint or e-mail) of `encryption = gpg`; its public key must be in ' +
      "the barman user's keyring. `check` encrypts a test message to it.",
  }),
  encryption_passphrase_command: option({
    scope: 'global',
    schema: kinds.nonEmptyText(),
    since: '3.14',
    category: 'Encryption',
    description:
      'Shell command printing the passphrase of the private key (first line of its output), run when an ' +
      'encrypted file is read (get-wal, recover); the passphrase reaches gpg on a pipe, never argv or the log.',
  }),
  snapshot_provider: option({
    scope: 'global',
    schema: kinds.oneOf(['gcp', 'azure', 'aws']),
    since: '3.4',
    category: 'Not supported by barman-ts',
    description: 'Cloud provider of disk snapshots.',
    support: SNAPSHOTS,
  }),
  snapshot_instance: option({
    scope: 'server',
    schema: kinds.text(),
    since: '3.4',
    category: 'Not supported by barman-ts',
    description: 'VM instance of snapshot backups.',
    support: SNAPSHOTS,
  }),
  snapshot_disks: option({
    scope: 'server',
    schema: kinds.text(),
    since: '3.4',
    category: 'Not supported by barman-ts',
    description: 'Disks of snapshot backups (comma-separated).',
    support: SNAPSHOTS,
  }),
  snapshot_zone: option({
    scope: 'server',
    schema: kinds.text(),
    since: '3.4',
    category: 'Not supported by barman-ts',
    description: 'Zone of snapshot backups (deprecated: gcp_zone).',
    support: SNAPSHOTS,
  }),
  snapshot_gcp_project: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.4',
    category: 'Not supported by barman-ts',
    description: 'GCP project of snapshot backups (deprecated: gcp_project).',
    support: SNAPSHOTS,
  }),
  gcp_project: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.6',
    category: 'Not supported by barman-ts',
    description: 'GCP project of snapshot backups.',
    support: SNAPSHOTS,
  }),
  gcp_zone: option({
    scope: 'server',
    schema: kinds.text(),
    since: '3.6',
    category: 'Not supported by barman-ts',
    description: 'GCP zone of snapshot backups.',
    support: SNAPSHOTS,
  }),
  azure_credential: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.6',
    category: 'Not supported by barman-ts',
    description: 'Azure credential type for snapshots.',
    support: SNAPSHOTS,
  }),
  azure_resource_group: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.6',
    category: 'Not supported by barman-ts',
    description: 'Azure resource group for snapshots.',
    support: SNAPSHOTS,
  }),
  azure_subscription_id: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.6',
    category: 'Not supported by barman-ts',
    description: 'Azure subscription for snapshots.',
    support: SNAPSHOTS,
  }),
  aws_await_snapshots_timeout: option({
    scope: 'global',
    schema: kinds.seconds(),
    default: '3600',
    since: '3.11',
    category: 'Not supported by barman-ts',
    description: 'Seconds to wait for AWS snapshots.',
    support: SNAPSHOTS,
  }),
  aws_snapshot_lock_mode: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.12',
    category: 'Not supported by barman-ts',
    description: 'AWS snapshot lock mode.',
    support: SNAPSHOTS,
  }),
  aws_snapshot_lock_duration: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.12',
    category: 'Not supported by barman-ts',
    description: 'AWS snapshot lock duration.',
    support: SNAPSHOTS,
  }),
  aws_snapshot_lock_cool_off_period: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.12',
    category: 'Not supported by barman-ts',
    description: 'AWS snapshot lock cool-off period.',
    support: SNAPSHOTS,
  }),
  aws_snapshot_lock_expiration_date: option({
    scope: 'global',
    schema: kinds.text(),
    since: '3.12',
    category: 'Not supported by barman-ts',
    description: 'AWS snapshot lock expiration date.',
    support: SNAPSHOTS,
  }),
};

export type OptionTable = typeof optionTable;
export type OptionKey = keyof OptionTable;

/** The table with each entry's `key` filled in, in declaration order. */
export const OPTIONS: { readonly [K in OptionKey]: OptionTable[K] & { key: K } } = Object.freeze(
  Object.fromEntries(
    Object.entries(optionTable).map(([key, spec]) => [key, Object.freeze({ ...spec, key })]),
  ) as { [K in OptionKey]: OptionTable[K] & { key: K } },
);

export const OPTION_LIST: readonly OptionSpec[] = Object.values(OPTIONS);

export function findOption(key: string): OptionSpec | undefined {
  return Object.hasOwn(OPTIONS, key) ? (OPTIONS as Record<string, OptionSpec>)[key] : undefined;
}

/** Every option that declares a CLI override flag for `command` (`*` = global flag). */
export function optionFlagsFor(command: string): Array<{ option: OptionSpec; flag: OptionFlag }> {
  return OPTION_LIST.flatMap((option) =>
    option.flag && option.flag.commands.includes(command) ? [{ option, flag: option.flag }] : [],
  );
}
