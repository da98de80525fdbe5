/**
 * The one place barman-ts runs gpg (`encryption = gpg`, Barman 3.14+'s format): binary OpenPGP
 * messages to `encryption_key_id`, gpg's own compression off (barman-ts compresses first),
 * loopback pinentry; always from an argument array. Encrypting needs only the public key;
 * decrypting needs the passphrase `encryption_passphrase_command` prints, which reaches gpg on a
 * pipe of its own (fd 3, `--passphrase-fd 3`) and nowhere else: never argv, the log or output.
 * Data streams through gpg's stdin and stdout, so plaintext is never written to a file here.
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Readable, type Writable } from 'node:stream';
import { BarmanError } from '../errors/index.js';

/** What backup.info and xlog.db record for a file this module encrypted (Barman's name). */
export const GPG_ENCRYPTION = 'gpg';

/** Options every gpg run shares (Barman's): no questions, passphrase only through our pipe. */
const COMMON = ['--yes', '--batch', '--no-tty', '--pinentry-mode', 'loopback'];

/** The encryption settings of a server (the fields of ServerConfig this module reads). */
export interface EncryptionSettings {
  encryption?: string | null;
  encryption_key_id?: string | null;
  encryption_passphrase_command?: string | null;
}

/** The recipient to encrypt to, or null when the server does not encrypt. */
export function encryptionKeyOf(config: EncryptionSettings): string | null {
  if (config.encryption !== GPG_ENCRYPTION) return null;
  if (!config.encryption_key_id)
    throw new BarmanError('encryption-config', "'encryption = gpg' needs 'encryption_key_id'", {
      hint: "set 'encryption_key_id' to the key id, fingerprint or e-mail of the gpg public key to encrypt to",
    });
  return config.encryption_key_id;
}

/**
 * Whether `head` (a file's first bytes, at least 4) starts an OpenPGP message encrypted to a
 * public key or a passphrase: a PKESK (tag 1) or SKESK (tag 3) packet, old or new format, with a
 * version byte gpg writes. No compression magic nor a WAL page, label or history file starts so.
 */
export function isGpgEncrypted(head: Buffer): boolean {
  if (head.length < 3) return false;
  const ctb = head[0]!;
  if ((ctb & 0x80) === 0) return false;
  let tag: number;
  let bodyStart: number;
  if (ctb & 0x40) {
    tag = ctb & 0x3f;
    const first = head[1]!;
    bodyStart = first < 192 ? 2 : first < 224 ? 3 : first === 255 ? 6 : -1;
  } else {
    tag = (ctb >> 2) & 0x0f;
    const lengthType = ctb & 0x03;
    bodyStart = lengthType === 0 ? 2 : lengthType === 1 ? 3 : lengthType === 2 ? 5 : -1;
  }
  if (bodyStart < 0 || head.length <= bodyStart) return false;
  const version = head[bodyStart]!;
  if (tag === 1) return version === 3 || version === 6;
  if (tag === 3) return version === 4 || version === 5 || version === 6;
  return false;
}

/** The last lines of gpg's stderr, for messages (gpg never prints the passphrase). */
function stderrTail(stderr: string): string {
  return stderr
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-3)
    .join('; ');
}

/** Starts gpg; its stderr is collected, a missing gpg is a clear error. */
function startGpg(args: readonly string[], extraPipe: boolean) {
  const child = spawn('gpg', args, {
    stdio: extraPipe ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 8192) stderr += text;
  });
  // gpg exiting early (a bad key) makes our writes fail with EPIPE: its exit status says why.
  child.stdin.on('error', () => {});
  const exit = new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new BarmanError('gpg-missing', 'gpg is not installed or not in PATH', {
              hint: "install GnuPG 2.1 or later (Debian: 'apt-get install gnupg') for 'encryption = gpg'",
            })
          : error,
      ),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
  return { child, exit };
}

/**
 * How many encryptToFile runs a process lets gpg do at once: one per core. archive-wal prepares
 * 32 files together; 32 gpg processes on two cores each pay start-up and keyring reads while
 * fighting for the CPU (and gpg's keyring locks), and their outputs' fsyncs queue up anyway.
 */
const ENCRYPT_SLOTS = Math.max(1, availableParallelism());
let encryptRunning = 0;
const encryptWaiting: Array<() => void> = [];

/**
 * Encrypts `input` to `keyId` into the local file `output` (created or replaced; the caller owns
 * its temporary name and durability). A refused key fails naming the key and gpg's reason.
 * Whole-file encryptions wait for one of ENCRYPT_SLOTS (none waits on another: no deadlock).
 */
