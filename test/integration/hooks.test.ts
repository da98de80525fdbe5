/**
 * Hook scripts through the real CLI: pre/post archive scripts around archive-wal of real
 * PostgreSQL 15 WAL segments (order, BARMAN_* variables, a stop request from the pre retry
 * script), and the delete and wal_delete scripts on a copy of the Barman 3.4 catalogue.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PostgresServer } from '../harness/index.js';
import {
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  waitFor,
  writeBarmanConfig,
} from '../harness/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/', import.meta.url));

type HookVars = Record<string, string>;

/**
 * Writes `record.mjs`: appends the BARMAN_* variables it was run with as one JSON line to
 * `journal`, prints a line (for the log), and exits with its second argument.
 */
function writeRecorder(dir: string): { journal: string; command: (exitCode?: number) => string } {
  const script = join(dir, 'record.mjs');
  const journal = join(dir, 'journal');
  writeFileSync(
    script,
    `import { appendFileSync } from 'node:fs';
const vars = Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('BARMAN_')).sort());
appendFileSync(process.argv[2], JSON.stringify(vars) + '\\n');
console.log('hook recorded ' + process.env.BARMAN_HOOK + ' ' + process.env.BARMAN_PHASE);
process.exit(Number(process.argv[3] ?? 0));
`,
  );
  return {
    journal,
    command: (exitCode = 0) => `"${process.execPath}" ${script} ${journal} ${exitCode}`,
  };
}

function readJournal(journal: string): HookVars[] {
  if (!existsSync(journal)) return [];
  return readFileSync(journal, 'utf8')
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as HookVars);
}

const ARCHIVE_HOOKS = [
  'pre_archive_script',
  'pre_archive_retry_script',
  'post_archive_retry_script',
  'post_archive_script',
];

