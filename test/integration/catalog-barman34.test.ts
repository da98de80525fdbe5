/**
 * A catalogue written by Debian's Barman 3.4 (test/fixtures/barman-3.4, produced by
 * scripts/generate-barman-fixtures.sh) is listed and shown by barman-ts exactly as Barman
 * printed it, console and JSON: list-server, list-backup, show-backup, keep --status,
 * list-files --target wal, get-wal --peek/--test, and their errors.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTempDir, runBarman, writeBarmanConfig } from '../harness/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/', import.meta.url));
/** Barman's barman_home when it printed the outputs: list-files' paths start with the test's own. */
const FIXTURE_HOME = readFileSync(join(FIXTURES, 'outputs', 'BARMAN_HOME'), 'utf8').trim();

/** The servers as the generating script configured them (see the fixture README), in `dir`. */
function writeFixtureConfig(dir: string): string {
  return writeBarmanConfig({
    dir,
    global: { compression: 'gzip', retention_policy: 'REDUNDANCY 3' },
    servers: {
      pg: {
        description: '"fixtures: postgres method + streaming archiver"',
        conninfo: 'host=/tmp user=postgres dbname=postgres',
        backup_method: 'postgres',
        streaming_archiver: 'on',
        slot_name: 'barman_fixtures',
      },
      pgr: {
        description: '"fixtures: local-rsync + archive_command"',
        conninfo: 'host=/tmp user=postgres dbname=postgres',
        backup_method: 'local-rsync',
        archiver: 'on',
      },
    },
  });
}

describe('catalogue written by Barman 3.4', () => {
  let config: string;
  let home: string;
  const expected = (file: string) => {
    const text = readFileSync(join(FIXTURES, 'outputs', file), 'utf8');
    return file.startsWith('list-files') ? text.replaceAll(FIXTURE_HOME, home) : text;
  };

  before(async () => {
    const dir = await makeTempDir('barman34-catalog');
    home = join(dir, 'home');
    cpSync(join(FIXTURES, 'catalog'), home, { recursive: true });
    // The fixture keeps xlog.db, not the WAL: get-wal --peek looks for the files themselves.
    for (const server of ['pg', 'pgr']) {
      for (const line of readFileSync(join(home, server, 'wals/xlog.db'), 'utf8')
        .trim()
        .split('\n')) {
        const name = line.split('\t')[0]!;
        if (!/^[0-9A-F]{24}$/.test(name)) continue;
        const file = join(home, server, 'wals', name.slice(0, 16), name);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, '');
      }
    }
    config = writeFixtureConfig(dir);
  });

  const barman = async (...args: string[]) => {
    const run = await runBarman(['-c', config, ...args]);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stderr, '');
    return run.stdout;
  };

  // Every command the fixture script ran against Barman 3.4 that reads only the catalogue (the
  // others need its PostgreSQL), with its output and exit code.
  const OFFLINE =
    / (list-server|list-backup|show-backup|keep --status|list-files|get-wal|show-server nosuch)( |$)/;
  const captured = readFileSync(join(FIXTURES, 'outputs', 'INDEX.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t') as [string, string, string])
    .filter(([, , command]) => OFFLINE.test(command))
    .map(([name, exitCode, command]) => ({
      name,
      exitCode: Number(exitCode),
      args: command.split(' ').slice(1),
    }));

  it('the fixture has captures of every catalogue command', () => {
    assert.ok(captured.filter(({ args }) => args.includes('show-backup')).length >= 4);
    assert.ok(
      captured.filter(({ args }) => args.includes('list-backup') && args.includes('json')).length >= 2,
    );
    for (const command of ['keep', 'list-files', 'get-wal', 'list-server']) {
      assert.ok(
        captured.some(({ args }) => args.includes(command) && args.includes('json')),
        `${command} -f json`,
      );
    }
  });

  for (const { name, exitCode, args } of captured) {
    it(`'${args.join(' ')}' gives what Barman 3.4 printed`, async () => {
      const run = await runBarman(['-c', config, ...args]);
      assert.equal(run.exitCode, exitCode, run.stderr);
      // JSON: the very text (keys sorted, Python's separators), less Barman's missing final newline.
      if (args.includes('json')) assert.equal(run.stdout, `${expected(name)}\n`);
      else assert.equal(run.stdout, expected(name));
    });
  }

  it('resolves latest, oldest, first and last-failed', async () => {
    const roles = readFileSync(join(FIXTURES, 'backups.tsv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split('\t') as [string, string, string])
      .filter(([server]) => server === 'pg');
    const failed = roles.find(([, , role]) => role.startsWith('failed'))![1];
    const done = roles
      .filter(([, , role]) => role.startsWith('done'))
      .map(([, id]) => id)
      .sort();
    assert.match(await barman('show-backup', 'pg', 'latest'), new RegExp(`^Backup ${done.at(-1)}:`));
    assert.match(await barman('show-backup', 'pg', 'oldest'), new RegExp(`^Backup ${done[0]}:`));
    assert.match(await barman('show-backup', 'pg', 'first'), new RegExp(`^Backup ${done[0]}:`));
    assert.match(await barman('show-backup', 'pg', 'last-failed'), new RegExp(`^Backup ${failed}:`));
  });

  it('names an unknown backup id', async () => {
    const run = await runBarman(['-c', config, 'show-backup', 'pg', '20200101T000000']);
    assert.equal(run.exitCode, 1);
    assert.equal(run.stderr, "ERROR: Unknown backup '20200101T000000' for server 'pg'\n");
  });

  it('lists an unreadable backup.info as unreadable instead of failing', async () => {
    const dir = await makeTempDir('barman34-broken');
    cpSync(join(FIXTURES, 'catalog'), join(dir, 'home'), { recursive: true });
    const ids = (await barman('list-backup', '--minimal', 'pg')).trim().split('\n');
    const [newest, oldest] = [ids[0]!, ids.at(-1)!];
    const broken = join(dir, `home/pg/base/${newest}/backup.info`);
    writeFileSync(broken, readFileSync(broken, 'utf8').replace('status=DONE', 'status DONE'));
    const brokenConfig = writeFixtureConfig(dir);
    const run = await runBarman(['-c', brokenConfig, 'list-backup', 'pg']);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^pg ${newest} - UNREADABLE \\(.*backup\\.info.*line \\d+`, 'm'));
    assert.match(run.stdout, new RegExp(`^pg ${oldest} - \\w{3} \\w{3} [ \\d]\\d `, 'm'));
    assert.match(run.stderr, new RegExp(`WARNING: backup ${newest} of server pg is unreadable`));
  });
});
