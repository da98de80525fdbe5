/**
 * `encryption` (Barman 3.14+'s check item, with `encryption = gpg`): a test message is encrypted
 * to `encryption_key_id` in memory, so a missing, expired or untrusted key fails here rather than
 * at the first archived WAL. Beyond Barman, when `encryption_passphrase_command` is set the
 * message is decrypted back, proving the private key and the passphrase command work too.
 */
import { Readable } from 'node:stream';
import { describeError } from '../../../errors/index.js';
import { decryptStream, encryptionKeyOf, encryptStream } from '../../../transfer/gpg.js';
import { passphraseSourceOf } from '../../../transfer/passphrase.js';
import type { CheckContext } from './context.js';

const CHECK = 'encryption';

export async function encryptionCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start(CHECK);
  try {
    const keyId = encryptionKeyOf(ctx.config);
    if (keyId === null) return;
    const sample = Buffer.from(`barman check: encryption test of server ${ctx.config.name}\n`);
    const encrypted = encryptStream(keyId, sample);
    const [ciphertext] = await Promise.all([collect(encrypted.stdout), encrypted.done]);
    const passphrase = passphraseSourceOf(ctx.config);
    if (passphrase) {
      const plain = await collect(
        decryptStream(
          Readable.from([ciphertext]),
          await passphrase('the check message'),
          'the check message',
        ),
      );
      if (!plain.equals(sample)) throw new Error('decrypting the check message does not give it back');
    }
    ctx.c.add(CHECK, true);
  } catch (error) {
    ctx.c.add(CHECK, false, describeError(error));
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
