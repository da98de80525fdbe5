import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ServerEntry } from '../../../src/config/index.js';
import { defaultConfigCandidates, formatProblem, loadConfig } from '../../../src/config/index.js';
import { BarmanError } from '../../../src/errors/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';

function load(text: string, extra: Record<string, string> = {}) {
  const dir = writeConfigFiles({ 'barman.conf': text, ...extra });
  return { dir, config: loadConfig({ configFile: join(dir, 'barman.conf') }) };
}

function server(text: string, name = 'pg'): ServerEntry {
  const entry = load(text).config.servers.get(name);
  assert.ok(entry, `server ${name} not loaded`);
  return entry;
}

function errors(entry: ServerEntry): string[] {
  return entry.problems.filter((p) => p.severity === 'error').map(formatProblem);
}

describe('configuration discovery', () => {
  it('uses -c, then BARMAN_CONFIG_FILE, then ~/.barman.conf', () => {
    const dir = writeConfigFiles({
      'a.conf': GLOBAL,
      'home/.barman.conf': GLOBAL.replace('/var/lib/barman', '/srv/b'),
    });
    assert.equal(loadConfig({ configFile: join(dir, 'a.conf') }).configFile, join(dir, 'a.conf'));
    assert.equal(
      loadConfig({ env: { BARMAN_CONFIG_FILE: join(dir, 'a.conf') }, home: join(dir, 'home') }).configFile,
      join(dir, 'a.conf'),
    );
    const fromHome = loadConfig({
      env: {},
      candidates: [join(dir, 'home/.barman.conf'), join(dir, 'a.conf')],
    });
    assert.equal(fromHome.configFile, join(dir, 'home/.barman.conf'));
    assert.equal(fromHome.global.barman_home, '/srv/b');
  });

  it('names a missing -c file, and says when no file is found anywhere', () => {
    assert.throws(() => loadConfig({ configFile: '/nonexistent/barman.conf' }), {
      message: "Configuration file '/nonexistent/barman.conf' does not exist",
    });
    const dir = writeConfigFiles({});
    assert.deepEqual(defaultConfigCandidates('/home/x'), [
      '/home/x/.barman.conf',
      '/etc/barman.conf',
      '/etc/barman/barman.conf',
    ]);
    assert.throws(
      () => loadConfig({ env: {}, candidates: [join(dir, 'a.conf'), join(dir, 'b.conf')] }),
      (error: unknown) => error instanceof BarmanError && error.code === 'config-not-found',
    );
  });

  it('reads configuration_files_directory *.conf files in name order, later files winning', () => {
    const { config } = load(`${GLOBAL}configuration_files_directory = @DIR@/conf.d\n`, {
      'conf.d/b.conf': '[pg]\nconninfo = host=b\nbackup_method = postgres\n',
      'conf.d/a.conf': '[pg]\nconninfo = host=a\ndescription = from a\n',
      'conf.d/ignored.txt': '[other]\nconninfo = host=x\n',
    });
    const pg = config.servers.get('pg')!;
    assert.equal(pg.config.conninfo, 'host=b');
    assert.equal(pg.config.description, 'from a');
    assert.deepEqual([...config.servers.keys()], ['pg']);
    assert.equal(config.files.length, 3);
  });

  it('ignores an included file with a non-empty [barman] section, with an error naming it', () => {
    const { config } = load(`${GLOBAL}configuration_files_directory = @DIR@/conf.d\n`, {
      'conf.d/evil.conf':
        '[barman]\nbarman_home = /tmp/x\n[pg]\nconninfo = host=a\nbackup_method = postgres\n',
    });
    assert.equal(config.global.barman_home, '/var/lib/barman');
    assert.equal(config.servers.size, 0);
    assert.match(formatProblem(config.problems[0]!), /non-empty \[barman\] section.*evil\.conf/);
  });

  it('stops with a clear error when barman_home is missing', () => {
    assert.throws(
      () => load('[barman]\nlog_level = INFO\n'),
      /\[barman\] barman_home: required option 'barman_home' is not set/,
    );
  });
});

