import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { tarMemberHeader } from '../../../src/transfer/tar-writer.js';
import { extractTarStream } from '../../../src/recovery/tar-extract.js';

const info = { mode: 0o600, mtimeSeconds: Date.UTC(2026, 0, 1) / 1000 };
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function tarOf(files: Record<string, Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, data] of Object.entries(files)) {
    blocks.push(
      tarMemberHeader(name, '0', data.length, info),
      data,
      Buffer.alloc((512 - (data.length % 512)) % 512),
    );
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('tar extraction checked against the backup manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-tar-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const pgVersion = Buffer.from('15\n');
  const relation = Buffer.alloc(8192, 7);

  test('files matching the manifest are extracted; each is looked up once', async () => {
    const looked: string[] = [];
    const stats = await extractTarStream(
      Readable.from([tarOf({ PG_VERSION: pgVersion, 'base/1/1259': relation })]),
      'data.tar',
      null,
      join(dir, 'ok'),
      {
        expected: (path) => {
          looked.push(path);
          return path === 'PG_VERSION' ? { size: 3, sha256: sha(pgVersion) } : { size: 8192, sha256: null }; // another algorithm: the size is still checked
        },
      },
    );
    assert.deepEqual(stats, { files: 2, bytes: 8195 });
    assert.deepEqual(looked, ['PG_VERSION', 'base/1/1259']);
    assert.equal(readFileSync(join(dir, 'ok', 'PG_VERSION'), 'utf8'), '15\n');
  });

  test('a different content or size is refused, naming the file and the archive', async () => {
    await assert.rejects(
      extractTarStream(
        Readable.from([tarOf({ PG_VERSION: Buffer.from('16\n') })]),
        'data_0001.tar',
        null,
        join(dir, 'bad'),
        {
          expected: () => ({ size: 3, sha256: sha(pgVersion) }),
        },
      ),
      (error: Error & { code?: string }) =>
        error.code === 'backup-corrupt' &&
        /'PG_VERSION' in data_0001\.tar does not match the backup manifest \(SHA-256 /.test(error.message),
    );
    await assert.rejects(
      extractTarStream(
        Readable.from([tarOf({ 'base/1/1259': relation })]),
        '16385.tar',
        null,
        join(dir, 'short'),
        {
          expected: () => ({ size: 16384, sha256: null }),
        },
      ),
      /\(8192 bytes, the manifest says 16384\)/,
    );
  });
});
