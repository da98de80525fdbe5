/**
 * sealWalStream with a real gpg and a throwaway, empty keyring: a key gpg cannot encrypt to makes
 * the sealed stream fail (naming the key) instead of ending, so cloud-wal-archive never uploads
 * an empty or truncated object and the async spool never links one.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { sealWalStream } from '../../../src/wal/sealed-wal.js';

let directory = '';
const previousHome = process.env.GNUPGHOME;

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'sealed-wal-'));
  await writeFile(join(directory, '000000010000000000000001'), Buffer.alloc(1 << 20, 7));
  process.env.GNUPGHOME = join(directory, 'gnupg');
  await mkdir(process.env.GNUPGHOME, { mode: 0o700 });
});

after(async () => {
  if (previousHome === undefined) delete process.env.GNUPGHOME;
  else process.env.GNUPGHOME = previousHome;
  await rm(directory, { recursive: true, force: true });
});

it('a key missing from the keyring: the sealed stream fails naming it, after no bytes', async () => {
  const sealed = await sealWalStream(join(directory, '000000010000000000000001'), {
    compression: 'gzip',
    level: 6,
    keyId: 'nobody@example.invalid',
  });
  let bytes = 0;
  await assert.rejects(
    (async () => {
      for await (const chunk of sealed) bytes += (chunk as Buffer).length;
    })(),
    /gpg could not encrypt to key 'nobody@example.invalid'/,
  );
  assert.equal(bytes, 0);
});
