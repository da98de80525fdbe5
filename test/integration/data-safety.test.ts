/**
 * The catalogue is never the victim: a recovery may not write into barman_home or any server's
 * directories (PostgreSQL 15 backups), retention and WAL clean-up stop on a catalogue they could
 * not read completely (Barman 3.4's catalogue, local and in s3rver), and two servers sharing a
 * directory or an s3:// prefix are both disabled.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IniSection, PostgresServer, S3Server } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startS3Server,
  writeBarmanConfig,
} from '../harness/index.js';
import { S3Storage } from '../../src/storage/s3/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/catalog/pg', import.meta.url));

/** Every entry under `roots` with its type, mode, size and content hash (or link target). */
function treeDigest(...roots: string[]): string {
  const lines: string[] = [];
  const walk = (path: string): void => {
    const info = lstatSync(path, { throwIfNoEntry: false });
    if (!info) return void lines.push(`${path} missing`);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) lines.push(`${path} link ${readlinkSync(path)}`);
    else if (info.isFile())
      lines.push(`${path} file ${mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    else if (info.isDirectory()) {
      lines.push(`${path} dir ${mode}`);
      for (const name of readdirSync(path).sort()) walk(join(path, name));
    } else lines.push(`${path} other`);
  };
  for (const root of roots) walk(root);
  return lines.join('\n');
}

describe('recovery never writes into the catalogue', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  let home: string;
  let config: string;
  let backupId: string;
  let freshBackup: { exitCode: number | null; stdout: string; stderr: string };
  let freshWalBefore: string[];
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
  /** Everything barman-ts keeps: barman_home, the lock directory, the server outside barman_home. */
  const catalogue = () =>
    treeDigest(home, join(dir, 'locks'), join(dir, 'elsewhere'), join(dir, 'elsewhere-wals'));
  const xlogNames = (server: string) =>
    readFileSync(join(home, server, 'wals/xlog.db'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('\t')[0]!);

  before(async () => {
    dir = await makeTempDir('data-safety-recover', { owner: 'postgres' });
    home = join(dir, 'home');
    config = join(dir, 'barman.conf');
    for (const sub of ['home', 'locks', 'elsewhere', 'elsewhere-wals', 'tbs', 'recovered', 'log']) {
      mkdirSync(join(dir, sub));
      await chownTo(join(dir, sub), 'postgres');
    }
    const putWal = (server: string) =>
      `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal ${server} --file %p`;
    pg = await startPostgres({ version: 15, archiveCommand: `${putWal('main')} && ${putWal('fresh')}` });
    const server = (options: IniSection = {}): IniSection => ({
      conninfo: pg.conninfo,
      backup_method: 'local-rsync',
      immediate_checkpoint: true,
      archiver: true,
      path_prefix: '/usr/lib/postgresql/15/bin',
      ...options,
    });
    writeBarmanConfig({
      dir,
      mode: 0o644, // archive_command, run as postgres, reads it
      global: {
        barman_user: 'postgres',
        barman_home: home,
        barman_lock_directory: `${dir}/locks`,
        compression: 'gzip',
      },
      servers: {
        main: server(),
        fresh: server(),
        elsewhere: server({ backup_directory: `${dir}/elsewhere`, wals_directory: `${dir}/elsewhere-wals` }),
      },
    });
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE items TABLESPACE tbs1 AS SELECT g AS id FROM generate_series(1, 1000) g');
    let run = await barman('switch-wal', '--force', '--archive', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    run = await barman('backup', '--wait', 'main');
    assert.equal(run.exitCode, 0, run.stderr);
    backupId = readdirSync(join(home, 'main/base'))[0]!;

    // `fresh` has WAL archived before its first backup, and a backup.info nobody can read: the
    // first backup's clean-up of older WAL must not run on such a catalogue.
    mkdirSync(join(home, 'fresh/base/20000101T000000'), { recursive: true });
    writeFileSync(join(home, 'fresh/base/20000101T000000/backup.info'), 'garbage, not key=value\n');
    for (const path of ['fresh', 'fresh/base', 'fresh/base/20000101T000000'])
      await chownTo(join(home, path), 'postgres');
    run = await barman('archive-wal', 'fresh');
    assert.equal(run.exitCode, 0, run.stderr);
    freshWalBefore = xlogNames('fresh');
    assert.ok(freshWalBefore.length > 0);
    freshBackup = await barman('backup', '--wait', 'fresh');
    // Recovery needs no running server, and a stopped one keeps the catalogue still.
    await pg.stop();
  });

  after(async () => {
    await pg?.stop();
  });

  it('refuses the stored backup itself, even with --delta-restore, and writes nothing', async () => {
    const data = join(home, 'main/base', backupId, 'data');
    const before = catalogue();
    const run = await barman(
      'recover',
      '--delta-restore',
      'main',
      backupId,
      data,
      '--tablespace',
      `tbs1:${dir}/recovered/tbs-delta`,
    );
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stderr,
      new RegExp(
        `ERROR: recovery destination ${data} is inside basebackups_directory of server 'main' \\(${home}/main/base\\)`,
      ),
    );
    assert.doesNotMatch(run.stderr, /internal error|\n\s+at /);
    assert.equal(catalogue(), before, 'nothing under barman_home changed');
    assert.ok(!existsSync(`${dir}/recovered/tbs-delta`));
  });

  it('refuses incoming/ (archive-wal would sweep the copy into errors/) without creating anything', async () => {
    const destination = join(home, 'main/incoming/restored');
    const before = catalogue();
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${dir}/recovered/tbs-incoming`,
    );
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stderr,
      new RegExp(`recovery destination ${destination} is inside incoming_wals_directory of server 'main'`),
    );
    assert.ok(!existsSync(destination));
    assert.equal(catalogue(), before);
  });

  it('refuses every catalogue directory, through symbolic links and "..", and any parent of barman_home', async () => {
    const link = join(dir, 'recovered/link-to-wals');
    symlinkSync(join(home, 'main/wals'), link);
    const cases: Array<{ destination: string; options?: string[]; collides: RegExp }> = [
      { destination: home, options: ['--delta-restore'], collides: /is inside barman_home/ },
      { destination: join(home, 'main'), collides: /is inside backup_directory of server 'main'/ },
      { destination: join(home, 'main/wals/x'), collides: /is inside wals_directory of server 'main'/ },
      { destination: join(home, 'main/errors/x'), collides: /is inside errors_directory of server 'main'/ },
      {
        destination: join(home, 'main/streaming/x'),
        collides: /is inside streaming_wals_directory of server 'main'/,
      },
      {
        destination: join(home, 'fresh/base'),
        collides: /is inside basebackups_directory of server 'fresh'/,
      },
      { destination: join(home, 'other'), collides: /is inside barman_home/ },
      { destination: join(dir, 'locks/pgdata'), collides: /is inside barman_lock_directory/ },
      {
        destination: join(dir, 'elsewhere-wals/pgdata'),
        collides: /is inside wals_directory of server 'elsewhere'/,
      },
      { destination: join(dir, 'elsewhere'), collides: /is inside backup_directory of server 'elsewhere'/ },
      { destination: join(link, 'pgdata'), collides: /is inside wals_directory of server 'main'/ },
      {
        destination: join(dir, 'recovered/../home/main/base/new'),
        collides: /is inside basebackups_directory of server 'main'/,
      },
      { destination: dir, options: ['--delta-restore'], collides: /contains barman_home/ },
    ];
    const before = catalogue();
    for (const { destination, options = [], collides } of cases) {
      const run = await barman(
        'recover',
        ...options,
        'main',
        backupId,
        destination,
        '--tablespace',
        `tbs1:${dir}/recovered/tbs-refused`,
      );
      assert.equal(run.exitCode, 1, `${destination}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, new RegExp(`ERROR: recovery destination ${destination} `), destination);
      assert.match(run.stderr, collides, destination);
      assert.match(run.stderr, /HINT: /);
      assert.equal(catalogue(), before, `${destination}: nothing under barman_home changed`);
    }
    assert.ok(!existsSync(`${dir}/recovered/tbs-refused`));
    // --dry-run says so too: its plan must not promise what the recovery would refuse.
    const dry = await barman('recover', '--dry-run', 'main', backupId, join(home, 'main/wals/x'));
    assert.equal(dry.exitCode, 1);
    assert.match(dry.stderr, /is inside wals_directory of server 'main'/);
  });

  it('refuses a tablespace location and a staging directory inside the catalogue', async () => {
    const destination = join(dir, 'recovered/tbs-case');
    const before = catalogue();
    let run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${home}/main/wals/tbs1`,
    );
    assert.equal(run.exitCode, 1, run.stdout);
    assert.match(
      run.stderr,
      new RegExp(
        `tablespace 'tbs1' location ${home}/main/wals/tbs1 is inside wals_directory of server 'main'`,
      ),
    );
    for (const staging of [
      join(home, 'main/base'),
      join(home, 'main/incoming/stage'),
      join(home, 'fresh/wals'),
    ]) {
      run = await barman(
        'recover',
        '--recovery-staging-path',
        staging,
        'main',
        backupId,
        destination,
        '--tablespace',
        `tbs1:${dir}/recovered/tbs-case-tbs`,
      );
      assert.equal(run.exitCode, 1, `${staging}: ${run.stdout}`);
      assert.match(
        run.stderr,
        new RegExp(`recovery staging directory ${staging} \\(--recovery-staging-path\\) is inside`),
      );
    }
    assert.ok(!existsSync(destination));
    assert.equal(catalogue(), before);
  });

  it('still recovers outside the catalogue, with the default staging directory under the server directory', async () => {
    const destination = join(dir, 'recovered/ok');
    const run = await barman(
      'recover',
      'main',
      backupId,
      destination,
      '--tablespace',
      `tbs1:${dir}/recovered/ok-tbs`,
    );
    assert.equal(run.exitCode, 0, run.stderr);
    assert.ok(existsSync(join(destination, 'PG_VERSION')));
  });

  it("the first backup's clean-up of older WAL does not run next to an unreadable backup.info", () => {
    assert.equal(freshBackup.exitCode, 0, freshBackup.stderr + freshBackup.stdout);
    const after = xlogNames('fresh');
    assert.deepEqual(
      freshWalBefore.filter((name) => !after.includes(name)),
      [],
      'every WAL file archived before the backup is still catalogued',
    );
    assert.match(
      freshBackup.stderr,
      /WARNING: .*WAL files older than this backup are kept: .*20000101T000000\/backup\.info/,
    );
    assert.doesNotMatch(freshBackup.stdout, /has been removed/);
  });
});

