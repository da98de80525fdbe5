/**
 * Every option is honoured or refused: an option of a feature barman-ts does not implement
 * disables the server that sets it (or inherits it), naming file, section and option; values
 * meaning "off" are harmless; Barman 3.4 configurations keep loading.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ServerEntry } from '../../../src/config/index.js';
import { formatProblem, loadConfig, OPTION_LIST, OPTIONS } from '../../../src/config/index.js';
import { configurationReference } from '../../../src/cli/reference-docs.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';
const RSYNC = 'conninfo = host=a\nssh_command = ssh a\narchiver = on\n';

function load(text: string) {
  const dir = writeConfigFiles({ 'barman.conf': text });
  return { dir, config: loadConfig({ configFile: join(dir, 'barman.conf') }) };
}

const errors = (entry: ServerEntry) =>
  entry.problems.filter((p) => p.severity === 'error').map(formatProblem);
const warnings = (entry: ServerEntry) =>
  entry.problems.filter((p) => p.severity === 'warning').map(formatProblem);

describe('options barman-ts does not implement disable the server', () => {
  const refused: Array<[string, RegExp, number]> = [
    [
      'backup_method = snapshot\nsnapshot_instance = vm',
      /\[pg\] snapshot_instance: not supported: snapshot backups are not supported by barman-ts/,
      9,
    ],
  ];
  for (const [line, expected, lineNumber] of refused) {
    it(`${line.replace('\n', ', ')} in a server section`, () => {
      const { config } = load(`${GLOBAL}[pg]\n${RSYNC}${line}\n[good]\n${RSYNC}`);
      const pg = config.servers.get('pg')!;
      assert.equal(pg.disabled, true);
      const text = errors(pg).join('\n');
      assert.match(text, expected);
      assert.match(text, new RegExp(`barman\\.conf, line ${lineNumber}\\)`), 'names the file and line');
      assert.match(text, /to use this server with barman-ts/, 'says what to do');
      assert.equal(config.servers.get('good')!.disabled, false);
    });
  }

  it('an option inherited from [barman] disables every server inheriting it, naming [barman]', () => {
    const { config } = load(
      `${GLOBAL}aws_await_snapshots_timeout = 100\n[pg]\n${RSYNC}backup_method = snapshot\n` +
        `[plain]\n${RSYNC}backup_method = snapshot\naws_await_snapshots_timeout = 3600\n`,
    );
    assert.deepEqual(config.problems, [], 'no warning of its own: the servers say it');
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, true);
    const problem = pg.problems.find(
      (p) => p.severity === 'error' && p.option === 'aws_await_snapshots_timeout',
    );
    assert.deepEqual(
      { section: problem!.section, option: problem!.option, line: problem!.line },
      { section: 'barman', option: 'aws_await_snapshots_timeout', line: 4 },
    );
    assert.match(
      formatProblem(problem!),
      /Remove 'aws_await_snapshots_timeout' from \[barman\] \(this server inherits it\) or set 'aws_await_snapshots_timeout = 3600' in this server's section/,
    );
    assert.deepEqual(
      config.servers.get('plain')!.problems.filter((p) => p.option === 'aws_await_snapshots_timeout'),
      [],
      'a server turning it off has no problem with it',
    );
  });

  it('values meaning off are accepted silently', () => {
    const { config } = load(
      `${GLOBAL}[pg]\n${RSYNC}encryption = none\nworm_mode = off\nautogenerate_manifest = false\nstaging_location = local\ncombine_mode = copy\nmodel = false\nencryption_key_id =\nprimary_ssh_command = None\n`,
    );
    const pg = config.servers.get('pg')!;
    assert.deepEqual(pg.problems, []);
    assert.equal(pg.disabled, false);
  });

  it('snapshot options without backup_method = snapshot: a warning that they have no effect', () => {
    const { config } = load(
      `${GLOBAL}snapshot_provider = gcp\ngcp_project = p\n[pg]\n${RSYNC}snapshot_instance = vm\nsnapshot_disks = d1,d2\n[snap]\nconninfo = host=a\nssh_command = ssh a\nbackup_method = snapshot\nsnapshot_instance = vm\n`,
    );
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, false);
    const text = warnings(pg).join('\n');
    for (const key of ['snapshot_provider', 'gcp_project', 'snapshot_instance', 'snapshot_disks'])
      assert.match(
        text,
        new RegExp(`${key}: has no effect: Barman uses it only when backup_method = snapshot`),
      );
    const snap = config.servers.get('snap')!;
    assert.equal(snap.disabled, true);
    assert.match(errors(snap).join('\n'), /\[snap\] snapshot_instance: not supported: snapshot backups/);
  });

  it('primary_ssh_command makes a passive node: no conninfo, ssh_command nor streaming_conninfo needed', () => {
    const { config } = load(
      `${GLOBAL}forward_config_path = true\n[passive]\nprimary_ssh_command = ssh barman@other\n[pg]\n${RSYNC}`,
    );
    const passive = config.servers.get('passive')!;
    assert.deepEqual(passive.problems, []);
    assert.equal(passive.disabled, false);
    assert.equal(passive.config.primary_ssh_command, 'ssh barman@other');
    assert.equal(passive.config.forward_config_path, true);
    // Without primary_ssh_command, conninfo stays required.
    const { config: active } = load(`${GLOBAL}[pg]\nssh_command = ssh a\n`);
    assert.match(errors(active.servers.get('pg')!).join('\n'), /required option 'conninfo' is not set/);
  });

  it('global-only options of missing features stay warnings in [barman]', () => {
    const { config } = load(
      `${GLOBAL}log_format = %%(asctime)s\nconfig_changes_queue = /tmp/q\n[pg]\n${RSYNC}`,
    );
    // config_changes_queue is read by config-update and cron: no warning.
    assert.deepEqual(
      config.problems.map((p) => [p.severity, p.option]),
      [['warning', 'log_format']],
    );
    assert.equal(config.servers.get('pg')!.disabled, false);
  });

  it('reuse_backup and tablespace_bandwidth_limit are refused with postgres and local-to-cloud', () => {
    const { config } = load(
      `${GLOBAL}reuse_backup = link\n[pg]\nconninfo = host=a\nbackup_method = postgres\n` +
        `[cloud]\nconninfo = host=a\nbackup_method = local-to-cloud\nbasebackups_directory = s3://my-bucket/x\nwals_directory = s3://my-bucket/xw\nreuse_backup = off\ntablespace_bandwidth_limit = tbs:100\n` +
        `[rs]\n${RSYNC}tablespace_bandwidth_limit = tbs:100\n`,
    );
    assert.match(
      errors(config.servers.get('pg')!).join('\n'),
      /\[barman\] reuse_backup: 'reuse_backup = link' is not supported with 'backup_method = postgres'/,
    );
    assert.deepEqual(
      errors(config.servers.get('cloud')!).map((line) => line.replace(/ \(.*$/, '')),
      [
        "[cloud] tablespace_bandwidth_limit: 'tablespace_bandwidth_limit' is not supported with 'backup_method = local-to-cloud'",
      ],
    );
    assert.equal(config.servers.get('rs')!.disabled, false);
  });

  it('an s3:// basebackups_directory needs an s3:// wals_directory; local backups may keep WAL in a bucket', () => {
    const { config } = load(
      `${GLOBAL}[pg]\nconninfo = host=a\nbackup_method = postgres\nbasebackups_directory = s3://my-bucket/x\n` +
        `[cloud]\nconninfo = host=a\nbackup_method = local-to-cloud\nbasebackups_directory = s3://my-bucket/c\nwals_directory = /srv/wals\n` +
        `[walsonly]\nconninfo = host=a\nbackup_method = postgres\nwals_directory = s3://my-bucket/w\n`,
    );
    for (const name of ['pg', 'cloud']) {
      const server = config.servers.get(name)!;
      assert.equal(server.disabled, true, name);
      const problem = server.problems.find((p) => p.option === 'wals_directory')!;
      assert.equal(problem.severity, 'error');
      assert.equal(problem.section, name);
      assert.match(
        problem.message,
        /an s3:\/\/ 'basebackups_directory' needs an s3:\/\/bucket\/prefix URL here too/,
      );
    }
    // Set in the file: the problem names it (and its line).
    assert.ok(config.servers.get('cloud')!.problems.find((p) => p.option === 'wals_directory')!.file);
    assert.deepEqual(errors(config.servers.get('walsonly')!), []);
  });

  it('backup_method = postgres takes an s3:// basebackups_directory, without the options it cannot honour', () => {
    const { config } = load(
      `${GLOBAL}[pg]\nconninfo = host=a\nbackup_method = postgres\nbasebackups_directory = s3://my-bucket/x\nwals_directory = s3://my-bucket/xw\nbackup_compression = zstd\n` +
        `[plain]\nconninfo = host=a\nbackup_method = postgres\nbasebackups_directory = s3://my-bucket/y\nwals_directory = s3://my-bucket/yw\n` +
        `backup_compression = gzip\nbackup_compression_format = plain\nbackup_compression_location = server\n` +
        `[rs]\n${RSYNC}basebackups_directory = s3://my-bucket/z\n`,
    );
    assert.deepEqual(errors(config.servers.get('pg')!), []);
    assert.equal(config.servers.get('pg')!.disabled, false);
    assert.deepEqual(
      errors(config.servers.get('plain')!).map((line) => line.replace(/ \(.*$/, '')),
      ['backup_compression_format', 'backup_compression_location'].map(
        (key) =>
          `[plain] ${key}: '${key}' cannot be used with 'backup_method = postgres' and an s3:// 'basebackups_directory': the backup is stored as tar archives compressed with 'backup_compression'`,
      ),
    );
    assert.match(
      errors(config.servers.get('rs')!).join('\n'),
      /\[rs\] basebackups_directory: an s3:\/\/ URL here requires 'backup_method = local-to-cloud' or 'backup_method = postgres'/,
    );
  });

  it('a Barman 3.4 configuration using only 3.4 features keeps loading', () => {
    const { config } = load(`[barman]
barman_home = /var/lib/barman
barman_user = barman
log_file = /var/log/barman/barman.log
log_level = INFO
compression = gzip
reuse_backup = link
backup_options = concurrent_backup
minimum_redundancy = 1
retention_policy = RECOVERY WINDOW OF 4 WEEKS
immediate_checkpoint = true
network_compression = false
parallel_jobs = 2
bandwidth_limit = 4000
tablespace_bandwidth_limit = tbs1:1000 tbs2:2000
basebackup_retry_times = 3
basebackup_retry_sleep = 30
check_timeout = 60
last_backup_maximum_age = 1 WEEKS

[pg]
description = "Main PostgreSQL Database"
ssh_command = ssh postgres@pg
conninfo = host=pg user=barman dbname=postgres
backup_method = rsync
archiver = on
streaming_archiver = on
slot_name = barman
streaming_conninfo = host=pg user=streaming_barman
path_prefix = /usr/lib/postgresql/15/bin
recovery_options = get-wal
pre_backup_script = /bin/true

[streaming]
conninfo = host=pg2 user=barman dbname=postgres
backup_method = postgres
reuse_backup = off
tablespace_bandwidth_limit =
streaming_archiver = on
slot_name = barman
create_slot = auto
backup_compression = gzip
`);
    for (const entry of config.servers.values()) assert.deepEqual(errors(entry), [], entry.name);
    assert.deepEqual(config.problems, []);
  });
});

describe('the option table records what barman-ts does with each option', () => {
  it('only global-only options may be merely ignored; every other unimplemented one refuses', () => {
    for (const option of OPTION_LIST) {
      if (option.support.level === 'ignored') assert.equal(option.scope, 'global-only', option.key);
    }
  });

  it('the options the issue found unread are implemented or refused', () => {
    const level = (key: keyof typeof OPTIONS) => OPTIONS[key].support.level;
    for (const key of [
      'lock_directory_cleanup',
      'wal_streaming_conninfo',
      'wal_conninfo',
      'tablespace_bandwidth_limit',
      'combine_mode',
      'parallel_jobs_start_batch_size',
      'parallel_jobs_start_batch_period',
      'autogenerate_manifest',
      'model',
      'cluster',
      'config_changes_queue',
      'forward_config_path',
      'primary_ssh_command',
      'encryption',
      'encryption_key_id',
      'encryption_passphrase_command',
      'staging_location',
    ] as const)
      assert.equal(level(key), 'full', key);
    assert.equal(level('snapshot_provider'), 'not-supported', 'snapshot_provider');
  });

  it('docs/configuration.md shows the status of every option', () => {
    const docs = configurationReference();
    for (const option of OPTION_LIST) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${option.key}\` |`));
      assert.ok(row, option.key);
      const status = row.split(' | ')[4];
      assert.equal(
        status,
        { full: 'supported', 'not-supported': '**not supported**', ignored: 'ignored' }[option.support.level],
        option.key,
      );
    }
  });
});