describe('archive hook scripts around archive-wal of real WAL segments', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let staging: string;
  let config: string;
  let recorder: ReturnType<typeof writeRecorder>;
  const segments: string[] = [];

  const home = () => join(dir, 'home');
  const incoming = () => join(home(), 'main/incoming');
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const writeConfig = (hooks: Record<string, string>) =>
    writeBarmanConfig({
      dir,
      global: { log_file: `${dir}/barman.log`, compression: 'gzip' },
      servers: {
        main: {
          conninfo: 'host=127.0.0.1 user=postgres dbname=postgres',
          backup_method: 'local-rsync',
          archiver: 'on',
          ...hooks,
        },
      },
    });
  const deliver = (...names: string[]) => {
    mkdirSync(incoming(), { recursive: true });
    for (const name of names) copyFileSync(join(staging, name), join(incoming(), name));
  };

  before(async () => {
    dir = await makeTempDir('hooks-archive', { owner: 'postgres' });
    staging = join(dir, 'staging');
    mkdirSync(staging);
    await chownTo(staging, 'postgres');
    config = join(dir, 'barman.conf');
    recorder = writeRecorder(dir);
    pg = await startPostgres({ version: 15, archiveCommand: `cp %p ${staging}/%f` });
    await pg.query('create table t (id int)');
    for (let i = 0; i < 5; i += 1) {
      await pg.query('insert into t select generate_series(1, 5000)');
      const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
      segments.push(row!.name);
      await waitFor(`${row!.name} archived`, () => {
        try {
          return readFileSync(join(staging, row!.name)).length === 16 * 1024 * 1024;
        } catch {
          return false;
        }
      });
    }
  });

  after(async () => {
    await pg?.stop();
  });

  beforeEach(() => {
    writeFileSync(recorder.journal, '');
  });

  it('runs pre_script, pre_retry_script, post_retry_script, post_script around each file, with its variables', async () => {
    writeConfig(Object.fromEntries(ARCHIVE_HOOKS.map((key) => [key, recorder.command()])));
    const [first, second] = segments;
    deliver(first!, second!);
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(
      run.stdout,
      `Processing xlog segments from file archival for main\n\t${first}\n\t${second}\n`,
    );
    assert.equal(run.stderr, '');

    const calls = readJournal(recorder.journal);
    assert.deepEqual(
      calls.map(
        (vars) => `${vars.BARMAN_SEGMENT} ${vars.BARMAN_PHASE} ${vars.BARMAN_HOOK} ${vars.BARMAN_RETRY}`,
      ),
      [first, second].flatMap((name) => [
        `${name} pre archive_script 0`,
        `${name} pre archive_retry_script 1`,
        `${name} post archive_retry_script 1`,
        `${name} post archive_script 0`,
      ]),
    );
    const version = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const vars of calls) {
      assert.equal(vars.BARMAN_SERVER, 'main');
      assert.equal(vars.BARMAN_CONFIGURATION, config);
      assert.equal(vars.BARMAN_VERSION, version.version);
      assert.equal(vars.BARMAN_ERROR, '');
      assert.match(vars.BARMAN_TIMESTAMP!, /^\d{10}\.\d+$/);
    }
    const pre = calls[0]!;
    assert.equal(pre.BARMAN_FILE, join(incoming(), first!));
    assert.equal(pre.BARMAN_SIZE, String(16 * 1024 * 1024));
    assert.equal(pre.BARMAN_COMPRESSION, '');
    const post = calls[3]!;
    const stored = join(home(), 'main/wals', first!.slice(0, 16), first!);
    assert.equal(post.BARMAN_FILE, stored);
    assert.equal(post.BARMAN_COMPRESSION, 'gzip');
    assert.equal(post.BARMAN_SIZE, String(readFileSync(stored).length));
    const line = readFileSync(join(home(), 'main/wals/xlog.db'), 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith(`${first}\t`))!
      .split('\t');
    assert.equal(post.BARMAN_SIZE, line[1]);
    assert.equal(Number(post.BARMAN_TIMESTAMP), Number(line[2]));

    const log = readFileSync(join(dir, 'barman.log'), 'utf8');
    assert.match(log, /hook recorded archive_retry_script post/, 'hook output is logged');
  });

  it('post scripts get BARMAN_ERROR for a rejected file', async () => {
    writeConfig({ pre_archive_script: recorder.command(), post_archive_script: recorder.command() });
    mkdirSync(incoming(), { recursive: true });
    writeFileSync(join(incoming(), '0000000100000000000000F0'), 'not a WAL segment at all');
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /0000000100000000000000F0 rejected: not a WAL segment/);
    const [pre, post] = readJournal(recorder.journal);
    assert.equal(pre!.BARMAN_FILE, join(incoming(), '0000000100000000000000F0'));
    assert.equal(pre!.BARMAN_ERROR, '');
    assert.equal(post!.BARMAN_PHASE, 'post');
    assert.match(
      post!.BARMAN_ERROR!,
      /^not a WAL segment: .*; moved to .*\/errors\/0000000100000000000000F0\./,
    );
  });

  it('exit 63 from pre_archive_retry_script stops the batch: the rest stays in incoming/', async () => {
    const [, , third, fourth, fifth] = segments;
    const stopper = join(dir, 'stop-at.sh');
    writeFileSync(stopper, `[ "$BARMAN_SEGMENT" = "${fourth}" ] && exit 63\nexit 0\n`);
    writeConfig({
      pre_archive_script: recorder.command(),
      pre_archive_retry_script: `sh ${stopper}`,
      post_archive_script: recorder.command(),
    });
    deliver(third!, fourth!, fifth!);
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, `Processing xlog segments from file archival for main\n\t${third}\n`);
    assert.equal(
      run.stderr,
      `WARNING: Archiving of ${fourth} for server main stopped: pre_archive_retry_script requested to stop ` +
        `(exit status 63). ${fourth} and the files after it stay in ${incoming()}\n`,
    );
    assert.deepEqual(readdirSync(incoming()).sort(), [fourth, fifth]);
    const xlog = readFileSync(join(home(), 'main/wals/xlog.db'), 'utf8');
    assert.ok(xlog.includes(`${third}\t`) && !xlog.includes(`${fourth}\t`));
    const calls = readJournal(recorder.journal);
    assert.deepEqual(
      calls.map((vars) => `${vars.BARMAN_SEGMENT} ${vars.BARMAN_PHASE} ${vars.BARMAN_ERROR}`),
      [
        `${third} pre `,
        `${third} post `,
        `${fourth} pre `,
        `${fourth} post pre_archive_retry_script requested to stop (exit status 63)`,
      ],
    );

    // Without the stop request the next run archives the rest.
    writeConfig({ post_archive_script: recorder.command() });
    const rerun = await barman('archive-wal', 'main');
    assert.equal(rerun.exitCode, 0, rerun.stderr);
    assert.equal(
      rerun.stdout,
      `Processing xlog segments from file archival for main\n\t${fourth}\n\t${fifth}\n`,
    );
    assert.deepEqual(readdirSync(incoming()), []);
  });

  it('without hook options nothing is run and the output is unchanged', async () => {
    writeConfig({});
    const run = await barman('archive-wal', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout, '');
    assert.deepEqual(readJournal(recorder.journal), []);
  });
});

