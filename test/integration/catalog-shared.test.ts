/**
 * One set of catalogue test bodies run twice (issue 12 step 6): on Barman's posix layout (a
 * directory) and on barman-cloud's object layout (s3rver), each holding the catalogue Debian's
 * Barman 3.4 wrote (test/fixtures/barman-3.4, server pg): its backup.info files and keep
 * annotation, and its WAL archive (xlog.db and files; WAL objects of the same sizes in the
 * bucket). list-backup, show-backup, keep, delete, the refusal to delete from an incomplete
 * catalogue, cron's retention policy and minimum_redundancy, get-wal and check's catalogue lines
 * must behave the same on both, Barman 3.4's outputs included.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Location } from '../../src/config/index.js';
import type { Storage } from '../../src/storage/index.js';
import { storageFor } from '../../src/storage/index.js';
import { cloudWalPath } from '../../src/wal/cloud-layout.js';
import { parseXlogDb } from '../../src/wal/xlogdb.js';
import type { IniSection, S3Server } from '../harness/index.js';
import { walSegment } from './bad-input/world.js';
import {
  fixtureBackupId,
  makeTempDir,
  runBarman,
  startS3Server,
  storageTestConfig,
  writeBarmanConfig,
} from '../harness/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/', import.meta.url));
const CATALOG = join(FIXTURES, 'catalog/pg');
const id = (role: string) => fixtureBackupId('pg', role);
const KEPT = id('done-tablespace-keep-standalone');
const FAILED = id('failed');
const NAMED = id('done-named');
const IDS = [KEPT, FAILED, NAMED];
const XLOG = parseXlogDb(readFileSync(join(CATALOG, 'wals/xlog.db'), 'utf8')).entries;
const BUCKET = 'catalogue';

/** A catalogue of server pg, in one layout, and how the test bodies look into it. */
interface World {
  config: string;
  /** The test's temp dir. */
  dir: string;
  /** basebackups_directory of pg. */
  base: Storage;
  /** wals_directory of pg. */
  wals: Storage;
  /** Where the archived (gzip) WAL file `name` is in `wals`. */
  walPath(name: string): string;
  /** Names of the archived WAL files (xlog.db, or the objects in the bucket). */
  walNames(): Promise<string[]>;
}

interface Layout {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `global`: [barman] options a test body sets (retention), on top of the world's. */
  create(global?: IniSection): Promise<World>;
}

const GLOBAL: IniSection = { compression: 'gzip', retention_policy: 'REDUNDANCY 3' };
const CONNINFO = 'host=/tmp user=postgres dbname=postgres';

const posix: Layout = {
  name: "Barman's posix layout",
  start: async () => {},
  stop: async () => {},
  async create(global = {}) {
    const dir = await makeTempDir('catalog-shared');
    cpSync(CATALOG, join(dir, 'home/pg'), { recursive: true });
    const config = writeBarmanConfig({
      dir,
      global: { ...GLOBAL, log_file: `${dir}/barman.log`, ...global },
      // archive_command's archiver rather than the fixture's streaming one: cron would start a
      // receive-wal for it.
      servers: { pg: { conninfo: CONNINFO, backup_method: 'postgres', archiver: 'on' } },
    });
    const storage = (path: string) =>
      storageFor(storageTestConfig(null), { kind: 'posix', path: join(dir, 'home/pg', path) });
    return {
      config,
      dir,
      base: await storage('base'),
      wals: await storage('wals'),
      walPath: (name) => `${name.slice(0, 16)}/${name}`,
      walNames: () =>
        Promise.resolve(
          parseXlogDb(readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8')).entries.map(
            (entry) => entry.name,
          ),
        ),
    };
  },
};

let s3: S3Server | null = null;
let bucketRun = 0;
const opened: Storage[] = [];