describe(
  'retention and WAL clean-up stop on a catalogue they cannot read completely',
  { concurrency: 1 },
  () => {
    let dir: string;
    let config: string;
    // The fixture's backups, oldest first: A (DONE, kept), a FAILED one, C (DONE). B is made here
    // between them from C's backup.info, and C is moved two segments on, so that A, B and C need
    // three different WAL ranges.
    const [A, FAILED, C] = readdirSync(join(FIXTURES, 'base')).sort() as [string, string, string];
    const B = `${C.slice(0, -2)}${String(Number(C.slice(-2)) - 1).padStart(2, '0')}`;
    assert.ok(FAILED < B && B < C, `fixture ids ${FAILED} < ${B} < ${C}`);
    const beginWal = (id: string) =>
      /^begin_wal=(\w+)$/m.exec(readFileSync(join(FIXTURES, 'base', id, 'backup.info'), 'utf8'))![1]!;
    const shift = (wal: string, by: number) =>
      wal.slice(0, 16) + (parseInt(wal.slice(16), 16) + by).toString(16).toUpperCase().padStart(8, '0');
    const A_WAL = beginWal(A);
    const C_WAL = beginWal(C);
    const MOVED_C_WAL = shift(C_WAL, 2);
    const barman = (...args: string[]) => runBarman(['-c', config, ...args]);

    /** A Barman 3.4 catalogue with three DONE backups and a WAL file behind every xlog.db line. */
    function makeCatalogue(root: string): void {
      cpSync(FIXTURES, root, { recursive: true });
      rmSync(join(root, 'base', A, 'annotations'), { recursive: true });
      rmSync(join(root, 'base', FAILED), { recursive: true });
      const info = readFileSync(join(root, 'base', C, 'backup.info'), 'utf8');
      mkdirSync(join(root, 'base', B));
      writeFileSync(join(root, 'base', B, 'backup.info'), info);
      const cLsn = `0/${C_WAL.slice(-1)}000028`;
      assert.ok(info.includes(cLsn), `C's begin_xlog is ${cLsn}`);
      writeFileSync(
        join(root, 'base', C, 'backup.info'),
        info.replaceAll(C_WAL, MOVED_C_WAL).replace(cLsn, `0/${MOVED_C_WAL.slice(-1)}000028`),
      );
      mkdirSync(join(root, 'wals/0000000100000000'));
      for (const sub of ['incoming', 'streaming', 'errors']) mkdirSync(join(root, sub));
      for (const line of readFileSync(join(root, 'wals/xlog.db'), 'utf8').trim().split('\n'))
        writeFileSync(join(root, 'wals/0000000100000000', line.split('\t')[0]!), 'compressed WAL');
    }

    beforeEach(async () => {
      dir = await makeTempDir('data-safety-retention');
      makeCatalogue(join(dir, 'home/pg'));
      makeCatalogue(join(dir, 'home/tidy'));
      const server: IniSection = {
        conninfo: 'host=/nonexistent user=postgres dbname=postgres',
        backup_method: 'postgres',
        archiver: true,
      };
      config = writeBarmanConfig({
        dir,
        global: { log_file: null, retention_policy: 'REDUNDANCY 1' },
        servers: { pg: server, tidy: server },
      });
    });

    it('cron skips the server whose backup.info is unreadable, deletes nothing there, and carries on with the others', async () => {
      const unreadable = join(dir, 'home/pg/base', B, 'backup.info');
      writeFileSync(unreadable, 'garbage line without equals\n');
      const before = treeDigest(join(dir, 'home/pg'));
      const run = await barman('cron');
      assert.equal(run.exitCode, 1, run.stdout);
      assert.match(
        run.stderr,
        new RegExp(
          `ERROR: .*server 'pg'.*retention policy not applied: the catalogue could not be read completely: ${unreadable}`,
        ),
      );
      assert.match(run.stderr, /HINT: .*repair .*or move .* away/);
      assert.equal(treeDigest(join(dir, 'home/pg')), before, 'no backup and no WAL file of pg removed');
      // The other server's retention ran: its two older backups went, with the WAL only they needed.
      assert.match(
        run.stdout,
        new RegExp(`Enforcing retention policy: removing backup ${A} for server tidy`),
      );
      assert.deepEqual(readdirSync(join(dir, 'home/tidy/base')), [C]);
      assert.ok(existsSync(join(dir, 'home/tidy/wals/0000000100000000', MOVED_C_WAL)));
      assert.ok(!existsSync(join(dir, 'home/tidy/wals/0000000100000000', A_WAL)));
    });

    it('delete refuses while any backup.info is unreadable, even one it would not touch', async () => {
      const unreadable = join(dir, 'home/pg/base', B, 'backup.info');
      writeFileSync(unreadable, 'status=DONE\nbegin_wal=[unterminated\n');
      const before = treeDigest(join(dir, 'home/pg'));
      for (const target of [A, B]) {
        const run = await barman('delete', 'pg', target);
        assert.equal(run.exitCode, 1, run.stdout);
        assert.match(run.stderr, new RegExp(`the catalogue could not be read completely: ${unreadable}`));
        assert.doesNotMatch(run.stdout, /Deleting backup/);
        assert.equal(treeDigest(join(dir, 'home/pg')), before);
      }
    });

    it('a damaged xlog.db line stops retention and delete (its WAL file would be forgotten)', async () => {
      const xlogDb = join(dir, 'home/pg/wals/xlog.db');
      writeFileSync(
        xlogDb,
        readFileSync(xlogDb, 'utf8').replace(/\n(00000001000000000000000A)\t/, '\n$1 torn\n'),
      );
      const before = treeDigest(join(dir, 'home/pg'));
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 1);
      assert.match(
        cron.stderr,
        new RegExp(`the catalogue could not be read completely: ${xlogDb} line \\d+`),
      );
      const removal = await barman('delete', 'pg', 'oldest');
      assert.equal(removal.exitCode, 1);
      assert.equal(treeDigest(join(dir, 'home/pg')), before);
    });

    describe('a catalogue in object storage', () => {
      let s3: S3Server;
      let storage: S3Storage;
      const BUCKET = 'safety';

      before(async () => {
        s3 = await startS3Server({ buckets: [BUCKET] });
        storage = new S3Storage({
          bucket: BUCKET,
          prefix: '',
          region: 'us-east-1',
          profile: null,
          endpointUrl: s3.endpoint,
          encryption: null,
          kmsKeyId: null,
          readTimeoutMs: 30_000,
          connectTimeoutMs: 5_000,
          maxAttempts: 3,
          partSize: 5 * 1024 * 1024,
          partConcurrency: 2,
          deleteBatchSize: 1000,
        });
        Object.assign(process.env, s3.env);
      });

      after(async () => {
        storage?.destroy();
        await s3?.stop();
      });

      it('cron retention and delete leave every object in place next to an unreadable backup.info', async () => {
        const local = join(dir, 'cloud');
        makeCatalogue(local);
        for (const id of [A, B, C]) {
          const text =
            id === B ? 'garbage line without equals\n' : readFileSync(join(local, 'base', id, 'backup.info'));
          await storage.writeFile(`pg/base/${id}/backup.info`, text);
          await storage.writeFile(`pg/base/${id}/data.tar`, 'tar');
        }
        for (const name of readdirSync(join(local, 'wals/0000000100000000')))
          await storage.writeFile(`pg/wals/0000000100000000/${name}.gz`, 'gzip');
        writeBarmanConfig({
          dir,
          global: {
            log_file: null,
            aws_endpoint_url: s3.endpoint,
            aws_region: 'us-east-1',
            retention_policy: 'REDUNDANCY 1',
          },
          servers: {
            cloudpg: {
              conninfo: 'host=/nonexistent user=postgres dbname=postgres',
              backup_method: 'local-to-cloud',
              basebackups_directory: `s3://${BUCKET}/pg/base`,
              wals_directory: `s3://${BUCKET}/pg/wals`,
            },
          },
        });
        const objects = async () => (await storage.listObjects('')).map((object) => object.path).sort();
        const before = await objects();
        const cron = await barman('cron');
        assert.equal(cron.exitCode, 1, cron.stdout);
        assert.match(
          cron.stderr,
          new RegExp(`the catalogue could not be read completely: s3://${BUCKET}/pg/base/${B}/backup.info`),
        );
        const removal = await barman('delete', 'cloudpg', A);
        assert.equal(removal.exitCode, 1, removal.stdout);
        assert.match(removal.stderr, /the catalogue could not be read completely/);
        assert.deepEqual(await objects(), before);
      });
    });
  },
);

