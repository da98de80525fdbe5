/**
 * The cross-option rules of `encryption = gpg`. Barman checks them only in `check` and `backup`;
 * barman-ts refuses the server when the configuration is read, so that nothing is ever written
 * in plaintext by a server that asked for encryption.
 */
import type { ConfigProblem } from './problems.js';
import type { Location } from './value-kinds.js';

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
  } else if (method === 'postgres' && values.backup_compression_format !== 'tar') {
    error(
      'backup_compression_format',
      "'encryption = gpg' with 'backup_method = postgres' needs 'backup_compression' (gzip, lz4, zstd or none) " +
        "and 'backup_compression_format = tar': a plain-format backup would be stored unencrypted",
    );
  }
  // Not built yet: refused rather than writing plaintext objects.
  for (const key of ['basebackups_directory', 'wals_directory']) {
    if ((values[key] as Location | null)?.kind === 's3')
      error(
        key,
        `'encryption = gpg' is not supported yet with an s3:// '${key}' (barman-ts would upload plaintext): ` +
          'use a local directory for this encrypted server',
      );
  }
  return problems;
}
