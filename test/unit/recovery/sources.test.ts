/**
 * One `archives()` and one WAL opener for both layouts: the layouts are data (layout.ts), so
 * each is read here through a PosixStorage; the S3 driver is covered by recover-cloud and
 * backup-cloud (integration). A storage without local files refuses a plain copy by name.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BarmanError } from '../../../src/errors/index.js';
import { backupLayoutFor } from '../../../src/recovery/layout.js';
import { archives, walOpener } from '../../../src/recovery/sources.js';
import type { Storage } from '../../../src/storage/index.js';
import { PosixStorage } from '../../../src/storage/index.js';
import { WalArchive } from '../../../src/wal/archive.js';
import type { XlogDbEntry } from '../../../src/wal/xlogdb.js';

const ID = '20261121T050131';
const WAL = '000000010000000000000003';
const SEGMENT = Buffer.alloc(4096, 7);
const POSIX = { kind: 'posix', path: '/unused' } as const;
const S3 = { kind: 's3', bucket: 'b', prefix: 'p', url: 's3://b/p' } as const;

const root = mkdtempSync(join(tmpdir(), 'recovery-sources-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string | Buffer>): PosixStorage {
  const directory = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(directory, path, '..'), { recursive: true });
    writeFileSync(join(directory, path), content);
  }
  return new PosixStorage(directory);
}

async function text(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const entry = (compression: string | null): XlogDbEntry => ({
  name: WAL,
  size: 1,
  mtime: 0,
  compression,
  encryption: null,
});

describe('archives() reads both layouts', () => {
  test("Barman's: <id>/data/ holds pg_basebackup's archives and backup_manifest", async () => {
    const storage = tree('barman-base', {
      [`${ID}/backup.info`]: 'status=DONE\n',
      [`${ID}/data/base.tar.gz`]: 'x',
      [`${ID}/data/16384.tar.gz`]: 'y',
      [`${ID}/data/backup_manifest`]: '{}',
    });
    const backup = archives(storage, backupLayoutFor(POSIX), ID);
    const listed = (await backup.list()).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(
      listed.map((archive) => [archive.name, archive.base, archive.compression, archive.location]),
      [
        ['16384.tar.gz', '16384', 'gzip', `${storage.location}/${ID}/data/16384.tar.gz`],
        ['base.tar.gz', 'base', 'gzip', `${storage.location}/${ID}/data/base.tar.gz`],
      ],
    );
    assert.equal(backup.pgdataArchive, 'base');
    assert.equal(await backup.manifest(), '{}');
    assert.equal((await text(await backup.open(listed[1]!))).toString(), 'x');
    assert.equal(backup.plainCopy('data'), join(storage.location, ID, 'data'));
  });

  test("barman-cloud's: <id>/data.tar and its parts, no manifest, annotations ignored", async () => {
    const storage = tree('cloud-base', {
      [`${ID}/backup.info`]: 'status=DONE\n',
      [`${ID}/data.tar`]: 'a',
      [`${ID}/data_0001.tar.lz4`]: 'b',
      [`${ID}/annotations/keep`]: 'full',
    });
    const backup = archives(storage, backupLayoutFor(S3), ID);
    const listed = (await backup.list()).map((archive) => `${archive.name}:${archive.base}`).sort();
    assert.deepEqual(listed, ['data.tar:data', 'data_0001.tar.lz4:data']);
    assert.equal(backup.pgdataArchive, 'data');
    assert.equal(await backup.manifest(), null);
    // This layout holds tar archives only: there is no plain copy to hand to rsync.
    assert.throws(
      () => backup.plainCopy('data'),
      (error: unknown) => error instanceof BarmanError && error.code === 'backup-not-local',
    );
  });

  test('a storage without local files refuses a plain copy instead of handing out a path', () => {
    const posix = tree('no-local', { [`${ID}/data/PG_VERSION`]: '15\n' });
    const remote: Storage = Object.assign(Object.create(posix) as Storage, {
      features: { ...posix.features, localFiles: false },
    });
    assert.throws(
      () => archives(remote, backupLayoutFor(POSIX), ID).plainCopy('data'),
      /is a plain copy that local programs cannot read/,
    );
  });
});

describe('one WAL opener for both layouts', () => {
  test("Barman's: wals/<hash>/<name>, compression by magic bytes, xlog.db says what is missing", async () => {
    const storage = tree('barman-wals', { [`0000000100000000/${WAL}`]: gzipSync(SEGMENT) });
    const open = walOpener(new WalArchive(storage, 'barman', null));
    // xlog.db's compression column is not trusted: the bytes say gzip.
    assert.deepEqual(await text(await open(entry(null))), SEGMENT);
    rmSync(join(storage.location, '0000000100000000', WAL));
    await assert.rejects(open(entry(null)), {
      code: 'wal-missing',
      message: `WAL file ${WAL} is in xlog.db but not in ${storage.location}`,
    });
  });

  test("barman-cloud's: <hash>/<name>.<ext>, compression by the extension", async () => {
    const storage = tree('cloud-wals', { [`0000000100000000/${WAL}.gz`]: gzipSync(SEGMENT) });
    const open = walOpener(new WalArchive(storage, 'barman-cloud', null));
    assert.deepEqual(await text(await open(entry('gzip'))), SEGMENT);
  });

  test('a damaged WAL file is named, whatever the layout', async () => {
    const damaged = gzipSync(SEGMENT).subarray(0, 20);
    const storage = tree('damaged-wals', {
      [`0000000100000000/${WAL}`]: damaged,
      [`0000000100000000/${WAL}.gz`]: damaged,
    });
    for (const [layout, compression, name] of [
      ['barman', null, WAL],
      ['barman-cloud', 'gzip', `${WAL}.gz`],
    ] as const) {
      await assert.rejects(text(await walOpener(new WalArchive(storage, layout, null))(entry(compression))), {
        code: 'wal-corrupt',
        message: new RegExp(
          `^cannot decompress the archived WAL file ${storage.location}/0000000100000000/${name} \\(gzip\\)`,
        ),
      });
    }
  });
});