describe('INI syntax (Python ConfigParser dialect)', () => {
  it('handles `:` delimiters, case-insensitive keys, quotes, comments, continuation lines and [DEFAULT]', () => {
    const pg = server(
      `${GLOBAL}[DEFAULT]\ndescription = shared\n[pg]\n# comment\n; another\nConnInfo: host=pg\n  user=barman\nbackup_method = "postgres"\nstreaming_archiver = on\nslot_name = barman\n`,
    );
    assert.equal(pg.config.conninfo, 'host=pg\nuser=barman');
    assert.equal(pg.config.backup_method, 'postgres');
    assert.equal(pg.config.description, 'shared');
    assert.deepEqual(errors(pg), []);
  });

  it('keeps ; and # inside text values but strips inline comments from typed values', () => {
    const pg = server(
      `${GLOBAL}[pg]\nconninfo = host=pg password=a;b#c\nssh_command = ssh pg ; true\nbandwidth_limit = 5120  ; 5 MB/s\n`,
    );
    assert.equal(pg.config.conninfo, 'host=pg password=a;b#c');
    assert.equal(pg.config.ssh_command, 'ssh pg ; true');
    assert.equal(pg.config.bandwidth_limit, 5120);
  });

  it('merges a repeated section, later keys winning', () => {
    const pg = server(`${GLOBAL}[pg]\nconninfo = host=a\nssh_command = ssh a\n[pg]\nconninfo = host=b\n`);
    assert.equal(pg.config.conninfo, 'host=b');
    assert.equal(pg.config.ssh_command, 'ssh a');
  });

  it('reports a line that is not an option, disabling only its server', () => {
    const { config } = load(
      `${GLOBAL}[pg]\nconninfo = host=a\nthis is not an option\n[ok]\nconninfo = host=b\nssh_command = ssh b\n`,
    );
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, true);
    assert.match(errors(pg)[0]!, /cannot parse line 'this is not an option'.*barman\.conf, line 6/);
    assert.equal(config.servers.get('ok')!.disabled, false);
  });
});

describe('inheritance, defaults and interpolation', () => {
  it('inherits global-scope options from [barman], not server-only ones', () => {
    const { config } = load(
      `${GLOBAL}compression = gzip\nconninfo = host=ignored\nretention_policy = REDUNDANCY 2\n[pg]\nconninfo = host=pg\nssh_command = ssh pg\nretention_policy = RECOVERY WINDOW OF 2 WEEKS\n`,
    );
    const pg = config.servers.get('pg')!.config;
    assert.equal(pg.compression, 'gzip');
    assert.equal(pg.conninfo, 'host=pg');
    assert.deepEqual(pg.retention_policy, { kind: 'recovery-window', count: 2, unit: 'week' });
    assert.ok(
      config.problems.some(
        (p) => p.option === 'conninfo' && /only be set in a server section/.test(p.message),
      ),
    );
  });

  it('derives directories from barman_home and the server name', () => {
    const pg = server(`${GLOBAL}[pg]\nconninfo = host=pg\nssh_command = ssh pg\n`).config;
    assert.equal(pg.backup_directory, '/var/lib/barman/pg');
    assert.deepEqual(pg.wals_directory, { kind: 'posix', path: '/var/lib/barman/pg/wals' });
    assert.equal(pg.incoming_wals_directory, '/var/lib/barman/pg/incoming');
    assert.equal(pg.streaming_conninfo, 'host=pg');
    assert.equal(pg.barman_lock_directory, '/var/lib/barman');
    assert.equal(pg.cluster, 'pg');
  });

  it('interpolates %(option)s from the section and resolved values, and %% as %', () => {
    const pg = server(
      `${GLOBAL}[pg]\nconninfo = host=pg\nstreaming_conninfo = %(conninfo)s user=streaming\nssh_command = ssh %(name)s\nbackup_directory = %(barman_home)s/x/%(name)s\ndescription = 100%% sure\n`,
    ).config;
    assert.equal(pg.streaming_conninfo, 'host=pg user=streaming');
    assert.equal(pg.ssh_command, 'ssh pg');
    assert.equal(pg.backup_directory, '/var/lib/barman/x/pg');
    assert.equal(pg.errors_directory, '/var/lib/barman/x/pg/errors');
    assert.equal(pg.description, '100% sure');
  });

  it('reports an interpolation loop naming section, option and file, and disables the server', () => {
    const pg = server(
      `${GLOBAL}[pg]\nconninfo = %(streaming_conninfo)s\nstreaming_conninfo = %(conninfo)s\nssh_command = ssh pg\n`,
    );
    assert.equal(pg.disabled, true);
    assert.match(
      errors(pg).join('\n'),
      /\[pg\] conninfo: interpolation loop: conninfo -> streaming_conninfo -> conninfo \(.*barman\.conf, line 5\)/,
    );
  });

  it('treats an empty or None value as unset, falling back to the default', () => {
    const pg = server(
      `${GLOBAL}parallel_jobs = 4\n[pg]\nconninfo = host=pg\nssh_command = ssh pg\nparallel_jobs = None\n`,
    ).config;
    assert.equal(pg.parallel_jobs, 1);
  });
});