describe('delete and wal_delete hook scripts on a Barman 3.4 catalogue', { concurrency: 1 }, () => {
  const ROLES = readFileSync(join(FIXTURES, 'backups.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t') as [string, string, string]);
  const id = (role: string) => ROLES.find(([server, , name]) => server === 'pg' && name.startsWith(role))![1];
  const KEPT = id('done-tablespace-keep-standalone');
  const FAILED = id('failed');
  const NAMED = id('done-named');

  let dir: string;
  let config: string;
  let recorder: ReturnType<typeof writeRecorder>;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const writeConfig = (hooks: Record<string, string>) =>
    writeBarmanConfig({
      dir,
      global: { log_file: `${dir}/barman.log`, compression: 'gzip', ...hooks },
      servers: {
        pg: {
          conninfo: 'host=/tmp user=postgres dbname=postgres',
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman_fixtures',
        },
      },
    });

  beforeEach(async () => {
    dir = await makeTempDir('hooks-delete');
    cpSync(join(FIXTURES, 'catalog'), join(dir, 'home'), { recursive: true });
    config = join(dir, 'barman.conf');
    recorder = writeRecorder(dir);
  });

  it('delete scripts get the backup variables; wal_delete scripts run around each WAL file removed', async () => {
    const xlog = new Map(
      readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split('\t'))
        .map((fields) => [fields[0]!, fields]),
    );
    writeConfig({
      pre_delete_script: recorder.command(),
      pre_delete_retry_script: recorder.command(),
      post_delete_retry_script: recorder.command(),
      post_delete_script: recorder.command(3),
      pre_wal_delete_script: recorder.command(),
      post_wal_delete_retry_script: recorder.command(),
    });
    assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
    const run = await barman('delete', 'pg', KEPT);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stderr, `WARNING: post_delete_script returned 3: hook recorded delete_script post\n`);
    const removed = [...run.stdout.matchAll(/^\t(\w{24})$/gm)].map((match) => match[1]!);
    assert.ok(removed.length > 0);

    const calls = readJournal(recorder.journal);
    assert.deepEqual(
      calls.map(
        (vars) =>
          `${vars.BARMAN_PHASE} ${vars.BARMAN_HOOK}${vars.BARMAN_SEGMENT ? ` ${vars.BARMAN_SEGMENT}` : ''}`,
      ),
      [
        'pre delete_script',
        'pre delete_retry_script',
        ...removed.flatMap((name) => [
          `pre wal_delete_script ${name}`,
          `post wal_delete_retry_script ${name}`,
        ]),
        'post delete_retry_script',
        'post delete_script',
      ],
    );
    const backupCalls = calls.filter((vars) => vars.BARMAN_HOOK!.startsWith('delete'));
    for (const vars of backupCalls) {
      assert.equal(vars.BARMAN_BACKUP_ID, KEPT);
      assert.equal(vars.BARMAN_BACKUP_DIR, join(dir, 'home/pg/base', KEPT));
      assert.equal(vars.BARMAN_BACKUP_INFO_PATH, join(dir, 'home/pg/base', KEPT, 'backup.info'));
      assert.equal(vars.BARMAN_PREVIOUS_ID, '');
      assert.equal(vars.BARMAN_NEXT_ID, NAMED, 'the FAILED backup in between is skipped');
      assert.equal(vars.BARMAN_STATUS, 'DONE');
      assert.equal(vars.BARMAN_ERROR, '');
      assert.equal(vars.BARMAN_SERVER, 'pg');
      assert.equal(vars.BARMAN_CONFIGURATION, config);
    }
    for (const vars of calls.filter((entry) => entry.BARMAN_HOOK!.startsWith('wal_delete'))) {
      const name = vars.BARMAN_SEGMENT!;
      const fields = xlog.get(name)!;
      assert.equal(vars.BARMAN_FILE, join(dir, 'home/pg/wals', name.slice(0, 16), name));
      assert.equal(vars.BARMAN_SIZE, fields[1]);
      assert.equal(vars.BARMAN_TIMESTAMP, fields[2], 'the xlog.db timestamp, as Python prints it');
      assert.equal(vars.BARMAN_COMPRESSION, fields[3]);
      assert.equal(vars.BARMAN_ERROR, '');
    }
  });

  it('a FAILED backup: its status and error, previous and next DONE backups', async () => {
    writeConfig({ pre_delete_script: recorder.command(), post_delete_script: recorder.command() });
    const run = await barman('delete', 'pg', FAILED);
    assert.equal(run.exitCode, 0, run.stderr);
    const calls = readJournal(recorder.journal);
    assert.deepEqual(
      calls.map((vars) => vars.BARMAN_PHASE),
      ['pre', 'post'],
    );
    for (const vars of calls) {
      assert.equal(vars.BARMAN_BACKUP_ID, FAILED);
      assert.equal(vars.BARMAN_STATUS, 'FAILED');
      assert.equal(vars.BARMAN_PREVIOUS_ID, KEPT);
      assert.equal(vars.BARMAN_NEXT_ID, NAMED);
      assert.match(vars.BARMAN_ERROR!, /^failure copying files \(data transfer failure on directory/);
    }
  });

  it('exit 63 from pre_delete_retry_script aborts the deletion', async () => {
    writeConfig({ pre_delete_retry_script: 'exit 63', post_delete_script: recorder.command() });
    const run = await barman('delete', 'pg', FAILED);
    assert.equal(run.exitCode, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'ERROR: pre_delete_retry_script requested to stop (exit status 63)\n');
    assert.ok(existsSync(join(dir, 'home/pg/base', FAILED, 'backup.info')));
    assert.deepEqual(readJournal(recorder.journal), [], 'no post script after an aborted deletion');
  });
});
