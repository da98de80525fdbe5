/**
 * The gpg module without a key: encrypted files are told from compressed WAL, WAL pages, labels
 * and history files by their first bytes; the passphrase command's failures are clear and never
 * show its output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGpgEncrypted } from '../../../src/transfer/gpg.js';
import { passphraseSourceOf } from '../../../src/transfer/passphrase.js';

describe('isGpgEncrypted', () => {
  it('recognises public-key and passphrase-encrypted OpenPGP messages, old and new format', () => {
    assert.equal(isGpgEncrypted(Buffer.from([0x85, 0x01, 0x8c, 0x03, 0x11])), true); // RSA-3072, old format
    assert.equal(isGpgEncrypted(Buffer.from([0x84, 0x5e, 0x03, 0x11])), true); // ECDH, old format
    assert.equal(isGpgEncrypted(Buffer.from([0xc1, 0x5e, 0x03, 0x11])), true); // new format
    assert.equal(isGpgEncrypted(Buffer.from([0x8c, 0x0d, 0x04, 0x09])), true); // symmetric (SKESK)
  });

  it('does not mistake other archived files for encrypted ones', () => {
    for (const head of [
      [0x1f, 0x8b, 0x08, 0x00], // gzip
      [0x28, 0xb5, 0x2f, 0xfd], // zstd
      [0x04, 0x22, 0x4d, 0x18], // lz4
      [0x42, 0x5a, 0x68, 0x39], // bzip2
      [0xfd, 0x37, 0x7a, 0x58], // xz
      [0x16, 0xd1, 0x02, 0x00], // a PostgreSQL 17 WAL page
      [...Buffer.from('START WAL')],
      [...Buffer.from('1\t0/3000000')],
      [0x85, 0x01, 0x8c, 0x04], // PKESK with an impossible version
      [0x84],
    ])
      assert.equal(isGpgEncrypted(Buffer.from(head)), false, Buffer.from(head).toString('hex'));
  });
});

describe('encryption_passphrase_command', () => {
  it('is unset: no source', () => {
    assert.equal(passphraseSourceOf({ encryption_passphrase_command: null }), null);
  });

  it('gives the first line of its output', async () => {
    const source = passphraseSourceOf({ encryption_passphrase_command: "printf 'one two\\nrest\\n'" })!;
    assert.equal((await source('a file')).toString(), 'one two');
  });

  it('failing: names the option and the exit status, never its output', async () => {
    const source = passphraseSourceOf({ encryption_passphrase_command: 'echo leaked-secret; exit 3' })!;
    await assert.rejects(source('backup X'), (error: Error) => {
      assert.match(
        error.message,
        /cannot decrypt backup X: 'encryption_passphrase_command' failed \(exit status 3\)/,
      );
      assert.ok(!error.message.includes('leaked-secret'));
      return true;
    });
  });

  it('printing nothing: an empty passphrase is refused', async () => {
    const source = passphraseSourceOf({ encryption_passphrase_command: 'true' })!;
    await assert.rejects(source('backup X'), /printed an empty passphrase/);
  });
});
