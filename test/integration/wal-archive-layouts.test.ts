/**
 * One set of bodies for the WAL archive (src/wal/archive.ts) on both layouts: Barman's in a
 * directory (PosixStorage) and barman-cloud's in a bucket (S3Storage on s3rver). Finding,
 * opening decompressed, the index a rebuild makes, and removal behave the same on both.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Location } from '../../src/config/index.js';
import { storageFor } from '../../src/storage/index.js';
import { WalArchive } from '../../src/wal/archive.js';
import type { WalLayout } from '../../src/wal/archive.js';
import { makeTempDir, startS3Server, storageTestConfig } from '../harness/index.js';

const BUCKET = 'walarchive';

const layouts: Array<{ layout: WalLayout; open(): Promise<{ archive: WalArchive; stop(): Promise<void> }> }> =
  [
    {
      layout: 'barman',
      async open() {
        const location: Location = { kind: 'posix', path: join(await makeTempDir('wal-layout'), 'wals') };
        return {
          archive: new WalArchive(await storageFor(storageTestConfig(null), location), 'barman', null),
          stop: async () => {},
        };
      },
    },
    {
      layout: 'barman-cloud',
      async open() {
        const s3 = await startS3Server({ buckets: [BUCKET] });
        Object.assign(process.env, s3.env);
        const location: Location = {
          kind: 's3',
          bucket: BUCKET,
          prefix: 'pg/main/wals',
          url: `s3://${BUCKET}/pg/main/wals`,
        };
        const archive = new WalArchive(
          await storageFor(storageTestConfig(s3), location, { s3: { maxAttempts: 2 } }),
          'barman-cloud',
          null,
        );
        return {
          archive,
          stop: async () => {
            archive.close();
            await s3.stop();
          },
        };
      },
    },
  ];

const SEGMENT = '000000010000000000000003';
const content = (name: string) => Buffer.from(`the content of ${name}\n`.repeat(100));

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

for (const entry of layouts) {
  const { layout } = entry;
  describe(`WAL archive: ${layout} layout`, { concurrency: 1 }, () => {
    let archive: WalArchive;
    let stop: () => Promise<void>;
    before(
      async () => {
        const opened = await entry.open();
        archive = opened.archive;
        stop = () => opened.stop();
        // What the archiver stores: a gzip segment, a plain one, a backup label, a history file, a partial.
        await archive.storage.writeFile(archive.pathOf(SEGMENT, 'gzip'), gzipSync(content(SEGMENT)));
        for (const name of [
          '000000010000000000000004',
          '000000010000000000000003.00000028.backup',
          '00000002.history',
        ])
          await archive.storage.writeFile(archive.pathOf(name), content(name));
        await archive.storage.writeFile(archive.pathOf('000000010000000000000005.partial'), 'partial');
      },
      { timeout: 60_000 },
    );
    after(() => stop?.());

    it('finds a file under its name whatever its compression, and opens it decompressed', async () => {
      const [found, ...others] = await archive.find(SEGMENT);
      assert.ok(found, `${SEGMENT} found`);
      assert.deepEqual(others, [], 'the backup label beside it is not the segment');
      assert.ok((await readAll(await archive.open(found))).equals(content(SEGMENT)));
      assert.ok((await readAll(await archive.open(found, { raw: true }))).equals(gzipSync(content(SEGMENT))));
      const [history] = await archive.find('00000002.history');
      assert.ok(history && (await readAll(await archive.open(history))).equals(content('00000002.history')));
      assert.deepEqual(await archive.find('0000000100000000000000FF'), []);
    });

    it('opens the file of an index entry (recovery)', async () => {
      const { entries } = await archive.scan();
      const entry = entries.find((line) => line.name === SEGMENT)!;
      assert.equal(entry.compression, 'gzip');
      assert.ok((await readAll(await archive.openEntry(entry))).equals(content(SEGMENT)));
    });

    it('indexes the archive as rebuild-xlogdb does: history first, partials skipped', async () => {
      const result = await archive.scan();
      assert.deepEqual(
        result.entries.map((entry) => entry.name),
        ['00000002.history', SEGMENT, '000000010000000000000003.00000028.backup', '000000010000000000000004'],
      );
      assert.deepEqual(result.counts, { history: 1, backupLabels: 1, walFiles: 2 });
      assert.equal(result.skipped.length, 1);
      assert.match(result.skipped[0]!, /000000010000000000000005\.partial$/);
      const plain = result.entries.find((entry) => entry.name === '000000010000000000000004')!;
      assert.equal(plain.compression, null);
      assert.equal(plain.size, content('000000010000000000000004').length);
    });

    it('removes files, with or without a hook around each, and empty hash directories', async () => {
      const seen: string[] = [];
      await archive.remove([{ name: '000000010000000000000004' }], async (file, remove) => {
        seen.push(file.name);
        assert.ok(file.path.endsWith('000000010000000000000004'), file.path);
        await remove();
      });
      assert.deepEqual(seen, ['000000010000000000000004']);
      await archive.remove([
        { name: SEGMENT },
        { name: '000000010000000000000003.00000028.backup' },
        { name: '000000010000000000000005.partial' },
      ]);
      for (const name of ['000000010000000000000004', SEGMENT, '000000010000000000000005.partial'])
        assert.deepEqual(await archive.find(name), [], `${name} removed`);
      assert.deepEqual(
        (await archive.storage.list('')).map((entry) => entry.name),
        ['00000002.history'],
        'the emptied hash directory is gone',
      );
    });
  });
}