describe('retention_gfs', () => {
  it('reads the periods in any order and case; an omitted period keeps none', () => {
    const pg = server(
      `${GLOBAL}[pg]\nconninfo = host=a\nssh_command = ssh a\nretention_gfs = 12 monthly, 7 DAILY\n`,
    );
    assert.deepEqual(errors(pg), []);
    assert.deepEqual(pg.config.retention_gfs, { daily: 7, weekly: 0, monthly: 12 });
  });
});

describe('bad input disables only the server concerned, naming file, section and option', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      'an unknown option',
      'conninfo = host=a\nssh_command = ssh a\nretention_polciy = REDUNDANCY 2',
      /\[pg\] retention_polciy: unknown option 'retention_polciy' \(.*barman\.conf, line 8\)/,
    ],
    [
      'a wrong type',
      'conninfo = host=a\nssh_command = ssh a\nparallel_jobs = many',
      /\[pg\] parallel_jobs: expected an integer, got 'many' \(.*line 8\)/,
    ],
    [
      'an invalid retention_policy',
      'conninfo = host=a\nssh_command = ssh a\nretention_policy = KEEP 3',
      /\[pg\] retention_policy: expected 'REDUNDANCY <n>'.*got 'KEEP 3'/,
    ],
    [
      'a retention_gfs period that is not daily, weekly or monthly',
      'conninfo = host=a\nssh_command = ssh a\nretention_gfs = 7 DAILY, 2 YEARLY',
      /\[pg\] retention_gfs: expected '<n> DAILY, <n> WEEKLY, <n> MONTHLY'.*got '7 DAILY, 2 YEARLY' \(.*line 8\)/,
    ],
    [
      'a retention_gfs period given twice',
      'conninfo = host=a\nssh_command = ssh a\nretention_gfs = 7 DAILY, 3 daily',
      /\[pg\] retention_gfs: DAILY is given twice/,
    ],
    [
      'a retention_gfs that keeps nothing',
      'conninfo = host=a\nssh_command = ssh a\nretention_gfs = 0 DAILY',
      /\[pg\] retention_gfs: keeps no backup at all/,
    ],
    [
      'a negative retention_gfs count',
      'conninfo = host=a\nssh_command = ssh a\nretention_gfs = -1 WEEKLY',
      /\[pg\] retention_gfs: expected '<n> DAILY/,
    ],
    [
      'a missing conninfo',
      'ssh_command = ssh a',
      /\[pg\] conninfo: required option 'conninfo' is not set \(.*line 5\)/,
    ],
    [
      'a bad backup_method',
      'conninfo = host=a\nbackup_method = tape',
      /\[pg\] backup_method: expected one of rsync, local-rsync, postgres, local-to-cloud, snapshot, got 'tape'/,
    ],
    [
      'rsync without ssh_command',
      'conninfo = host=a',
      /\[pg\] ssh_command: 'backup_method = rsync' requires 'ssh_command'/,
    ],
    [
      'a relative directory',
      'conninfo = host=a\nssh_command = ssh a\nincoming_wals_directory = incoming',
      /\[pg\] incoming_wals_directory: must be an absolute path/,
    ],
    [
      'conflicting directories',
      'conninfo = host=a\nssh_command = ssh a\nincoming_wals_directory = /srv/x\nstreaming_wals_directory = /srv/x',
      /\[pg\] streaming_wals_directory: Conflicting path: streaming_wals_directory=\/srv\/x conflicts with 'incoming_wals_directory' for server 'pg'/,
    ],
    [
      'a streaming-only archiver without slot',
      'conninfo = host=a\nbackup_method = postgres\nstreaming_archiver = on',
      /\[pg\] slot_name: a streaming-only archiver requires 'slot_name'/,
    ],
    [
      'an s3 URL with a non-cloud method',
      'conninfo = host=a\nssh_command = ssh a\nbasebackups_directory = s3://bucket/x',
      /an s3:\/\/ URL here requires 'backup_method = local-to-cloud'/,
    ],
    [
      'a pg_basebackup compression detail with local-to-cloud',
      'conninfo = host=a\nbackup_method = local-to-cloud\nbasebackups_directory = s3://bucket/x\nbackup_compression = gzip\nbackup_compression_format = tar',
      /\[pg\] backup_compression_format: 'backup_compression_format' requires 'backup_method = postgres'/,
    ],
    [
      'custom compression with a cloud WAL archive',
      'conninfo = host=a\nbackup_method = local-rsync\nwals_directory = s3://bucket/x/wals\ncompression = custom\ncustom_compression_filter = gzip\ncustom_decompression_filter = gzip -d',
      /\[pg\] compression: 'compression = custom' cannot be used with an s3:\/\/ 'wals_directory'/,
    ],
    [
      'local-rsync with ssh_command',
      'conninfo = host=a\nbackup_method = local-rsync\nssh_command = ssh a',
      /runs on the PostgreSQL host: remove 'ssh_command'/,
    ],
    [
      'a bad boolean',
      'conninfo = host=a\nssh_command = ssh a\narchiver = perhaps',
      /\[pg\] archiver: expected a boolean/,
    ],
    [
      'a bad slot name',
      'conninfo = host=a\nssh_command = ssh a\nslot_name = my-slot',
      /\[pg\] slot_name: replication slot names may contain only/,
    ],
  ];
  for (const [what, body, expected] of cases) {
    it(`reports ${what}`, () => {
      const { config } = load(`${GLOBAL}\n[pg]\n${body}\n[good]\nconninfo = host=g\nssh_command = ssh g\n`);
      const pg = config.servers.get('pg')!;
      assert.equal(pg.disabled, true, `${what} should disable pg`);
      assert.match(errors(pg).join('\n'), expected);
      assert.equal(config.servers.get('good')!.disabled, false, 'other servers stay enabled');
    });
  }

  it("refuses a server named 'all' and unsafe server names", () => {
    const { config } = load(
      `${GLOBAL}[all]\nconninfo = host=a\nssh_command = ssh a\n[../x]\nconninfo = host=a\nssh_command = ssh a\n`,
    );
    assert.match(errors(config.servers.get('all')!)[0]!, /'all' is a reserved word/);
    assert.match(errors(config.servers.get('../x')!)[0]!, /invalid server name/);
  });

  it('warns (not fails) for an unknown [barman] option and a global-only option in a server section', () => {
    const { config } = load(
      `${GLOBAL}compresion = gzip\n[pg]\nconninfo = host=a\nssh_command = ssh a\nbarman_user = postgres\n`,
    );
    assert.ok(config.problems.some((p) => p.severity === 'warning' && p.option === 'compresion'));
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, false);
    assert.ok(pg.problems.some((p) => p.severity === 'warning' && /global option/.test(p.message)));
  });
});

