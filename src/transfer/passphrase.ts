/**
 * The passphrase of the private key, from `encryption_passphrase_command` (shell the operator
 * wrote, run as Barman runs it: through sh). Its stdout is the passphrase: kept in memory only,
 * never logged nor shown — a failure names the option and the exit status, not the output.
 * Asked once per process and kept for the process's life (Barman 3.15+ does the same), so a
 * recovery reading hundreds of WAL files runs the command once.
 */
import { spawn } from 'node:child_process';
import { BarmanError } from '../errors/index.js';
import type { EncryptionSettings } from './gpg.js';

const asked = new Map<string, Promise<Buffer>>();

/** A function giving the passphrase, asked on first use; `what` names what needs it, for errors. */
export type PassphraseSource = (what: string) => Promise<Buffer>;

/**
 * The server's passphrase source, or null when `encryption_passphrase_command` is unset (an
 * encrypted file then cannot be read: the caller says so, naming the file).
 */
export function passphraseSourceOf(config: EncryptionSettings): PassphraseSource | null {
  const command = config.encryption_passphrase_command;
  if (!command) return null;
  return (what) => passphraseFrom(command, what);
}

/** The error for an encrypted `what` on a server without `encryption_passphrase_command`. */
export function noPassphraseCommand(what: string): BarmanError {
  return new BarmanError(
    'encryption-no-passphrase-command',
    `${what} is encrypted, but 'encryption_passphrase_command' is not configured`,
    {
      hint: "set 'encryption_passphrase_command' to a command printing the passphrase of the private key",
    },
  );
}

function passphraseFrom(command: string, what: string): Promise<Buffer> {
  let pending = asked.get(command);
  if (!pending) {
    pending = runPassphraseCommand(command);
    asked.set(command, pending);
    // A failure is not kept: the next caller in this process asks again.
    pending.catch(() => asked.delete(command));
  }
  return pending.catch((error: unknown) => {
    if (error instanceof BarmanError)
      throw new BarmanError(error.code, `cannot decrypt ${what}: ${error.message}`, { hint: error.hint });
    throw error;
  });
}

function runPassphraseCommand(command: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // stderr is dropped too: a command echoing its input there must not leak it into our output.
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] });
    const parts: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => parts.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const output = Buffer.concat(parts);
      if (code !== 0) {
        output.fill(0);
        reject(
          new BarmanError(
            'encryption-passphrase-command-failed',
            `'encryption_passphrase_command' failed (${signal ? `killed by ${signal}` : `exit status ${code}`})`,
            {
              hint: 'run the command by hand as the barman user and fix it; it must print the passphrase and exit 0',
            },
          ),
        );
        return;
      }
      // Only the first line counts (gpg reads up to a newline); an empty one is no passphrase.
      const end = output.indexOf(0x0a);
      const passphrase = end < 0 ? output : output.subarray(0, end);
      if (passphrase.length === 0) {
        reject(
          new BarmanError(
            'encryption-empty-passphrase',
            "'encryption_passphrase_command' printed an empty passphrase",
            {
              hint: 'it must print the passphrase of the private key on its standard output',
            },
          ),
        );
        return;
      }
      resolve(Buffer.from(passphrase));
      output.fill(0);
    });
  });
}
