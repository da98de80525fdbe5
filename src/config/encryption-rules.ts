/**
 * The cross-option rules of `encryption = gpg`. Barman checks them only in `check` and `backup`;
 * barman-ts refuses the server when the configuration is read, so that nothing is ever written
 * in plaintext by a server that asked for encryption.
 */
import type { ConfigProblem } from './problems.js';

type Locate = (key: string) => Omit<ConfigProblem, 'severity' | 'message'>;

export function encryptionProblems(
  values: Readonly<Record<string, unknown>>,
  locate: Locate,
): ConfigProblem[] {
  if (values.encryption !== 'gpg') return [];
  const problems: ConfigProblem[] = [];
  const error = (key: string, message: string) =>
    problems.push({ severity: 'error', message, ...locate(key) });
  if (!values.encryption_key_id)
    error(
      'encryption_key_id',
      "'encryption = gpg' needs 'encryption_key_id' (the key id, fingerprint or e-mail of the gpg public key to encrypt to)",
    );
  const method = values.backup_method as string | null;
  if (method === 'rsync' || method === 'local-rsync') {
    error(
      'encryption',
      `'encryption = gpg' cannot be used with 'backup_method = ${method}': its backups are plain files, ` +
        "which barman-ts does not encrypt; use 'backup_method = postgres' with 'backup_compression_format = tar', " +
        'which writes encrypted tar archives',
    );
  } else if (
    method === 'postgres' &&
    values.backup_compression_format !== 'tar' &&
    // To an s3:// location a postgres backup is always stored as tar archives (encrypted there).
    (values.basebackups_directory as { kind?: string } | null)?.kind !== 's3'
  ) {
    error(
      'backup_compression_format',
      "'encryption = gpg' with 'backup_method = postgres' needs 'backup_compression' (gzip, lz4, zstd or none) " +
        "and 'backup_compression_format = tar': a plain-format backup would be stored unencrypted",
    );
  }
  // An s3:// basebackups_directory / wals_directory is encrypted in the process before upload
  // (cloud-tar.ts, cloud-archive.ts, the async spool sealed): no refusal. Barman's own
  // decryption staging options are not used (barman-ts decrypts as it streams).
  return problems;
}