describe('models and cloud servers', () => {
  it('reads a model section as a model, not a server', () => {
    const { config } = load(
      `${GLOBAL}[pg]\nconninfo = host=a\nssh_command = ssh a\n[pg_fast]\nmodel = true\ncluster = pg\nimmediate_checkpoint = on\n`,
    );
    assert.deepEqual([...config.servers.keys()], ['pg']);
    assert.equal(config.models.get('pg_fast')!.cluster, 'pg');
    assert.equal(config.models.get('pg_fast')!.options.immediate_checkpoint, true);
  });

  it('accepts a local-to-cloud server with S3 locations and AWS options', () => {
    const pg = server(
      `${GLOBAL}[pg]\nbackup_method = local-to-cloud\nbasebackups_directory = s3://my-bucket/barman/\nwals_directory = s3://my-bucket\nconninfo = host=localhost\naws_region = us-west-2\naws_encryption = aws:kms\naws_sse_kms_key_id = key-1\ncloud_upload_max_archive_size = 10GiB\ncompression = zstd\ncompression_level = 3\nbackup_compression = lz4\n`,
    );
    assert.deepEqual(errors(pg), []);
    assert.equal(pg.config.backup_compression, 'lz4');
    assert.deepEqual(pg.config.basebackups_directory, {
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'barman',
      url: 's3://my-bucket/barman',
    });
    assert.equal(pg.config.cloud_upload_max_archive_size, 10 * 1024 ** 3);
    assert.equal(pg.config.compression_level, 3);
  });
});
