/**
 * A throwaway GnuPG home with a generated RSA key pair protected by a passphrase, owned by the OS
 * user barman-ts runs as (gpg refuses a home another user owns for its agent socket). Tests pass
 * `env` (GNUPGHOME) to every barman run and `passphraseCommand` to encryption_passphrase_command.
 * RSA, so that `file` (Barman's detection) recognises the encrypted files too.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { BARMAN_BIN } from './barman.js';
import type { PostgresServer } from './postgres.js';
import { startPostgres } from './postgres.js';
import { chownTo, makeTempDir } from './tmp.js';
import { requireDebianPackages } from './tools.js';

export interface GpgHome {
  home: string;
  /** The key's fingerprint (encryption_key_id). */
  fingerprint: string;
  email: string;
  passphrase: string;
  /** Prints the passphrase (a file readable by `owner` only). */
  passphraseCommand: string;
  env: { GNUPGHOME: string };
  /** Stops the gpg-agent of this home (it caches passphrases). */
  stopAgent(): void;
}

export async function makeGpgHome(owner: string): Promise<GpgHome> {
  const base = await makeTempDir('gpg', { owner });
  const home = join(base, 'gnupg');
  execFileSync('mkdir', ['-m', '0700', home]);
  const email = 'barman-ts-test@example.invalid';
  const passphrase = `test passphrase ${process.pid}`;
  const parameters = [
    'Key-Type: RSA',
    'Key-Length: 2048',
    'Subkey-Type: RSA',
    'Subkey-Length: 2048',
    'Name-Real: barman-ts test',
    `Name-Email: ${email}`,
    'Expire-Date: 0',
    `Passphrase: ${passphrase}`,
    '%commit',
    '',
  ].join('\n');
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--gen-key'], {
    input: parameters,
    env,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const listing = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys', email], {
    env,
  }).toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in gpg's listing:\n${listing}`);
  // As the home's owner: gpg finds its agent's socket by the uid running it.
  const stopAgent = (as: string | null = null) => {
    try {
      const [program, args] =
        as === null
          ? ['gpgconf', ['--kill', 'gpg-agent']]
          : ['runuser', ['-u', as, '--', 'gpgconf', '--kill', 'gpg-agent']];
      execFileSync(program, args, { env, stdio: 'ignore' });
    } catch {
      // No agent running.
    }
  };
  stopAgent();
  const passphraseFile = join(base, 'passphrase');
  writeFileSync(passphraseFile, `${passphrase}\n`, { mode: 0o600 });
  await chownTo(base, owner);
  execFileSync('chown', ['-R', `${owner}:`, base]);
  return {
    home,
    fingerprint,
    email,
    passphrase,
    passphraseCommand: `cat ${passphraseFile}`,
    env: { GNUPGHOME: home },
    stopAgent: () => stopAgent(owner),
  };
}

/** What both encryption test files start from: a temp dir, a key, PostgreSQL archiving to barman-ts. */
export interface EncryptionRig {
  dir: string;
  gpg: GpgHome;
  pg: PostgresServer;
  /** The options of an encrypted postgres-method server (tar backups compressed with `compression`). */
  server: Record<string, string>;
}

/** `archiveConfig`: the barman.conf (in the temp dir) whose put-wal archive_command uses. */
export async function startEncryptionRig(
  prefix: string,
  archiveConfig: string,
  backupCompression: string,
): Promise<EncryptionRig> {
  requireDebianPackages('gnupg', 'file');
  const dir = await makeTempDir(prefix, { owner: 'postgres' });
  for (const sub of ['home', 'recovered']) {
    mkdirSync(join(dir, sub));
    await chownTo(join(dir, sub), 'postgres');
  }
  const gpg = await makeGpgHome('postgres');
  const pg = await startPostgres({
    version: 15,
    // put-wal seals what it receives: it needs the key, in the keyring this rig generated.
    archiveCommand: `GNUPGHOME=${gpg.env.GNUPGHOME} ${process.execPath} ${BARMAN_BIN} -c ${join(dir, archiveConfig)} -q put-wal main --file %p`,
  });
  const server = {
    conninfo: pg.conninfo,
    backup_method: 'postgres',
    backup_compression: backupCompression,
    backup_compression_format: 'tar',
    immediate_checkpoint: 'on',
    archiver: 'on',
    path_prefix: '/usr/lib/postgresql/15/bin',
    encryption: 'gpg',
    encryption_key_id: gpg.fingerprint,
    encryption_passphrase_command: gpg.passphraseCommand,
  };
  return { dir, gpg, pg, server };
}

/** `barman -c config get-wal ARGS...` as the barman user (postgres), its output kept as bytes. */
export function getWalAsBarmanUser(config: string, gpg: GpgHome, args: readonly string[]) {
  return spawnSync(
    'runuser',
    ['-u', 'postgres', '--', process.execPath, BARMAN_BIN, '-c', config, 'get-wal', ...args],
    {
      env: { ...process.env, ...gpg.env },
      maxBuffer: 64 << 20,
    },
  );
}

/** The marker string the encryption tests write into a table and search for in what is stored. */
export const MARKER = 'barman-ts-secret-marker-5e81c0';

/** Every file below `root`, recursively. */
export function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Files below `root` containing `text` (grep -r, binary files included). */
export function filesContaining(root: string, text: string): string[] {
  const run = spawnSync('grep', ['-r', '-l', '-a', '-F', text, root], { encoding: 'utf8' });
  if (run.status === 1) return [];
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n');
}

/** Files below `root` that are gzip streams whose content holds `text`. */
export function gzipFilesContaining(root: string, text: string): string[] {
  return filesUnder(root).filter((path) => {
    const bytes = readFileSync(path);
    if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return false;
    try {
      return gunzipSync(bytes).includes(text);
    } catch {
      return false;
    }
  });
}

/** `file --brief` of `path`: Barman's test for an encrypted file. */
export function fileType(path: string): string {
  return execFileSync('file', ['--brief', path], { encoding: 'utf8' }).trim();
}

/**
 * Whether `path` starts an OpenPGP message encrypted to a public key: `file` says so (Barman's
 * test), or — where `file`'s magic misses it, as for the ~1 in 256 RSA session keys whose
 * encrypted number is a byte shorter — its first packet is a public-key encrypted session key
 * (tag 1, old or new format header) of version 3.
 */
export function isPublicKeyEncrypted(path: string): boolean {
  if (/PGP RSA encrypted session key/.test(fileType(path))) return true;
  const head = readFileSync(path).subarray(0, 8);
  const ctb = head[0] ?? 0;
  if ((ctb & 0xc0) === 0xc0) return (ctb & 0x3f) === 1 && head[head[1]! < 192 ? 2 : 3] === 3;
  if ((ctb & 0x80) === 0x80) return ((ctb >> 2) & 0x0f) === 1 && head[[2, 3, 5][ctb & 0x03] ?? 2] === 3;
  return false;
}
