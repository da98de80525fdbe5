/**
 * One set of test bodies for every Storage driver: a local directory (posix) and an S3 bucket
 * (s3rver), both reached through `storageFor` from a server's configured location. What the
 * catalogue relies on — atomic durable writes, listings, reads, copies and moves, removal,
 * paths that cannot escape the root, and `features` that say what a driver cannot do — must
 * hold on both, so code above Storage is written once.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/index.js';
import type { Storage } from '../../src/storage/index.js';
import { storageFor } from '../../src/storage/index.js';
import { makeTempDir, startS3Server, storageTestConfig } from '../harness/index.js';

const BUCKET = 'drivers';

const drivers: Array<{ name: string; open(): Promise<{ storage: Storage; stop(): Promise<void> }> }> = [
  {
    name: 'posix',
    async open() {
      const dir = await makeTempDir('storage-posix');
      const location: Location = { kind: 'posix', path: join(dir, 'root') };
      return { storage: await storageFor(storageTestConfig(null), location), stop: async () => {} };
    },
  },
  {
    name: 's3',
    async open() {
      const s3 = await startS3Server({ buckets: [BUCKET] });
      Object.assign(process.env, s3.env);
      const location: Location = {
        kind: 's3',
        bucket: BUCKET,
        prefix: 'some/prefix',
        url: `s3://${BUCKET}/some/prefix`,
      };
      const storage = await storageFor(storageTestConfig(s3), location, { s3: { maxAttempts: 2 } });
      return {
        storage,
        stop: async () => {
          storage.close();
          await s3.stop();
        },
      };
    },
  },
];

for (const driver of drivers) {
  describe(`storage driver: ${driver.name}`, { concurrency: 1 }, () => {
    let storage: Storage;
    let stop: () => Promise<void>;
    before(
      async () => {
        const opened = await driver.open();
        storage = opened.storage;
        stop = () => opened.stop();
      },
      { timeout: 60_000 },
    );
    after(() => stop?.());

    it('writes atomically and reads back whole files, heads and streams', async () => {
      await storage.writeFile('base/20261205T000000/backup.info', 'status=DONE\n');
      assert.equal((await storage.readFile('base/20261205T000000/backup.info')).toString(), 'status=DONE\n');
      assert.equal((await storage.readHead('base/20261205T000000/backup.info', 6)).toString(), 'status');
      const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      await storage.writeFile('wals/0000000100000000/000000010000000000000001', Readable.from([big]));
      const chunks: Buffer[] = [];
      for await (const chunk of await storage.openRead('wals/0000000100000000/000000010000000000000001'))
        chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(big));
      // readChunks: each chunk copied during the call (posix reuses one buffer), the whole file in order.
      const copies: Buffer[] = [];
      await storage.readChunks('wals/0000000100000000/000000010000000000000001', (chunk) =>
        copies.push(Buffer.from(chunk)),
      );
      assert.ok(Buffer.concat(copies).equals(big));
      await assert.rejects(
        storage.readChunks('wals/missing', () => undefined),
        /missing/,
      );
      const info = await storage.stat('wals/0000000100000000/000000010000000000000001');
      assert.equal(info?.size, big.length);
      assert.equal(info?.kind, 'file');
    });

    it('replaces a file whole: a failed stream leaves the old content', async () => {
      await storage.writeFile('base/x/backup.info', 'old\n');
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(1024, 1));
          this.destroy(new Error('source failed'));
        },
      });
      await assert.rejects(storage.writeFile('base/x/backup.info', failing), /source failed/);
      assert.equal((await storage.readFile('base/x/backup.info')).toString(), 'old\n');
      const names = (await storage.list('base/x')).map((entry) => entry.name);
      assert.deepEqual(names, ['backup.info'], 'no temp file or partial object is visible');
    });

    it('lists one level, or every file below a path, sorted', async () => {
      await storage.writeFile('base/y/data/a', 'a');
      await storage.writeFile('base/y/data/sub/b', 'bb');
      const level = await storage.list('base/y');
      assert.deepEqual(level, [{ name: 'data', kind: 'directory' }]);
      const tree = await storage.listTree('base/y');
      assert.deepEqual(
        tree.map(({ path, size }) => ({ path, size })),
        [
          { path: 'base/y/data/a', size: 1 },
          { path: 'base/y/data/sub/b', size: 2 },
        ],
      );
      // A "directory" of an object store is a prefix with objects below it (MaxKeys 1: the
      // listing is truncated, which s3rver answers with a continuation token).
      assert.equal((await storage.stat('base/y'))?.kind, 'directory');
      assert.deepEqual(await storage.list('nosuch'), []);
      assert.deepEqual(await storage.listTree('nosuch'), []);
      assert.equal(await storage.stat('nosuch/file'), null);
    });

    it('lists the files of a directory by name prefix, not deeper ones', async () => {
      const hash = 'px/0000000100000000';
      await storage.writeFile(`${hash}/000000010000000000000003.gz`, 'three');
      await storage.writeFile(`${hash}/000000010000000000000003.00000028.backup`, 'label');
      await storage.writeFile(`${hash}/000000010000000000000004`, 'four');
      await storage.writeFile(`${hash}/000000010000000000000003x/deeper`, 'no');
      assert.deepEqual(
        (await storage.listPrefix(`${hash}/000000010000000000000003`)).map(({ path, size }) => ({
          path,
          size,
        })),
        [
          { path: `${hash}/000000010000000000000003.00000028.backup`, size: 5 },
          { path: `${hash}/000000010000000000000003.gz`, size: 5 },
        ],
      );
      assert.deepEqual(await storage.listPrefix('px/nosuch/0000'), []);
      await storage.removeMany([`${hash}/000000010000000000000003.gz`, `${hash}/000000010000000000000004`]);
      await storage.removeMany([`${hash}/000000010000000000000004`]);
      assert.deepEqual(
        (await storage.listPrefix(`${hash}/0000`)).map(({ path }) => path),
        [`${hash}/000000010000000000000003.00000028.backup`],
      );
      await storage.removeTree('px');
    });

    it('checks that its location can be used', async () => {
      await storage.checkAccess();
    });

    it('removes only empty directories; an object store leaves none behind', async () => {
      await storage.writeFile('dirs/full/file', 'x');
      if (!storage.removeEmptyDirectory) {
        // No directories: the prefix exists while an object is under it, and not after.
        assert.equal((await storage.stat('dirs/full'))?.kind, 'directory');
        await storage.remove('dirs/full/file');
        assert.equal(await storage.stat('dirs/full'), null);
        return;
      }
      assert.equal(await storage.removeEmptyDirectory('dirs/full'), false);
      assert.equal((await storage.readFile('dirs/full/file')).toString(), 'x');
      await storage.remove('dirs/full/file');
      assert.equal(await storage.removeEmptyDirectory('dirs/full'), true);
      assert.equal(await storage.stat('dirs/full'), null);
    });

    it('copies and moves files', async () => {
      await storage.writeFile('incoming/000000010000000000000002', 'wal two');
      await storage.copy('incoming/000000010000000000000002', 'copy/000000010000000000000002');
      await storage.move(
        'incoming/000000010000000000000002',
        'wals/0000000100000000/000000010000000000000002',
      );
      assert.equal(await storage.stat('incoming/000000010000000000000002'), null);
      for (const path of ['copy/000000010000000000000002', 'wals/0000000100000000/000000010000000000000002'])
        assert.equal((await storage.readFile(path)).toString(), 'wal two');
    });

    it('counts the names of a file where it has hard links (a backup measures its own bytes)', async () => {
      await storage.writeFile('links/base/a', 'aaaa');
      await storage.writeFile('links/base/b', 'bb');
      if (storage.features.hardLink) {
        await storage.link!('links/base/a', 'links/other/a');
        assert.equal((await storage.stat('links/base/a'))?.links, 2);
        assert.deepEqual(
          (await storage.listTree('links/base')).map(({ path, links }) => ({ path, links })),
          [
            { path: 'links/base/a', links: 2 },
            { path: 'links/base/b', links: 1 },
          ],
        );
      } else {
        assert.ok(!('link' in storage), 'no hard links: no link()');
        assert.equal((await storage.stat('links/base/a'))?.links, undefined);
        assert.ok((await storage.listTree('links/base')).every((object) => object.links === undefined));
      }
      await storage.removeTree('links');
    });

    it('removes files and trees; removing what is gone is no error', async () => {
      await storage.remove('copy/000000010000000000000002');
      await storage.remove('copy/000000010000000000000002');
      await storage.removeTree('base/y');
      assert.deepEqual(await storage.listTree('base/y'), []);
      await storage.removeTree('base/y');
    });

    it('removes several files at once, missing ones included', async () => {
      await storage.writeFile('wals/0000000100000000/000000010000000000000001', 'one');
      await storage.writeFile('wals/0000000100000000/000000010000000000000002', 'two');
      await storage.writeFile('wals/00000002.history', 'history');
      await storage.removeMany([
        'wals/0000000100000000/000000010000000000000001',
        'wals/0000000100000000/000000010000000000000002',
        'wals/0000000100000000/000000010000000000000003',
      ]);
      assert.deepEqual(
        (await storage.listTree('wals')).map((object) => object.path),
        ['wals/00000002.history'],
      );
      await storage.removeMany([]);
      await storage.removeTree('wals');
    });

    it('checks that a directory can be changed before a deletion starts', async () => {
      await storage.writeFile('base/w/backup.info', 'status=DONE\n');
      await storage.checkWritable('base');
      await storage.checkWritable('base/w');
      // A directory that does not exist (yet) is no reason to refuse.
      await storage.checkWritable('base/none');
      if (storage.features.localFiles) {
        // Below a file: the system call fails, and says so (as a read-only directory would).
        await assert.rejects(storage.checkWritable('base/w/backup.info/x'), { code: 'ENOTDIR' });
      } else {
        // Object stores answer only when asked to delete.
        await storage.checkWritable('base/w/backup.info/x');
      }
      await storage.removeTree('base/w');
    });

    it('stages local files unseen, publishes them together, and removes what killed writes left', async () => {
      const directory = 'wals/0000000200000000';
      if (!storage.features.stagedCommit) {
        // An object appears whole or not at all: nothing to remove, and nothing is refused.
        await storage.removeInterruptedWrites(directory);
        return;
      }
      const local = await makeTempDir('storage-stage');
      const source = join(local, 'segment');
      await writeFile(source, 'wal bytes', { mode: 0o644 });
      const name = (n: number) => `${directory}/00000002000000000000000${n}`;
      const linked = await storage.stage!(name(1), { link: source });
      const copied = await storage.stage!(name(2), { copy: source });
      const written = await storage.stage!(
        name(3),
        { write: (path) => writeFile(path, 'compressed bytes', { mode: 0o644 }) },
        { mtimeMs: 1_700_000_000_000 },
      );
      assert.equal(written.size, 'compressed bytes'.length);
      assert.equal(written.mtimeNs / 1_000_000n, 1_700_000_000_000n);
      // Unseen until committed: their temp names are dotfiles, which every reader skips.
      for (const file of [linked, copied, written]) assert.equal(await storage.stat(file.path), null);
      await storage.commitStaged!([linked, copied, written]);
      assert.equal((await storage.readFile(name(1))).toString(), 'wal bytes');
      assert.equal((await storage.readFile(name(2))).toString(), 'wal bytes');
      assert.equal((await storage.readFile(name(3))).toString(), 'compressed bytes');
      assert.equal((await storage.stat(name(1)))?.links, 2, 'a hard link to the source');
      assert.equal((await storage.stat(name(2)))?.links, 1, 'a copy');
      for (const n of [1, 2, 3]) assert.equal(statSync(storage.localPath!(name(n))).mode & 0o777, 0o600);
      assert.equal(Number((await storage.stat(name(3)))!.mtimeNs! / 1_000_000n), 1_700_000_000_000);

      // Writes killed before their commit: one file's leftovers go, then every file's.
      await storage.stage!(name(4), { copy: source });
      await storage.stage!(name(5), { copy: source });
      const leftovers = async () =>
        (await readdir(storage.localPath!(directory))).filter((entry) => entry.startsWith('.')).length;
      assert.equal(await leftovers(), 2);
      await storage.removeInterruptedWrites(directory, '000000020000000000000004');
      assert.equal(await leftovers(), 1);
      await storage.removeInterruptedWrites(directory);
      assert.equal(await leftovers(), 0);
      assert.deepEqual(
        (await storage.list(directory)).map((entry) => entry.name).sort(),
        [1, 2, 3].map((n) => `00000002000000000000000${n}`),
      );
      await storage.removeTree(directory);
    });

    it('refuses paths that leave the root', async () => {
      await assert.rejects(storage.writeFile('../outside', 'x'), /escapes the storage root/);
      await assert.rejects(storage.readFile('base/../../outside'), /escapes the storage root/);
    });

    it('says what it cannot do in features, and does what it says', async () => {
      const { features } = storage;
      assert.equal(typeof storage.link === 'function', features.hardLink);
      assert.equal(typeof storage.localPath === 'function', features.localFiles);
      assert.equal(typeof storage.stage === 'function', features.stagedCommit);
      assert.equal(typeof storage.commitStaged === 'function', features.stagedCommit);
      if (features.append) {
        await storage.appendLines('wals/xlog.db', 'line 1\n');
        // A last line a crash left without its newline: the next lines start on a fresh one.
        await storage.appendLines('wals/xlog.db', 'torn');
        await storage.appendLines('wals/xlog.db', 'line 2\n');
        assert.equal((await storage.readFile('wals/xlog.db')).toString(), 'line 1\ntorn\nline 2\n');
      } else {
        await assert.rejects(storage.appendLines('wals/xlog.db', 'line\n'), /no append/);
      }
      if (features.localFiles) {
        const path = storage.localPath!('base/20261205T000000/backup.info');
        // Everything written under barman_home is private to barman_user.
        assert.equal(statSync(path).mode & 0o777, 0o600);
      }
    });
  });
}