export async function encryptToFile(keyId: string, input: Buffer | Readable, output: string): Promise<void> {
  // A finishing run hands its slot to the next waiter directly, so the count never overshoots.
  if (encryptRunning < ENCRYPT_SLOTS) encryptRunning += 1;
  else await new Promise<void>((resolve) => encryptWaiting.push(resolve));
  try {
    await encryptStream(keyId, input, output).done;
  } finally {
    const next = encryptWaiting.shift();
    if (next) next();
    else encryptRunning -= 1;
  }
}

/**
 * Encrypts `input` to `keyId`: the ciphertext is `output` (a local file) or, without one, the
 * returned `stdout`. `done` settles when gpg exits, rejecting with the reason gpg gave.
 */
export function encryptStream(
  keyId: string,
  input: Buffer | Readable,
  output?: string,
): { stdout: Readable; done: Promise<void> } {
  // The key comes from the local keyring only: a backup server does not look keys up on the network.
  const args = [
    ...COMMON,
    '--auto-key-locate',
    'local',
    '--compress-level',
    '0',
    '--recipient',
    keyId,
    '--encrypt',
  ];
  if (output !== undefined) args.push('--output', output);
  const { child, exit } = startGpg(args, false);
  const stdin = child.stdin;
  let inputError: Error | null = null;
  if (Buffer.isBuffer(input)) {
    stdin.end(input);
  } else {
    input.on('error', (error) => {
      inputError = error;
      child.kill();
    });
    input.pipe(stdin);
  }
  const done = exit.then(({ code, stderr }) => {
    if (inputError) throw inputError;
    if (code !== 0)
      throw new BarmanError(
        'gpg-encrypt-failed',
        `gpg could not encrypt to key '${keyId}': ${stderrTail(stderr)}`,
        {
          hint: "check 'encryption_key_id': the public key must be in the keyring of the barman user (GNUPGHOME) and trusted",
        },
      );
  });
  return { stdout: child.stdout, done };
}

/**
 * `ciphertext` decrypted with `passphrase`, as a stream that fails (naming `where`) when gpg
 * does: a wrong passphrase, a missing secret key, a damaged or truncated file.
 */
export function decryptStream(ciphertext: Readable, passphrase: Buffer, where: string): Readable {
  const args = [...COMMON, '--passphrase-fd', '3', '--decrypt'];
  async function* chunks(): AsyncGenerator<Buffer> {
    const { child, exit } = startGpg(args, true);
    const passphrasePipe = child.stdio[3] as Writable;
    passphrasePipe.on('error', () => {});
    // gpg reads the passphrase up to the first newline.
    const line = passphrase.includes(0x0a) ? passphrase : Buffer.concat([passphrase, Buffer.from('\n')]);
    passphrasePipe.end(line);
    const reading: { error?: Error } = {};
    ciphertext.on('error', (error) => {
      reading.error = error;
      child.kill();
    });
    ciphertext.pipe(child.stdin);
    try {
      for await (const chunk of child.stdout) yield chunk as Buffer;
      const { code, stderr } = await exit;
      if (reading.error) throw reading.error;
      if (code !== 0) throw decryptError(stderr, where);
    } finally {
      ciphertext.destroy();
      if (child.exitCode === null) child.kill();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

function decryptError(stderr: string, where: string): BarmanError {
  if (/bad passphrase/i.test(stderr))
    return new BarmanError('gpg-bad-passphrase', `cannot decrypt ${where}: bad passphrase`, {
      hint: "check that 'encryption_passphrase_command' prints the passphrase of the private key",
    });
  if (/no secret key/i.test(stderr))
    return new BarmanError(
      'gpg-no-secret-key',
      `cannot decrypt ${where}: its private key is not in the keyring`,
      {
        hint: 'import the private key the file was encrypted to into the keyring of the barman user (GNUPGHOME)',
      },
    );
  if (/no passphrase given/i.test(stderr))
    return new BarmanError('gpg-no-passphrase', `cannot decrypt ${where}: no passphrase reached gpg`);
  return new BarmanError(
    'gpg-decrypt-failed',
    `cannot decrypt ${where}: ${stderrTail(stderr) || 'gpg failed'}`,
    {
      hint: 'the file is damaged (truncated or corrupt) or not an encrypted file; replace it with an intact copy',
    },
  );
}
