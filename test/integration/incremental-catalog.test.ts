/**
 * The catalogue commands on block-level incremental chains (issue 13), against Barman 3.13 (the
 * Debian 13 root) as the oracle: one synthetic catalogue (backup.info files written through
 * src/catalog, test/harness/incremental-chains.ts) holding two chains — one with a branch —, a
 * Barman 3.4-style rsync backup and a FAILED one. Barman 3.13 reads the catalogue in Barman's
 * posix layout; barman-ts reads the same backups in that layout and in barman-cloud's object
 * layout (s3rver), and must print what Barman 3.13 printed (list-backup with its retention
 * marks under several policies, show-backup, console and JSON), delete what it deleted (a
 * backup and its descendants, the parent's children_backup_ids rewritten), refuse what it
 * refused (keep on an incremental backup, minimum_redundancy) and let cron's retention remove
 * the same backups. Barman 3.4 (Debian's) cannot read such a catalogue at all: tested last.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import type { Location } from '../../src/config/index.js';
import type { Storage } from '../../src/storage/index.js';
import { storageFor } from '../../src/storage/index.js';
import type { ChainBackupSpec, IniSection, S3Server } from '../harness/index.js';
import {
  DEBIAN13_ROOT,
  DEBIAN13_SCRIPT,
  ensureDebian13Root,
  makeTempDir,
  runBarman,
  runCompletely,
  startS3Server,
  storageTestConfig,
  writeBarmanConfig,
  writeChainCatalog,
} from '../harness/index.js';

const [A, B, C, D, F, G, H] = [1, 2, 3, 4, 6, 7, 8].map((day) => `2026010${day}T100000`) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
/**
 * E alone (rsync, as Barman 3.4 wrote it; the oldest: Barman 3.11+ measures again the rsync
 * backup after a deleted one, which barman-ts does not); A ← B ← C and A ← D (a branch); F ← G;
 * H FAILED.
 */
const E = '20251231T100000';
const CATALOG: ChainBackupSpec[] = [
  { id: E, mode: 'rsync-concurrent', bytes: 25_000_000, segment: 1 },
  { id: A, bytes: 30_000_000, clusterBytes: 30_000_000, segment: 2 },
  { id: B, parent: A, bytes: 2_000_000, clusterBytes: 31_000_000, segment: 3 },
  { id: C, parent: B, bytes: 1_000_000, clusterBytes: 31_500_000, segment: 4 },
  { id: D, parent: A, bytes: 1_500_000, clusterBytes: 31_200_000, segment: 5 },
  { id: F, bytes: 32_000_000, clusterBytes: 32_000_000, segment: 7 },
  { id: G, parent: F, bytes: 900_000, clusterBytes: 32_100_000, segment: 8 },
  { id: H, status: 'FAILED', bytes: 0, clusterBytes: 32_000_000, segment: 9 },
];
const DAY_MS = 86_400_000;
const BUCKET = 'chains';
const SERVER: IniSection = {
  conninfo: 'host=/nonexistent user=postgres dbname=postgres',
  backup_method: 'postgres',
  archiver: 'on',
};

interface World {
  config: string;
  base: Storage;
  /** Ids in the catalogue, and each one's children_backup_ids (as Barman 3.13 left them, or we did). */
  catalogue(): Promise<Record<string, string[] | null>>;
}

type Keep = Record<string, 'full' | 'standalone'>;

async function fill(base: Storage, keep: Keep): Promise<void> {
  await writeChainCatalog(base, CATALOG);
  for (const [id, target] of Object.entries(keep)) await base.writeFile(`${id}/annotations/keep`, target);
}

/** Barman's posix layout: what Barman 3.13 and barman-ts both read. */
async function posixWorld(global: IniSection = {}, keep: Keep = {}): Promise<World> {
  const dir = await makeTempDir('incr-catalog');
  mkdirSync(join(dir, 'home/pg/wals'), { recursive: true });
  // Barman 3.13.2+ moves keep annotations into meta/ as it reads them, and needs the directory.
  mkdirSync(join(dir, 'home/pg/meta'));
  writeFileSync(join(dir, 'home/pg/wals/xlog.db'), '');
  const base = await storageFor(storageTestConfig(null), { kind: 'posix', path: join(dir, 'home/pg/base') });
  await fill(base, keep);
  const config = writeBarmanConfig({
    dir,
    global: { retention_policy: null, ...global },
    servers: { pg: SERVER },
  });
  return {
    config,
    base,
    catalogue: () => {
      const result: Record<string, string[] | null> = {};
      for (const id of readdirSync(join(dir, 'home/pg/base')).sort()) {
        // Barman 3.13.2+ rewrites a backup.info into meta/, which then wins.
        const meta = join(dir, `home/pg/meta/${id}-backup.info`);
        const file = existsSync(meta) ? meta : join(dir, `home/pg/base/${id}/backup.info`);
        if (existsSync(file))
          result[id] = parseBackupInfo(readFileSync(file, 'utf8'), file).children_backup_ids;
      }
      return Promise.resolve(result);
    },
  };
}