const objects: Layout = {
  name: "barman-cloud's object layout",
  async start() {
    s3 = await startS3Server({ buckets: [BUCKET] });
    Object.assign(process.env, s3.env);
  },
  async stop() {
    for (const storage of opened.splice(0)) storage.close();
    await s3?.stop();
  },
  async create(global = {}) {
    const dir = await makeTempDir('catalog-shared-s3');
    // A prefix per test: each starts from the fixture.
    bucketRun += 1;
    const prefix = `run${bucketRun}/pg`;
    const location = (path: string): Location & { kind: 's3' } => ({
      kind: 's3',
      bucket: BUCKET,
      prefix: `${prefix}/${path}`,
      url: `s3://${BUCKET}/${prefix}/${path}`,
    });
    const base = await storageFor(storageTestConfig(s3), location('base'));
    const wals = await storageFor(storageTestConfig(s3), location('wals'));
    opened.push(base, wals);
    for (const backupId of IDS) {
      const from = join(CATALOG, 'base', backupId);
      await base.writeFile(`${backupId}/backup.info`, readFileSync(join(from, 'backup.info')));
      await base.writeFile(`${backupId}/data.tar`, 'data');
      if (backupId === KEPT)
        await base.writeFile(`${backupId}/annotations/keep`, readFileSync(join(from, 'annotations/keep')));
    }
    // The same names and sizes as xlog.db: the listing is the object layout's WAL index.
    for (const entry of XLOG)
      await wals.writeFile(cloudWalPath(entry.name, 'gzip'), Buffer.alloc(entry.size, entry.name.length));
    const config = writeBarmanConfig({
      dir,
      global: {
        ...GLOBAL,
        log_file: `${dir}/barman.log`,
        aws_endpoint_url: s3!.endpoint,
        aws_region: 'us-east-1',
        ...global,
      },
      servers: {
        pg: {
          conninfo: CONNINFO,
          backup_method: 'local-to-cloud',
          basebackups_directory: location('base').url,
          wals_directory: location('wals').url,
        },
      },
    });
    return {
      config,
      dir,
      base,
      wals,
      walPath: (name) => cloudWalPath(name, 'gzip'),
      walNames: async () =>
        (await wals.listTree(''))
          .map(
            (object) => /([0-9A-F]{24}(\.[0-9A-F]{8}\.backup)?)\.gz$/.exec(object.path)?.[1] ?? object.path,
          )
          .sort(),
    };
  },
};

const exists = async (storage: Storage, path: string) => (await storage.stat(path)) !== null;
const barmanOutput = (name: string) => readFileSync(join(FIXTURES, 'outputs', name), 'utf8');

