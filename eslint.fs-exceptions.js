// The files of src/ outside src/storage/ that may import node:fs, one entry per file, each with
// its reason (see "Storage is the only way to backup and WAL files" in docs/architecture.md).
// Backup and WAL data go through Storage (storageFor(config, location)); the file system is
// fine for configuration, locks, logs, PGDATA and the recovery destination, process plumbing
// and the work directories of local programs. eslint.config.js turns this list into the
// lint rule; test/unit/fs-exceptions.test.ts checks every entry is real (the file exists,
// imports node:fs) and gives a reason, so the list cannot rot.

/** @type {{ path: string, reason: string }[]} */
export const fsExceptions = [
  // Configuration loading.
  { path: 'src/config/load.ts', reason: 'reads barman.conf and its configuration_files_directory' },
  {
    path: 'src/config/models.ts',
    reason: "reads a server's active config-switch model file (configuration state)",
  },
  {
    path: 'src/commands/shared/config-changes.ts',
    reason: 'config-update queue, .barman.auto.conf and the active model file (configuration state)',
  },

  // Locks and logs.
  { path: 'src/locks/index.ts', reason: 'lock files: open, flock, pid, cleanup of unused lock files' },
  {
    path: 'src/locks/processes.ts',
    reason: "list-processes: the lock directory's task locks, and /proc/locks to check a holder's pid",
  },
  { path: 'src/log/index.ts', reason: 'creates the log file directory and keeps the log file private' },

  // Process and tool plumbing.
  { path: 'src/cli/run-as.ts', reason: 'creates barman_home for barman_user and reads /etc/passwd' },
  { path: 'src/commands/diagnose/run.ts', reason: 'reads /etc/os-release for the diagnose report' },
  {
    path: 'src/process/cli-entry.ts',
    reason: 'finds bin/barman.js of this installation to start itself (receive-wal, daemon runs)',
  },
  { path: 'src/postgres/password.ts', reason: 'reads the PostgreSQL password file (passfile, ~/.pgpass)' },
  { path: 'src/process/postgres-tools.ts', reason: 'finds the PostgreSQL client programs (access X_OK)' },
  {
    path: 'src/util/paths.ts',
    reason: 'resolves configured local paths the way the kernel sees them (checks)',
  },
  { path: 'src/util/version.ts', reason: "reads this package's package.json for --version" },
  {
    path: 'src/commands/shared/checks/permissions.ts',
    reason: 'check: modes and owners of the local files under barman_home (privacy)',
  },
  {
    path: 'src/commands/shared/checks/cloud-staging-checks.ts',
    reason: 'check: the local cloud staging directory exists or can be created, writable and private',
  },

  // PGDATA and PostgreSQL's own files, read by executors and on the database host.
  { path: 'src/executors/exclusive.ts', reason: 'reads backup_label from PGDATA (exclusive backup)' },
  { path: 'src/executors/cloud-tar.ts', reason: 'walks and reads PGDATA to stream it as tar to the bucket' },
  {
    path: 'src/executors/file-copy-checks.ts',
    reason: 'check: PGDATA is a readable directory (local-rsync, local-to-cloud)',
  },
  { path: 'src/cli/wal-archive-client.ts', reason: "barman-wal-archive: reads PostgreSQL's segment %p" },
  {
    path: 'src/cli/wal-restore-client.ts',
    reason: "barman-wal-restore: writes the fetched segment to PostgreSQL's %p and its spool",
  },
  {
    path: 'src/commands/cloud-wal-archive/run.ts',
    reason: "barman-cloud-wal-archive: checks PostgreSQL's %p is readable",
  },

  // Work directories of local programs (rsync, pg_basebackup, pg_receivewal) and spools.
  { path: 'src/executors/rsync.ts', reason: "rsync's destination directory and its tablespace symlinks" },
  {
    path: 'src/executors/local-rsync.ts',
    reason: "the local copy's destination directory (global/ for pg_control)",
  },
  {
    path: 'src/executors/concurrent.ts',
    reason:
      "writes backup_label and tablespace_map into the copy rsync just filled (the executor's work dir)",
  },
  {
    path: 'src/executors/postgres.ts',
    reason: "pg_basebackup's target directory and the backup_label it wrote there",
  },
  { path: 'src/executors/tar-label.ts', reason: "reads backup_label from pg_basebackup's tar output" },
  { path: 'src/executors/upload-journal.ts', reason: 'reads the local journal of open multipart uploads' },
  {
    path: 'src/commands/receive-wal/receiver.ts',
    reason: "pg_receivewal's streaming directory (.partial segments, its status files)",
  },
  {
    path: 'src/commands/receive-wal/reset.ts',
    reason: "receive-wal --reset: the .partial status files of pg_receivewal's streaming directory",
  },
  { path: 'src/wal/cloud-spool.ts', reason: 'the local spool of barman-cloud-wal-archive --parallel' },
  {
    path: 'src/wal/cloud-upload-worker.ts',
    reason: 'the local spool and errors directory of the cloud WAL uploader',
  },
  { path: 'src/wal/cloud-archive.ts', reason: 'reads the local source segment it uploads (incoming/ or %p)' },
  {
    path: 'src/wal/sealed-wal.ts',
    reason: 'reads the local WAL file it compresses and encrypts (%p or incoming/)',
  },
  {
    path: 'src/wal/put-wal.ts',
    reason: 'the archive_command fast path: writes incoming/ with link/rename and fsync, no Storage load',
  },

  // Shared lower layer: machinery on local paths its callers chose.
  {
    path: 'src/transfer/compression/files.ts',
    reason: 'compresses and decompresses local files for its callers',
  },
  {
    path: 'src/transfer/copy-tree.ts',
    reason: 'parallel local tree copy (copy_file_range, hard links) for local-rsync and recovery',
  },

  // The recovery destination.
  {
    path: 'src/recovery/apply.ts',
    reason: 'writes the recovery destination (configuration, staging directory)',
  },
  {
    path: 'src/recovery/destination.ts',
    reason: 'prepares and checks the recovery destination and tablespaces',
  },
  {
    path: 'src/recovery/remote-destination.ts',
    reason: "the file lists a remote recovery's rsync runs read (a private temporary directory)",
  },
  { path: 'src/recovery/tar-extract.ts', reason: 'extracts tar archives into the recovery destination' },
  {
    path: 'src/commands/verify-restore/instance.ts',
    reason:
      "a restore drill's private directory (recovered PGDATA, its pg_hba.conf, socket, log), its free space, and its removal",
  },
  {
    path: 'src/recovery/combine/output.ts',
    reason:
      'writes the data directory a native combine of an incremental chain produces (the recovery destination)',
  },
  {
    path: 'src/recovery/combine/local-files.ts',
    reason:
      'kernel copies, clones, hard links and positioned reads of a local catalogue’s backup files, at the paths Storage.localPath gives (as the recovery tree copy does), into the recovery destination',
  },

  // archive-wal's local drop boxes (the archive itself is reached through Storage).
  {
    path: 'src/wal/archive-sources.ts',
    reason:
      "archive-wal's sources: the local incoming/ and streaming/ drop boxes (headers, owners, removal once archived) and errors/ (never the archive)",
  },
];