let s3: S3Server | null = null;
let run = 0;

/** barman-cloud's object layout in s3rver, for barman-ts alone. */
async function objectWorld(global: IniSection = {}, keep: Keep = {}): Promise<World> {
  const dir = await makeTempDir('incr-catalog-s3');
  run += 1;
  const location = (path: string): Location & { kind: 's3' } => ({
    kind: 's3',
    bucket: BUCKET,
    prefix: `run${run}/pg/${path}`,
    url: `s3://${BUCKET}/run${run}/pg/${path}`,
  });
  const base = await storageFor(storageTestConfig(s3), location('base'));
  await fill(base, keep);
  const config = writeBarmanConfig({
    dir,
    global: { retention_policy: null, aws_endpoint_url: s3!.endpoint, aws_region: 'us-east-1', ...global },
    servers: {
      pg: {
        ...SERVER,
        backup_method: 'local-to-cloud',
        archiver: null,
        basebackups_directory: location('base').url,
        wals_directory: location('wals').url,
      },
    },
  });
  return {
    config,
    base,
    catalogue: async () => {
      const result: Record<string, string[] | null> = {};
      for (const object of await base.listTree('')) {
        const [id, file] = object.path.split('/');
        if (file !== 'backup.info' || !id) continue;
        const text = (await base.readFile(object.path)).toString();
        result[id] = parseBackupInfo(text, object.path).children_backup_ids;
      }
      return result;
    },
  };
}

/** Barman 3.13 inside the Debian 13 root, whatever its exit code. */
async function barman313(config: string, ...args: string[]) {
  await ensureDebian13Root();
  return runCompletely(null, 'bash', [
    DEBIAN13_SCRIPT,
    'run',
    DEBIAN13_ROOT,
    '--',
    'barman',
    '-c',
    config,
    ...args,
  ]);
}
const barmanTs = (config: string, ...args: string[]) => runBarman(['-c', config, ...args]);

/** Delete output without its clock: start time and elapsed time change from run to run. */
const timeless = (text: string) =>
  text.replace(/\(start time: .*, elapsed time: .*\)/g, '(start time: T, elapsed time: E)').trimEnd();

/** A policy whose point of recoverability falls between the first chain and backup F. */
function windowBetweenChains(): string {
  const days = Math.floor((Date.now() - Date.UTC(2026, 0, 5, 12)) / DAY_MS);
  return `RECOVERY WINDOW OF ${days} DAYS`;
}

const RETENTION_CASES: Array<{ name: string; global: IniSection; keep?: Keep }> = [
  { name: 'REDUNDANCY 1', global: { retention_policy: 'REDUNDANCY 1' } },
  { name: 'REDUNDANCY 2', global: { retention_policy: 'REDUNDANCY 2' } },
  { name: 'REDUNDANCY 3', global: { retention_policy: 'REDUNDANCY 3' } },
  {
    name: 'REDUNDANCY 1, A kept standalone',
    global: { retention_policy: 'REDUNDANCY 1' },
    keep: { [A]: 'standalone' },
  },
  { name: 'REDUNDANCY 1, A kept full', global: { retention_policy: 'REDUNDANCY 1' }, keep: { [A]: 'full' } },
  {
    name: 'REDUNDANCY 3, F kept standalone',
    global: { retention_policy: 'REDUNDANCY 3' },
    keep: { [F]: 'standalone' },
  },
  { name: 'a recovery window', global: { retention_policy: windowBetweenChains() } },
  {
    name: 'a recovery window and minimum_redundancy 3',
    global: { retention_policy: windowBetweenChains(), minimum_redundancy: 3 },
  },
  {
    name: 'a recovery window, A kept standalone',
    global: { retention_policy: windowBetweenChains() },
    keep: { [A]: 'standalone' },
  },
];

