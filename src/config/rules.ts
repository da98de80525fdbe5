/**
 * Cross-field rules of a server configuration (after every option parsed on its own).
 * Errors disable the server; warnings are shown. May adjust `values` the way Barman does
 * (e.g. turning `archiver` on when no archiver is enabled).
 */
import { CLOUD_STAGING_OPTIONS, stagingLimitProblem, uploadPartSize } from './cloud-staging.js';
import { encryptionProblems } from './encryption-rules.js';
import type { ConfigProblem } from './problems.js';
import type { Location } from './value-kinds.js';

type Locate = (key: string) => Omit<ConfigProblem, 'severity' | 'message'>;

export function applyServerRules(values: Record<string, unknown>, locate: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const error = (key: string, message: string) =>
    problems.push({ severity: 'error', message, ...locate(key) });
  const warning = (key: string, message: string) =>
    problems.push({ severity: 'warning', message, ...locate(key) });

  const method = values.backup_method as string | null;
  const sshCommand = values.ssh_command as string | null;
  const basebackups = values.basebackups_directory as Location | null;
  const backupOptions = (values.backup_options as string[] | null) ?? [];

  if (method === 'snapshot') error('backup_method', "'snapshot' backups are not supported by barman-ts");
  // A passive node or a mirror takes no backups: its backup_method (rsync by default) needs no
  // ssh_command, and its catalogue may be in a bucket whatever backup_method says.
  const mirror = typeof values.mirror_of === 'string';
  const passive = typeof values.primary_ssh_command === 'string' || mirror;
  if (mirror && typeof values.primary_ssh_command === 'string')
    error(
      'mirror_of',
      "a mirror copies another server of this barman.conf; 'primary_ssh_command' makes it a passive node of " +
        'another Barman host: set one of them, not both',
    );
  if (method === 'rsync' && !sshCommand && !passive)
    error('ssh_command', "'backup_method = rsync' requires 'ssh_command'");
  if ((method === 'local-rsync' || method === 'local-to-cloud') && sshCommand) {
    error('ssh_command', `'backup_method = ${method}' runs on the PostgreSQL host: remove 'ssh_command'`);
  }
  if (method === 'local-to-cloud' && basebackups?.kind !== 's3') {
    error('basebackups_directory', "'backup_method = local-to-cloud' needs an s3://bucket/prefix URL here");
  }
  const toCloud = basebackups?.kind === 's3';
  if (toCloud && !mirror && method !== 'local-to-cloud' && method !== 'postgres') {
    error(
      'basebackups_directory',
      "an s3:// URL here requires 'backup_method = local-to-cloud' or 'backup_method = postgres'",
    );
  }

  // barman-cloud's layout has no xlog.db: a backup in object storage finds its WAL by listing
  // the object WAL archive (recovery, retention, WAITING_FOR_WALS), never in a local one.
  if (toCloud && (values.wals_directory as Location | null)?.kind !== 's3') {
    error(
      'wals_directory',
      "an s3:// 'basebackups_directory' needs an s3://bucket/prefix URL here too: " +
        'backups in object storage are kept with a WAL archive in object storage',
    );
  }

  if (backupOptions.includes('exclusive_backup') && backupOptions.includes('concurrent_backup')) {
    error('backup_options', "'exclusive_backup' and 'concurrent_backup' cannot be used together");
  } else if (backupOptions.includes('exclusive_backup') && method !== 'rsync' && method !== 'local-rsync') {
    error('backup_options', `'exclusive_backup' is not possible with 'backup_method = ${method}'`);
  } else if (!backupOptions.includes('exclusive_backup') && !backupOptions.includes('concurrent_backup')) {
    values.backup_options = [...backupOptions, 'concurrent_backup'].sort();
  }

  if (method === 'postgres' && values.network_compression === true) {
    error('network_compression', "'network_compression' is not supported with 'backup_method = postgres'");
  }
  const compressionOptions = [
    'backup_compression',
    'backup_compression_format',
    'backup_compression_level',
    'backup_compression_location',
    'backup_compression_workers',
  ];
  if (method === 'local-to-cloud' || (mirror && toCloud)) {
    // The tar archives uploaded by local-to-cloud (or packed by a mirror in a bucket) are
    // compressed by barman-ts itself, with 'backup_compression'.
    for (const key of compressionOptions.slice(1)) {
      if (values[key] !== null && values[key] !== undefined)
        error(key, `'${key}' requires 'backup_method = postgres'`);
    }
  } else if (method === 'postgres' && toCloud) {
    // Streamed to object storage, PostgreSQL's tar archives are compressed by barman-ts as they
    // are uploaded (barman-cloud-backup's layout): no plain format, no server-side compression.
    for (const key of compressionOptions.slice(1)) {
      if (values[key] !== null && values[key] !== undefined)
        error(
          key,
          `'${key}' cannot be used with 'backup_method = postgres' and an s3:// 'basebackups_directory': ` +
            "the backup is stored as tar archives compressed with 'backup_compression'",
        );
    }
  } else if (method !== 'postgres') {
    for (const key of compressionOptions) {
      if (values[key] !== null && values[key] !== undefined)
        error(key, `'${key}' requires 'backup_method = postgres'`);
    }
  } else if (values.backup_compression === null || values.backup_compression === 'none') {
    for (const key of compressionOptions.slice(1)) {
      if (values[key] !== null && values[key] !== undefined)
        error(key, `'${key}' requires 'backup_compression'`);
    }
  }
  if (values.backup_compression_workers !== null && values.backup_compression !== 'zstd') {
    if (method === 'postgres' && values.backup_compression !== null)
      error(
        'backup_compression_workers',
        "'backup_compression_workers' requires 'backup_compression = zstd'",
      );
  }

  if (values.compression === 'custom' && (values.wals_directory as Location | null)?.kind === 's3') {
    // Objects are named by their compression's extension, which a shell filter does not have.
    error('compression', "'compression = custom' cannot be used with an s3:// 'wals_directory'");
  }
  if (values.compression === 'custom') {
    for (const key of ['custom_compression_filter', 'custom_decompression_filter']) {
      if (!values[key]) error(key, `'compression = custom' requires '${key}'`);
    }
  }
  problems.push(...encryptionProblems(values, locate));
  if (values.aws_sse_kms_key_id && values.aws_encryption !== 'aws:kms') {
    error('aws_sse_kms_key_id', "'aws_sse_kms_key_id' requires 'aws_encryption = aws:kms'");
  }

  if (basebackups?.kind === 's3') {
    const tooSmall = stagingLimitProblem(
      values.cloud_staging_max_size as number,
      uploadPartSize(values.cloud_upload_min_chunk_size as number),
    );
    if (tooSmall) error('cloud_staging_max_size', tooSmall);
  } else {
    // Set for this server (not inherited from [barman], where it may serve other servers).
    for (const key of CLOUD_STAGING_OPTIONS) {
      const where = locate(key);
      if (where.file !== undefined && where.section === values.name)
        warning(
          key,
          `has no effect: only backups to an s3:// 'basebackups_directory' stage their uploads (this server's is local)`,
        );
    }
  }

  // A mirror's cron drops the source's WAL files into its incoming directory, which its own
  // archiver (archive-wal, or the cloud upload of an s3:// archive) stores.
  if (mirror) values.archiver = true;
  // A passive node (a mirror) receives its WAL from the primary (its source), never from PostgreSQL.
  if (!passive && values.archiver !== true && values.streaming_archiver !== true) {
    warning(
      'archiver',
      "no archiver enabled: turn on 'archiver', 'streaming_archiver' or both; using 'archiver = on'",
    );
    values.archiver = true;
  }
  if (values.streaming_archiver === true && values.archiver !== true && !values.slot_name) {
    error('slot_name', "a streaming-only archiver requires 'slot_name' (and 'streaming_conninfo')");
  }
  if (values.create_slot === 'auto' && !values.slot_name) {
    error('create_slot', "'create_slot = auto' requires 'slot_name'");
  }

  return problems;
}
