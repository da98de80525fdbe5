/** What a file-level copy of PGDATA leaves out (Barman's list, plus temporary relation files). */

/** Directories whose content is not copied (the directory itself is). */
const EMPTY_DIRECTORIES = new Set([
  'pg_wal',
  'pg_xlog',
  'pg_log',
  'log',
  'pg_dynshmem',
  'pg_notify',
  'pg_replslot',
  'pg_serial',
  'pg_stat_tmp',
  'pg_snapshots',
  'pg_subtrans',
]);

/** Files skipped wherever they are. */
const SKIPPED_NAMES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
  'pg_internal.init',
  'recovery.conf',
  'recovery.signal',
  'standby.signal',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
]);

/** backup_label and tablespace_map: in PGDATA during an exclusive backup, which copies them. */
const LABEL_FILES = new Set(['backup_label', 'tablespace_map']);

/**
 * Decision for a path relative to PGDATA (or to a tablespace when `tablespace` is true).
 * `keepLabelFiles`: an exclusive backup's copy takes the backup_label and tablespace_map that
 * PostgreSQL wrote into PGDATA (a concurrent backup gets them from pg_backup_stop instead).
 */
export function pgdataFilter(
  relative: string,
  isDirectory: boolean,
  tablespace = false,
  keepLabelFiles = false,
): 'skip' | 'empty' | 'copy' {
  const name = relative.slice(relative.lastIndexOf('/') + 1);
  if (name.startsWith('pgsql_tmp')) return 'skip';
  if (!isDirectory && /^t\d+_\d+/.test(name)) return 'skip'; // temporary relation files
  if (tablespace) return 'copy';
  if (!relative.includes('/')) {
    if (isDirectory && EMPTY_DIRECTORIES.has(name)) return 'empty';
    if (!isDirectory && SKIPPED_NAMES.has(name) && !(keepLabelFiles && LABEL_FILES.has(name))) return 'skip';
  } else if (!isDirectory && (name === 'pg_internal.init' || name === 'postmaster.pid')) {
    return 'skip';
  }
  // pg_control is copied last, after everything else (see the executors).
  if (relative === 'global/pg_control') return 'skip';
  return 'copy';
}