describe('servers sharing a directory are disabled ("Conflicting path")', { concurrency: 1 }, () => {
  let dir: string;
  let config: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const writeConfig = (servers: Record<string, IniSection>, global: IniSection = {}) =>
    writeBarmanConfig({ dir, global: { log_file: null, ...global }, servers });
  const server = (name: string, options: IniSection = {}): IniSection => ({
    description: name,
    conninfo: 'host=/nonexistent user=postgres dbname=postgres',
    backup_method: 'postgres',
    archiver: true,
    ...options,
  });

  beforeEach(async () => {
    dir = await makeTempDir('data-safety-conflicts');
    config = join(dir, 'barman.conf');
    cpSync(FIXTURES, join(dir, 'home/shared'), { recursive: true });
  });

  it('two servers with one backup_directory: both disabled, the others untouched; list-server, show-server, check, list-backup and cron say so', async () => {
    const shared = join(dir, 'home/shared');
    writeConfig({
      alpha: server('alpha', { backup_directory: shared }),
      beta: server('beta', { backup_directory: shared }),
      gamma: server('gamma'),
    });
    const listed = await barman('list-server');
    assert.equal(
      listed.stdout,
      'alpha - alpha (WARNING: disabled)\nbeta - beta (WARNING: disabled)\ngamma - gamma\n',
    );
    const message = (option: string, path: string, own: string, other: string) =>
      `Conflicting path: ${option}=${path} for server '${own}' conflicts with '${option}' for server '${other}'`;
    const shown = await barman('-f', 'json', 'show-server', 'alpha');
    const messages = (JSON.parse(shown.stdout) as { alpha: { msg_list: string[] } }).alpha.msg_list;
    assert.ok(
      messages.some((line) => line.includes(message('backup_directory', shared, 'alpha', 'beta'))),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((line) => line.includes(message('wals_directory', `${shared}/wals`, 'alpha', 'beta'))),
    );
    const checked = await barman('check', 'beta');
    assert.equal(checked.exitCode, 1);
    assert.match(checked.stdout, /Server beta \(WARNING: disabled\):/);
    assert.ok(checked.stdout.includes(message('backup_directory', shared, 'beta', 'alpha')), checked.stdout);
    // Neither lists the other's backups any more.
    const list = await barman('list-backup', 'alpha');
    assert.equal(list.exitCode, 1);
    assert.equal(list.stdout, '');
    assert.ok(
      list.stderr.includes(
        `ERROR: [alpha] backup_directory: ${message('backup_directory', shared, 'alpha', 'beta')}`,
      ),
      list.stderr,
    );
    const cron = await barman('cron');
    assert.match(cron.stdout, /Skipping temporarily disabled server 'alpha'/);
    assert.equal((await barman('list-backup', 'gamma')).exitCode, 0);
    assert.equal((await barman('check', 'gamma')).stdout.includes('disabled'), false);
  });

  it('overlaps across options and nesting, after resolving "..", trailing slashes and symbolic links', async () => {
    const alpha = join(dir, 'home/alpha');
    mkdirSync(join(alpha, 'wals'), { recursive: true });
    symlinkSync(alpha, join(dir, 'alpha-link'));
    const cases: Array<{ option: string; path: string; collides: RegExp }> = [
      {
        option: 'incoming_wals_directory',
        path: `${alpha}/wals`,
        collides: /conflicts with 'wals_directory' for server 'alpha'/,
      },
      {
        option: 'wals_directory',
        path: `${alpha}/wals/beta`,
        collides: new RegExp(`is inside 'wals_directory' \\(${alpha}/wals\\) of server 'alpha'`),
      },
      {
        option: 'errors_directory',
        path: `${dir}/home/./alpha/../alpha/wals/`,
        collides: new RegExp(
          `\\(symlink to: ${alpha}/wals\\) for server 'beta' conflicts with 'wals_directory'`,
        ),
      },
      {
        option: 'backup_directory',
        path: `${dir}/alpha-link`,
        collides: new RegExp(
          `\\(symlink to: ${alpha}\\) for server 'beta' conflicts with 'backup_directory'`,
        ),
      },
      {
        option: 'basebackups_directory',
        path: alpha,
        collides: /conflicts with 'backup_directory' for server 'alpha'/,
      },
    ];
    for (const { option, path, collides } of cases) {
      const beta = `${option} = ${path}`;
      writeConfig({
        alpha: server('alpha'),
        beta: server('beta', { [option]: path }),
        gamma: server('gamma'),
      });
      const run = await barman('-f', 'json', 'show-server', 'beta', 'gamma', 'alpha');
      const shown = JSON.parse(run.stdout) as Record<string, { disabled: boolean; msg_list: string[] }>;
      assert.equal(shown.beta!.disabled, true, beta);
      assert.equal(shown.alpha!.disabled, true, beta);
      assert.equal(shown.gamma!.disabled, false, beta);
      const line = shown.beta!.msg_list.find((text) =>
        text.startsWith(`[beta] ${option}: Conflicting path: ${option}=`),
      );
      assert.ok(line, `${beta}: ${shown.beta!.msg_list.join('\n')}`);
      assert.match(line, collides);
      assert.ok(
        shown.alpha!.msg_list.some(
          (text) => text.includes('Conflicting path:') && text.includes("server 'beta'"),
        ),
        shown.alpha!.msg_list.join('\n'),
      );
    }
    // A server's own directories may nest (the defaults do), and a server may live inside
    // another one's backup_directory, beside its base/ and wals/.
    writeConfig({ alpha: server('alpha'), beta: server('beta', { backup_directory: `${alpha}/beta` }) });
    const fine = await barman('list-server');
    assert.equal(fine.stdout, 'alpha - alpha\nbeta - beta\n');
  });

  it('s3:// locations: same bucket and overlapping prefixes conflict, other buckets and sibling prefixes do not', async () => {
    const cloud = (name: string, base: string, wals: string) =>
      server(name, { backup_method: 'local-to-cloud', basebackups_directory: base, wals_directory: wals });
    writeConfig(
      {
        alpha: cloud('alpha', 's3://bucket/barman/alpha/base', 's3://bucket/barman/alpha/wals'),
        beta: cloud('beta', 's3://bucket/barman/beta/base', 's3://bucket/barman/alpha/wals/'),
        gamma: cloud('gamma', 's3://bucket/barman/gamma/base', 's3://bucket/barman/gamma/wals'),
        delta: cloud('delta', 's3://other/barman/alpha/base', 's3://other/barman/alpha/wals'),
        omega: cloud('omega', 's3://bucket/barman/gamma/base-2', 's3://bucket/barman/gamma/base/inner'),
      },
      { aws_region: 'us-east-1' },
    );
    const run = await barman('-f', 'json', 'show-server', 'all');
    const shown = JSON.parse(run.stdout) as Record<string, { disabled: boolean; msg_list: string[] }>;
    const disabled = Object.entries(shown)
      .filter(([, entry]) => entry.disabled)
      .map(([name]) => name)
      .sort();
    assert.deepEqual(disabled, ['alpha', 'beta', 'gamma', 'omega'], JSON.stringify(shown, null, 1));
    assert.ok(
      shown.beta!.msg_list.some((line) =>
        line.includes(
          "Conflicting path: wals_directory=s3://bucket/barman/alpha/wals for server 'beta' conflicts with 'wals_directory' for server 'alpha'",
        ),
      ),
      shown.beta!.msg_list.join('\n'),
    );
    assert.ok(
      shown.omega!.msg_list.some((line) =>
        line.includes(
          "Conflicting path: wals_directory=s3://bucket/barman/gamma/base/inner for server 'omega' is inside 'basebackups_directory' (s3://bucket/barman/gamma/base) of server 'gamma'",
        ),
      ),
      shown.omega!.msg_list.join('\n'),
    );
  });
});