for (const layout of [
  { name: "Barman's posix layout", create: posixWorld },
  { name: "barman-cloud's object layout", create: objectWorld },
]) {
  describe(`incremental chains in ${layout.name}, against Barman 3.13`, { concurrency: 1 }, () => {
    before(
      async () => {
        if (layout.create === objectWorld) {
          s3 = await startS3Server({ buckets: [BUCKET] });
          Object.assign(process.env, s3.env);
        }
        await ensureDebian13Root();
      },
      { timeout: 900_000 },
    );
    after(() => s3?.stop());

    for (const { name, global, keep } of RETENTION_CASES) {
      it(`list-backup (console and JSON) prints what Barman 3.13 prints under ${name}`, async () => {
        const oracle = await posixWorld(global, keep);
        const ours = await layout.create(global, keep);
        for (const format of [[], ['-f', 'json']]) {
          const expected = await barman313(oracle.config, ...format, 'list-backup', 'pg');
          assert.equal(expected.exitCode, 0, expected.stderr);
          const listed = await barmanTs(ours.config, ...format, 'list-backup', 'pg');
          assert.equal(listed.exitCode, 0, listed.stderr);
          assert.equal(listed.stdout.trimEnd(), expected.stdout.trimEnd());
        }
      });
    }

    it('show-backup (console and JSON) prints what Barman 3.13 prints, for every backup', async () => {
      const global = { retention_policy: 'REDUNDANCY 2' };
      const oracle = await posixWorld(global);
      const ours = await layout.create(global);
      for (const { id } of CATALOG) {
        for (const format of [[], ['-f', 'json']]) {
          const expected = await barman313(oracle.config, ...format, 'show-backup', 'pg', id);
          assert.equal(expected.exitCode, 0, expected.stderr);
          const shown = await barmanTs(ours.config, ...format, 'show-backup', 'pg', id);
          assert.equal(shown.exitCode, 0, shown.stderr);
          const parse = (text: string): unknown => (format.length > 0 ? JSON.parse(text) : text.trimEnd());
          assert.deepEqual(
            parse(shown.stdout),
            parse(expected.stdout),
            `show-backup ${id} ${format.join(' ')}`,
          );
        }
      }
    });

    for (const target of [E, A, B, C, D, F, G]) {
      it(`delete ${target} removes what Barman 3.13 removes, with its messages`, async () => {
        const oracle = await posixWorld();
        const ours = await layout.create();
        const expected = await barman313(oracle.config, 'delete', 'pg', target);
        const deleted = await barmanTs(ours.config, 'delete', 'pg', target);
        assert.equal(deleted.exitCode, expected.exitCode, deleted.stderr);
        assert.equal(timeless(deleted.stdout), timeless(expected.stdout));
        assert.equal(deleted.stderr.trimEnd(), expected.stderr.trimEnd());
        assert.deepEqual(await ours.catalogue(), await oracle.catalogue());
        const listed = await barmanTs(ours.config, 'list-backup', 'pg');
        assert.equal(
          listed.stdout.trimEnd(),
          (await barman313(oracle.config, 'list-backup', 'pg')).stdout.trimEnd(),
        );
      });
    }

    it('delete honours minimum_redundancy counting incremental backups, as Barman 3.13 does', async () => {
      const global = { minimum_redundancy: 7 };
      const oracle = await posixWorld(global);
      const ours = await layout.create(global);
      const expected = await barman313(oracle.config, 'delete', 'pg', F);
      const refused = await barmanTs(ours.config, 'delete', 'pg', F);
      assert.equal(refused.exitCode, 1);
      const warning = (text: string) => text.split('\n').find((line) => line.startsWith('WARNING:'));
      assert.equal(warning(refused.stderr), warning(expected.stderr));
      assert.match(warning(refused.stderr) ?? '', /current redundancy = 7\)/);
      assert.deepEqual(await ours.catalogue(), await oracle.catalogue());
    });

    it('keep refuses an incremental backup with Barman 3.13 words, and keeps a full one', async () => {
      const oracle = await posixWorld();
      const ours = await layout.create();
      const expected = await barman313(oracle.config, 'keep', 'pg', B, '--target', 'full');
      const refused = await barmanTs(ours.config, 'keep', 'pg', B, '--target', 'full');
      assert.equal(refused.exitCode, expected.exitCode);
      const errorLines = (text: string) =>
        text
          .split('\n')
          .filter((line) => !line.startsWith('HINT:'))
          .join('\n');
      assert.equal(errorLines(refused.stderr).trimEnd(), expected.stderr.trimEnd());
      assert.equal(await ours.base.stat(`${B}/annotations/keep`), null);
      assert.equal((await barmanTs(ours.config, 'keep', 'pg', A, '--target', 'standalone')).exitCode, 0);
      assert.equal((await ours.base.readFile(`${A}/annotations/keep`)).toString(), 'standalone');
    });

    for (const { name, global, keep } of RETENTION_CASES.filter((c) => c.name.startsWith('REDUNDANCY 1'))) {
      it(`cron's retention removes the backups Barman 3.13's removes under ${name}`, async () => {
        const oracle = await posixWorld(global, keep);
        const ours = await layout.create(global, keep);
        const expected = await barman313(oracle.config, 'cron');
        assert.equal(expected.exitCode, 0, expected.stderr);
        const cron = await barmanTs(ours.config, 'cron');
        assert.equal(cron.exitCode, 0, cron.stderr);
        const removing = (text: string) => [
          ...text.matchAll(/^Enforcing retention policy: removing backup (\w+)/gm),
        ];
        assert.deepEqual(
          removing(cron.stdout)
            .map((match) => match[1])
            .sort(),
          removing(expected.stdout)
            .map((match) => match[1])
            .sort(),
        );
        assert.deepEqual(await ours.catalogue(), await oracle.catalogue());
      });
    }
  });
}

