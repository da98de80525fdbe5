/**
 * The built `barman` CLI run as a real process: output layouts, JSON, exit codes, logging and
 * redaction, configuration errors, and the switch to barman_user when started as root.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { OsUser } from '../harness/index.js';
import { ensureOsUser, isRoot, makeTempDir, runBarman, writeBarmanConfig } from '../harness/index.js';

const example = (name: string) => fileURLToPath(new URL(`../../../${name}`, import.meta.url));

const USER = isRoot() ? 'root' : process.env.USER!;

describe('barman CLI', () => {
  let dir: string;
  let config: string;
  let barmanUser: OsUser;

  before(async () => {
    barmanUser = await ensureOsUser('barman');
    dir = await makeTempDir('cli');
    config = writeBarmanConfig({
      dir,
      mode: 0o644,
      global: { barman_user: USER, log_level: 'DEBUG' },
      servers: {
        main: {
          description: '"Main cluster"',
          conninfo: 'host=pg user=barman password=hunter2 dbname=postgres',
          ssh_command: 'ssh postgres@pg',
          archiver: 'on',
        },
        broken: {
          description: 'broken one',
          conninfo: 'host=pg',
          ssh_command: 'ssh postgres@pg',
          parallel_jobs: 'many',
          archiver: 'on',
        },
        off: { conninfo: 'host=pg', ssh_command: 'ssh postgres@pg', active: false, archiver: 'on' },
      },
    });
  });

  it('prints the version', async () => {
    const run = await runBarman(['--version']);
    assert.equal(run.exitCode, 0);
    assert.match(run.stdout, /^\d+\.\d+\.\d+\n\nbarman-ts/);
    assert.equal((await runBarman(['-v'])).stdout, run.stdout);
  });

  it("lists servers in Barman's layout, minimal and JSON", async () => {
    const run = await runBarman(['-c', config, 'list-server']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(
      run.stdout,
      'broken - broken one (WARNING: disabled)\nmain - Main cluster\noff -  (inactive)\n',
    );
    const minimal = await runBarman(['-c', config, 'list-servers', '--minimal']);
    assert.equal(minimal.stdout, 'broken\nmain\noff\n');
    // Barman 3.4's document, the flags appended to the description; the same with --minimal.
    const expected =
      '{"broken": {"description": "broken one (WARNING: disabled)"}, "main": {"description": "Main cluster"}, "off": {"description": " (inactive)"}}\n';
    const json = await runBarman(['-c', config, '-f', 'json', 'list-server']);
    assert.equal(json.stdout, expected);
    const minimalJson = await runBarman(['-c', config, '-f', 'json', 'list-server', '--minimal']);
    assert.equal(minimalJson.stdout, expected);
  });

  it('-q prints no result, console or JSON, as Barman 3.4; errors still reach stderr and the exit code', async () => {
    for (const format of ['console', 'json']) {
      const run = await runBarman(['-c', config, '-q', '-f', format, 'list-server']);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.equal(run.stdout, '', format);
      const failed = await runBarman(['-c', config, '-q', '-f', format, 'show-backup', 'main', 'nope']);
      assert.notEqual(failed.exitCode, 0, format);
      assert.equal(failed.stdout, '', format);
      assert.match(failed.stderr, /ERROR: .*nope/, format);
    }
  });

  it('shows every resolved option with derived paths, passwords redacted', async () => {
    const run = await runBarman(['-c', config, 'show-server', 'main']);
    assert.equal(run.exitCode, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.equal(lines[0], 'Server main:');
    assert.ok(lines.includes(`\tincoming_wals_directory: ${dir}/home/main/incoming`));
    assert.ok(lines.includes(`\tbackup_options: BackupOptions({'concurrent_backup'})`));
    assert.ok(lines.includes('\tconninfo: host=pg user=barman password=*** dbname=postgres'));
    assert.ok(lines.includes('\tactive: True'));
    assert.ok(lines.includes('\tretention_policy: None'));
    const keys = lines
      .slice(1)
      .filter(Boolean)
      .map((line) => line.split(':')[0]!.trim());
    assert.deepEqual(keys, [...keys].sort(), 'keys are sorted');
    assert.doesNotMatch(run.stdout + run.stderr, /hunter2/);
  });

  it('shows all servers, including disabled ones with the reasons, and JSON parses', async () => {
    const run = await runBarman(['-c', config, '-f', 'json', 'show-server', 'all']);
    assert.equal(run.exitCode, 0, run.stderr);
    const data = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(data), ['broken', 'main', 'off']);
    assert.equal(data.broken!.disabled, true);
    assert.match(
      String((data.broken!.msg_list as string[])[0]),
      /\[broken\] parallel_jobs: expected an integer, got 'many'/,
    );
    assert.equal(data.main!.parallel_jobs, 1);
    assert.equal(data.main!.conninfo, 'host=pg user=barman password=*** dbname=postgres');
  });

  it('diagnose prints one JSON document with version, configuration, servers and system information', async () => {
    const run = await runBarman(['-c', config, 'diagnose']);
    assert.equal(run.exitCode, 0, run.stderr);
    const data = JSON.parse(run.stdout) as {
      global: { system_info: Record<string, unknown>; config: Record<string, unknown> };
      servers: Record<string, Record<string, Record<string, unknown>>>;
    };
    assert.match(String(data.global.system_info.barman_ver), /^\d+\.\d+\.\d+$/);
    assert.match(String(data.global.system_info.rsync_ver), /rsync/);
    assert.match(
      String(data.global.system_info.timestamp),
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*[+-]\d\d:\d\d$/,
    );
    assert.equal(data.global.config.barman_home, `${dir}/home`);
    assert.deepEqual(data.global.config.errors_list, []);
    // Barman 3.4's layout: per server its configuration, remote status, backups and WAL.
    assert.deepEqual(Object.keys(data.servers), ['broken', 'main', 'off']);
    for (const server of Object.values(data.servers))
      assert.deepEqual(Object.keys(server).sort(), ['backups', 'config', 'status', 'wals']);
    assert.equal(data.servers.broken!.config!.disabled, true);
    assert.equal((data.servers.broken!.config!.msg_list as string[]).length > 0, true);
    assert.equal(data.servers.main!.status!.server_txt_version, null, 'PostgreSQL does not answer');
    assert.doesNotMatch(run.stdout, /hunter2/);
  });

  for (const [name, servers] of [
    ['barman.conf.example', ['pg-encrypted', 'pg-rsync', 'pg-stream']],
    ['barman-local.conf.example', ['pg-cloud', 'pg-local']],
  ] as const) {
    it(`runs the shipped ${name} cleanly, every server enabled`, async () => {
      // Its barman_user ('barman' or 'postgres') and its log_file under /var/log: run it as that
      // user with the log redirected, which is how a packaged install runs it.
      const text = readFileSync(example(name), 'utf8').replace(
        '/var/log/barman/barman.log',
        `${dir}/example-log-${name}/barman.log`,
      );
      const copy = join(dir, name);
      writeFileSync(copy, text);
      chmodSync(copy, 0o644);
      const listed = await runBarman(['-c', copy, 'list-server']);
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.equal(listed.stderr, '');
      assert.deepEqual(
        listed.stdout
          .trimEnd()
          .split('\n')
          .map((line) => line.split(' - ')[0]),
        servers,
      );
      assert.doesNotMatch(listed.stdout, /\((inactive|WARNING: disabled)\)/);
      for (const args of [
        ['show-server', 'all'],
        ['-f', 'json', 'show-server', 'all'],
      ]) {
        const run = await runBarman(['-c', copy, ...args]);
        assert.equal(run.exitCode, 0, run.stderr);
        assert.equal(run.stderr, '', `${args.join(' ')} wrote to stderr`);
        if (args[0] !== '-f') continue;
        const shown = JSON.parse(run.stdout) as Record<string, { disabled: boolean; msg_list: string[] }>;
        assert.deepEqual(Object.keys(shown), servers);
        for (const server of servers) {
          assert.equal(shown[server]!.disabled, false, server);
          assert.deepEqual(shown[server]!.msg_list, [], server);
        }
      }
    });
  }

  it('writes large outputs to a pipe completely before exiting', async () => {
    const servers = Object.fromEntries(
      Array.from({ length: 150 }, (_, i) => [
        `srv${i}`,
        {
          conninfo: `host=pg${i} user=barman dbname=postgres`,
          ssh_command: `ssh postgres@pg${i}`,
          archiver: 'on',
        },
      ]),
    );
    const many = writeBarmanConfig({
      dir,
      file: 'many.conf',
      mode: 0o644,
      global: { barman_user: USER, log_file: null },
      servers,
    });
    const run = await runBarman(['-c', many, '-f', 'json', 'show-server', 'all']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(run.stdout.length > 256 * 1024, `output is large (${run.stdout.length} bytes)`);
    assert.equal(Object.keys(JSON.parse(run.stdout) as object).length, 150);
  });

  describe('errors and exit codes', () => {
    it('exits 2 on usage errors: no command, unknown command or option, all mixed with names', async () => {
      for (const args of [
        [],
        ['bogus'],
        ['-c', config, 'list-server', '--wat'],
        ['-f', 'xml', 'list-server'],
      ]) {
        const run = await runBarman(args);
        assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stderr}`);
        assert.match(run.stderr, /ERROR: /);
      }
      const mixed = await runBarman(['-c', config, 'show-server', 'all', 'main']);
      assert.equal(mixed.exitCode, 2);
      assert.match(mixed.stderr, /ERROR: You cannot use 'all' with other server names/);
    });

    it('exits 1 naming an unknown server', async () => {
      const run = await runBarman(['-c', config, 'show-server', 'main', 'nope']);
      assert.equal(run.exitCode, 1);
      assert.equal(run.stderr, "ERROR: Unknown server 'nope'\n");
      assert.match(run.stdout, /^Server main:/);
    });

    it('names a missing configuration file', async () => {
      const run = await runBarman(['-c', join(dir, 'missing.conf'), 'list-server']);
      assert.equal(run.exitCode, 1);
      assert.equal(run.stderr, `ERROR: Configuration file '${join(dir, 'missing.conf')}' does not exist\n`);
      const fromEnv = await runBarman(['list-server'], { env: { BARMAN_CONFIG_FILE: config } });
      assert.equal(fromEnv.exitCode, 0);
    });

    it('reports a configuration without barman_home without a stack trace', async () => {
      const file = writeBarmanConfig({
        dir,
        file: 'nohome.conf',
        global: { barman_user: null, barman_home: null, log_file: null, log_level: 'INFO' },
      });
      const run = await runBarman(['-c', file, 'list-server']);
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /^ERROR: \[barman\] barman_home: required option 'barman_home' is not set/);
      assert.doesNotMatch(run.stderr, /at .*\.js:\d+/);
    });
  });

  describe('logging', () => {
    it('writes JSON lines to log_file with secrets redacted', async () => {
      await runBarman(['-c', config, 'show-server', 'main', 'nope']);
      const lines = readFileSync(join(dir, 'log/barman.log'), 'utf8').trim().split('\n');
      const entries = lines.map((line) => JSON.parse(line) as { level: string; msg: string; pid: number });
      assert.ok(entries.some((entry) => entry.level === 'error' && entry.msg === "Unknown server 'nope'"));
      assert.ok(entries.some((entry) => entry.level === 'debug' && entry.msg === 'command: show-server'));
      assert.doesNotMatch(lines.join('\n'), /hunter2/);
    });
  });

  describe('run-as user (the test suite runs as root)', () => {
    it('switches from root to barman_user before any work, creating the log directory for it', async () => {
      const home = await makeTempDir('runas', { owner: 'barman' });
      const file = writeBarmanConfig({
        dir: home,
        mode: 0o644,
        global: { barman_user: 'barman', log_file: `${home}/log/sub/barman.log` },
      });
      const run = await runBarman(['-c', file, 'diagnose']);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.equal(run.stderr, '');
      const info = (JSON.parse(run.stdout) as { global: { system_info: { user: string } } }).global
        .system_info;
      assert.equal(info.user, 'barman');
      const log = statSync(join(home, 'log/sub/barman.log'));
      assert.equal(log.uid, barmanUser.uid);
      assert.equal(statSync(join(home, 'log/sub')).uid, barmanUser.uid);
    });

    it('stops with a clear error for an unknown barman_user', async () => {
      const file = writeBarmanConfig({
        dir: await makeTempDir('runas'),
        mode: 0o644,
        global: { barman_user: 'no_such_user_x', barman_home: '/tmp/x', log_file: null },
      });
      const run = await runBarman(['-c', file, 'list-server']);
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /^ERROR: the configured user 'no_such_user_x' does not exist\nHINT: /);
    });

    it('refuses to run as another non-root user', async () => {
      const file = writeBarmanConfig({
        dir: await makeTempDir('runas'),
        mode: 0o644,
        global: { barman_user: 'postgres', barman_home: '/tmp/x', log_file: null },
      });
      const run = await runBarman(['-c', file, 'list-server'], { user: 'barman' });
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /^ERROR: please run barman as 'postgres' user \(running as 'barman'\)/);
    });

    it('reports a configuration file it cannot read', async () => {
      const secret = writeBarmanConfig({
        dir: await makeTempDir('runas'),
        file: 'secret.conf',
        global: { barman_user: null, barman_home: '/tmp/x', log_file: null },
      });
      const run = await runBarman(['-c', secret, 'list-server'], { user: 'barman' });
      assert.equal(run.exitCode, 1);
      assert.equal(run.stderr, `ERROR: Cannot read configuration file '${secret}': permission denied\n`);
    });
  });
});