for (const layout of [posix, objects]) {
  describe(`the catalogue on ${layout.name}`, { concurrency: 1 }, () => {
    let world: World;
    const barman = (...args: string[]) => runBarman(['-c', world.config, ...args]);

    before(() => layout.start(), { timeout: 60_000 });
    after(() => layout.stop());
    beforeEach(async () => {
      world = await layout.create();
    });

    it('list-backup prints what Barman 3.4 printed for this catalogue', async () => {
      const run = await barman('list-backup', 'pg');
      assert.equal(run.exitCode, 0, run.stderr);
      assert.equal(run.stdout, barmanOutput('list-backup-pg.txt'));
    });

    it('show-backup prints what Barman 3.4 printed (WAL rate aside: it comes from file times)', async () => {
      const withoutRate = (text: string) => text.replace(/^ {4}WAL rate .*\n/m, '');
      for (const backupId of [NAMED, KEPT, FAILED]) {
        const run = await barman('show-backup', 'pg', backupId);
        assert.equal(run.exitCode, 0, run.stderr);
        assert.equal(withoutRate(run.stdout), withoutRate(barmanOutput(`show-backup-pg-${backupId}.txt`)));
      }
    });

    it('keep --status, --target and --release write the annotation where Barman does', async () => {
      assert.equal((await barman('keep', 'pg', KEPT, '--status')).stdout, 'Server pg:\n\tKeep: standalone\n');
      assert.equal((await barman('keep', 'pg', NAMED, '--status')).stdout, 'Server pg:\n\tKeep: nokeep\n');
      assert.equal((await barman('keep', 'pg', NAMED, '--target', 'full')).exitCode, 0);
      assert.equal((await world.base.readFile(`${NAMED}/annotations/keep`)).toString(), 'full');
      assert.equal((await barman('keep', 'pg', NAMED, '--status')).stdout, 'Server pg:\n\tKeep: full\n');
      assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
      assert.ok(!(await exists(world.base, `${KEPT}/annotations/keep`)));
      const failed = await barman('keep', 'pg', FAILED, '--target', 'full');
      assert.equal(failed.exitCode, 1);
      assert.match(failed.stderr, /Only backups with status DONE can be kept/);
    });

    it('delete refuses a kept backup, then deletes it with the WAL only it needed', async () => {
      const kept = await barman('delete', 'pg', KEPT);
      assert.equal(kept.exitCode, 1);
      assert.match(kept.stderr, /as it has a current keep request/);
      assert.ok(await exists(world.base, `${KEPT}/backup.info`));

      assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
      const before = await world.walNames();
      const run = await barman('delete', 'pg', 'oldest');
      assert.equal(run.exitCode, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(
          `^Deleting backup ${KEPT} for server pg\\nDelete associated WAL segments:\\n(\\t0{7}1\\w{16}\\n)+Deleted backup ${KEPT} \\(start time: .+, elapsed time: .+\\)\\n$`,
        ),
      );
      const removed = [...run.stdout.matchAll(/^\t(\w{24})$/gm)].map((match) => match[1]!);
      const nextBegin = /^begin_wal=(\w+)$/m.exec(
        (await world.base.readFile(`${NAMED}/backup.info`)).toString(),
      )![1]!;
      assert.ok(removed.length > 0 && removed.every((name) => name < nextBegin), run.stdout);
      assert.deepEqual(
        await world.walNames(),
        before.filter((name) => !removed.includes(name)),
      );
      assert.deepEqual(await world.base.listTree(KEPT), [], 'nothing of the backup is left');
      const listed = await barman('list-backup', 'pg');
      assert.doesNotMatch(listed.stdout, new RegExp(KEPT));
      assert.match(listed.stdout, new RegExp(`^pg ${NAMED} `, 'm'));
    });

    it('refuses to delete anything while a backup.info cannot be read, and still lists it', async () => {
      await world.base.writeFile(`${FAILED}/backup.info`, 'status=DONE\nbegin_wal=\n');
      const before = await world.walNames();
      const run = await barman('delete', 'pg', FAILED);
      assert.equal(run.exitCode, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `ERROR: backup ${FAILED} of server 'pg' not deleted: the catalogue could not be read completely: .*${FAILED}/backup.info`,
        ),
      );
      assert.match(run.stderr, /HINT: Nothing is deleted while the catalogue is incomplete: repair /);
      assert.ok(await exists(world.base, `${FAILED}/backup.info`));
      assert.deepEqual(await world.walNames(), before);
      const listed = await barman('list-backup', 'pg');
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^pg ${FAILED} `, 'm'));
    });

    it('cron applies the retention policy: kept backups stay, released ones go with their WAL', async () => {
      world = await layout.create({ retention_policy: 'REDUNDANCY 1' });
      const before = await world.walNames();
      let cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.doesNotMatch(cron.stdout, /Enforcing retention policy/);
      assert.match(
        (await barman('list-backup', 'pg')).stdout,
        new RegExp(`^pg ${KEPT} .* - KEEP:STANDALONE$`, 'm'),
      );

      assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
      cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.match(
        cron.stdout,
        new RegExp(
          `^Enforcing retention policy: removing backup ${KEPT} for server pg\\nDeleting backup ${KEPT} for server pg\\nDelete associated WAL segments:\\n(\\t\\w{24}\\n)+Deleted backup ${KEPT} `,
          'm',
        ),
      );
      const removed = [...cron.stdout.matchAll(/^\t(\w{24})$/gm)].map((match) => match[1]!);
      assert.deepEqual(
        await world.walNames(),
        before.filter((name) => !removed.includes(name)),
      );
      assert.deepEqual(await world.base.listTree(KEPT), [], 'nothing of the backup is left');
      // The FAILED backup is no DONE backup: retention leaves it to `delete`.
      const listed = await barman('list-backup', 'pg');
      assert.deepEqual(
        [...listed.stdout.matchAll(/^pg (\w+) /gm)].map((match) => match[1]),
        [NAMED, FAILED],
      );
    });

    it('minimum_redundancy keeps cron and delete from going below it', async () => {
      world = await layout.create({ retention_policy: 'REDUNDANCY 1', minimum_redundancy: 2 });
      assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
      const before = await world.walNames();
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.doesNotMatch(cron.stdout, /Enforcing retention policy|Deleting/);
      const run = await barman('delete', 'pg', NAMED);
      assert.equal(run.exitCode, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `^WARNING: Skipping delete of backup ${NAMED} for server pg due to minimum redundancy requirements \\(minimum redundancy = 2, current redundancy = 2\\)$`,
          'm',
        ),
      );
      for (const backupId of IDS) assert.ok(await exists(world.base, `${backupId}/backup.info`), backupId);
      assert.deepEqual(await world.walNames(), before);
    });

    it('get-wal sends an archived file, --peek names the files from it on, a missing one is an error', async () => {
      const names = XLOG.slice(0, 3).map((entry) => entry.name);
      const segments = new Map(names.map((name) => [name, walSegment(name)]));
      for (const [name, segment] of segments)
        await world.wals.writeFile(world.walPath(name), gzipSync(segment, { level: 1 }));
      const output = join(world.dir, 'restored');
      mkdirSync(output);
      const run = await barman('get-wal', 'pg', names[1]!, '-o', output);
      assert.equal(run.exitCode, 0, run.stderr);
      assert.ok(readFileSync(join(output, names[1]!)).equals(segments.get(names[1]!)!), 'byte for byte');

      const peek = await barman('get-wal', 'pg', names[0]!, '--peek', '3');
      assert.equal(peek.exitCode, 0, peek.stderr);
      assert.equal(peek.stdout, names.map((name) => `${name}\n`).join(''));

      const missing = await barman('get-wal', 'pg', '0000000100000000000000FF');
      assert.equal(missing.exitCode, 1);
      assert.match(missing.stderr, /^ERROR: WAL file '0000000100000000000000FF' not found in server 'pg'/m);
    });

    it('check reports the catalogue: failed backups, minimum redundancy, backup age, WAL', async () => {
      world = await layout.create({ minimum_redundancy: 3, last_backup_maximum_age: '1 hour' });
      const run = await barman('check', 'pg');
      assert.equal(run.exitCode, 1, 'PostgreSQL is not there, and the catalogue fails too');
      const lines = run.stdout.split('\n');
      const line = (name: string) => lines.find((text) => text.startsWith(`\t${name}: `));
      assert.equal(line('retention policy settings'), '\tretention policy settings: OK');
      assert.match(
        line('backup maximum age') ?? '',
        /^\tbackup maximum age: FAILED \(interval provided: 1 hour, latest backup age: .+\)$/,
      );
      assert.equal(line('backup minimum size'), '\tbackup minimum size: OK (22.1 MiB)');
      assert.equal(line('wal size'), '\twal size: OK (131.5 KiB)');
      assert.equal(line('failed backups'), '\tfailed backups: FAILED (there are 1 failed backups)');
      assert.equal(
        line('minimum redundancy requirements'),
        '\tminimum redundancy requirements: FAILED (have 2 backups, expected at least 3)',
      );
      assert.equal(line('archiver errors'), '\tarchiver errors: OK');
    });
  });
}