describe(
  "incremental chains in Barman's posix layout: crashes, orphans, Barman 3.4",
  { concurrency: 1 },
  () => {
    before(() => ensureDebian13Root(), { timeout: 900_000 });

    it('a deletion killed between a child and its parent leaves a catalogue both tools understand', async () => {
      // Killed right after C is gone, before B's children_backup_ids is rewritten.
      const kill = `[ "$BARMAN_BACKUP_ID" = "${C}" ] && kill -9 $PPID; true`;
      const world = await posixWorld({ post_delete_script: kill });
      const killed = await barmanTs(world.config, 'delete', 'pg', A);
      assert.equal(killed.signal, 'SIGKILL', killed.stdout + killed.stderr);
      const catalogue = await world.catalogue();
      assert.equal(catalogue[C], undefined, 'C is gone');
      assert.deepEqual(catalogue[B], [C], 'B still names it');

      const listed = await barmanTs(world.config, 'list-backup', 'pg');
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.equal(
        listed.stdout.trimEnd(),
        (await barman313(world.config, 'list-backup', 'pg')).stdout.trimEnd(),
      );
      const again = await barmanTs(world.config, 'delete', 'pg', A);
      assert.equal(again.exitCode, 0, again.stderr);
      assert.deepEqual(
        [...again.stdout.matchAll(/^Deleted backup (\w+)/gm)].map((match) => match[1]),
        [B, D, A],
      );
      assert.deepEqual(Object.keys(await world.catalogue()), [E, F, G, H]);
    });

    it('an incremental backup whose parent is missing: listed with a warning, never deleted by retention', async () => {
      const world = await posixWorld({ retention_policy: 'REDUNDANCY 1' });
      await world.base.removeTree(F); // by hand: G loses its parent
      // Barman 3.13 cannot list such a catalogue under a retention policy.
      const reference = await barman313(world.config, 'list-backup', 'pg');
      assert.notEqual(reference.exitCode, 0);
      assert.match(reference.stdout + reference.stderr, new RegExp(`EXCEPTION: '${G}'`));

      const listed = await barmanTs(world.config, 'list-backup', 'pg');
      assert.equal(listed.exitCode, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^pg ${G} - I - .* - WAL Size: 0 B$`, 'm'), 'no retention mark');
      assert.match(
        listed.stderr,
        new RegExp(
          `WARNING: backup ${G} of server pg is incremental, but its parent backup ${F} is not in the catalogue`,
        ),
      );
      const cron = await barmanTs(world.config, 'cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.doesNotMatch(cron.stdout, new RegExp(`removing backup ${G}`));
      assert.ok(G in (await world.catalogue()), 'still there');
      const deleted = await barmanTs(world.config, 'delete', 'pg', G);
      assert.equal(deleted.exitCode, 0, deleted.stderr);
      assert.ok(!(G in (await world.catalogue())), 'gone when the operator asks');
    });

    it('Barman 3.4 cannot read a catalogue holding chains, and reads it again once they are gone', async () => {
      const world = await posixWorld();
      const barman34 = (...args: string[]) =>
        runCompletely(null, '/usr/bin/barman', ['-c', world.config, ...args]);
      for (const args of [['list-backup', 'pg'], ['show-backup', 'pg', E], ['delete', 'pg', E], ['cron']]) {
        const refused = await barman34(...args);
        assert.equal(refused.exitCode, 1, args.join(' '));
        assert.match(refused.stdout + refused.stderr, /EXCEPTION: /, args.join(' '));
      }
      assert.deepEqual(
        Object.keys(await world.catalogue()),
        [E, A, B, C, D, F, G, H],
        'Barman 3.4 deleted nothing',
      );

      // Every backup.info with Barman 3.11+ keys goes: what is left is Barman 3.4's, listed alike.
      for (const id of [A, F, H])
        assert.equal((await barmanTs(world.config, 'delete', 'pg', id)).exitCode, 0, id);
      const reference = await barman34('list-backup', 'pg');
      assert.equal(reference.exitCode, 0, reference.stderr);
      const listed = await barmanTs(world.config, 'list-backup', 'pg');
      assert.equal(listed.stdout, reference.stdout, 'no backup type letters: the layout of Barman 3.4');
    });
  },
);
