import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { TarPartWriter } from '../../../src/executors/cloud-tar.js';
import { createDecompressStream } from '../../../src/transfer/compression/index.js';
import { readTar } from '../../../src/transfer/tar-reader.js';

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function members(
  archive: Buffer,
  gzip = false,
): Promise<Array<{ name: string; type: string; body: Buffer }>> {
  const { Readable } = await import('node:stream');
  const raw = Readable.from([archive]);
  const stream = gzip ? raw.pipe(createDecompressStream('gzip')) : raw;
  const found: Array<{ name: string; type: string; body: Buffer }> = [];
  await readTar(stream, async (member, body) => {
    const chunks: Buffer[] = [];
    await body((chunk) => {
      chunks.push(Buffer.from(chunk));
      return Promise.resolve();
    });
    found.push({ name: member.name, type: member.type, body: Buffer.concat(chunks) });
  });
  return found;
}

describe('local-to-cloud tar archives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloud-tar-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('directories, long names (PAX), parts split by size, gzip', async () => {
    const stored = new Map<string, Buffer>();
    const writer = new TarPartWriter('data', {
      compression: 'gzip',
      extension: '.gz',
      maxSize: 64 * 1024,
      upload: async (name, body) => {
        const bytes = await collect(body);
        stored.set(name, bytes);
        return bytes.length;
      },
    });
    const long = `${'d'.repeat(80)}/${'f'.repeat(60)}`;
    mkdirSync(join(dir, 'd'.repeat(80)));
    writeFileSync(join(dir, long), 'long name');
    writeFileSync(join(dir, 'big'), Buffer.alloc(50 * 1024, 7));
    writeFileSync(join(dir, 'big2'), Buffer.alloc(50 * 1024, 8));
    await writer.addDirectory('empty', { mode: 0o700, mtimeSeconds: Date.now() / 1000 });
    assert.equal(await writer.addFile(join(dir, long), long), true);
    assert.equal(await writer.addFile(join(dir, 'big'), 'big'), true);
    assert.equal(await writer.addFile(join(dir, 'big2'), 'big2'), true);
    assert.equal(await writer.addFile(join(dir, 'vanished'), 'vanished'), false);
    await writer.finish();
    await writer.addBuffer('backup_label', Buffer.from('LABEL'));
    await writer.finish();
    assert.deepEqual(
      writer.uploaded.map((part) => part.name),
      ['data.tar.gz', 'data_0001.tar.gz', 'data_0002.tar.gz'],
    );
    const first = await members(stored.get('data.tar.gz')!, true);
    assert.deepEqual(
      first.map((member) => [member.name, member.type]),
      [
        ['empty/', '5'],
        [long, '0'],
        ['big', '0'],
      ],
    );
    assert.equal(first[1]!.body.toString(), 'long name');
    assert.equal(first[2]!.body.length, 50 * 1024);
    assert.deepEqual(
      (await members(stored.get('data_0001.tar.gz')!, true)).map((member) => member.name),
      ['big2'],
    );
    const label = await members(stored.get('data_0002.tar.gz')!, true);
    assert.equal(label[0]!.name, 'backup_label');
    assert.equal(label[0]!.body.toString(), 'LABEL');
  });

  test('a failed upload fails the copy instead of blocking it', async () => {
    writeFileSync(join(dir, 'large'), Buffer.alloc(8 * 1024 * 1024, 1));
    const writer = new TarPartWriter('16385', {
      compression: null,
      extension: '',
      maxSize: 1 << 30,
      upload: () => Promise.reject(new Error('S3 is down')),
    });
    await assert.rejects(writer.addFile(join(dir, 'large'), 'large'), /S3 is down/);
    await writer.abort(new Error('stop'));
  });

  test('an aborted copy stops the upload (a multipart upload is aborted by the driver)', async () => {
    let uploadError: unknown = null;
    const writer = new TarPartWriter('data', {
      compression: 'gzip',
      extension: '.gz',
      maxSize: 1 << 30,
      upload: async (_name, body) => {
        try {
          return (await collect(body)).length;
        } catch (error) {
          uploadError = error;
          throw error;
        }
      },
    });
    await writer.addBuffer('a', Buffer.from('a'));
    await writer.abort(new Error('PostgreSQL stopped'));
    assert.match(String(uploadError), /PostgreSQL stopped/);
    assert.deepEqual(writer.uploaded, []);
  });
});
