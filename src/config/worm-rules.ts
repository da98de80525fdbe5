/**
 * What `worm_mode = on` needs to keep its promise (docs/immutable-storage.md): only
 * basebackups_directory and wals_directory are write-once, so everything that changes after a
 * file is written — the WAL index (xlog.db) and backup_directory's meta/ — must live outside
 * them. A server that cannot keep it is disabled, naming the option, rather than failing the
 * first time the storage refuses a change after the grace period. On an s3:// location barman-ts
 * locks each object itself (S3 Object Lock), for `worm_object_lock_retention`, which must be set.
 */
import { isAbsolute, relative } from 'node:path';
import type { ConfigProblem } from './problems.js';

type Locate = (key: string) => Omit<ConfigProblem, 'severity' | 'message'>;
type Location = { kind: 'posix'; path: string } | { kind: 's3'; url: string };

/** `inner` is `outer` or below it. */
function within(inner: string, outer: string): boolean {
  const path = relative(outer, inner);
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
}

function isLocation(value: unknown): value is Location {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

export function wormOptionProblems(
  values: Readonly<Record<string, unknown>>,
  locate: Locate,
): ConfigProblem[] {
  const cloud = ['basebackups_directory', 'wals_directory'].filter(
    (key) => isLocation(values[key]) && values[key].kind === 's3',
  );
  const lockRetention = values.worm_object_lock_retention;
  if (values.worm_mode !== true) {
    // Nothing silently ignored: the lock options act only with worm_mode and an s3:// location.
    if (typeof lockRetention !== 'number') return [];
    return [
      {
        severity: 'error',
        message:
          "'worm_object_lock_retention' applies only with 'worm_mode = on': set 'worm_mode = on' or remove the option",
        ...locate('worm_object_lock_retention'),
      },
    ];
  }
  const problems: ConfigProblem[] = [];
  const refuse = (key: string, message: string) =>
    problems.push({ severity: 'error', message: `with 'worm_mode = on', ${message}`, ...locate(key) });
  const immutable: Array<[string, Location]> = [];
  for (const key of ['basebackups_directory', 'wals_directory']) {
    const location = values[key];
    if (isLocation(location)) immutable.push([key, location]);
  }
  const [firstCloud] = cloud;
  if (firstCloud && typeof lockRetention !== 'number') {
    refuse(
      'worm_mode',
      `${firstCloud} is an s3:// location, whose objects barman-ts locks with S3 Object Lock: set ` +
        "'worm_object_lock_retention' (e.g. '30 days', at most what retention_policy keeps a backup)",
    );
  } else if (!firstCloud && typeof lockRetention === 'number') {
    refuse(
      'worm_object_lock_retention',
      "'worm_object_lock_retention' applies only to an s3:// basebackups_directory or wals_directory: " +
        'remove it (a local WORM file system sets its own retention)',
    );
  }
  const xlogdb = values.xlogdb_directory;
  // An s3:// WAL archive (barman-cloud's layout) has no WAL index: its listing is the index.
  if (typeof xlogdb !== 'string' && !cloud.includes('wals_directory')) {
    refuse(
      'worm_mode',
      "the WAL index changes with every archived WAL: set 'xlogdb_directory' to a directory on regular " +
        '(mutable) storage, outside wals_directory and basebackups_directory',
    );
  }
  for (const [key, location] of immutable) {
    if (location.kind !== 'posix') continue;
    if (typeof xlogdb === 'string' && within(xlogdb, location.path)) {
      refuse(
        'xlogdb_directory',
        `xlogdb_directory (${xlogdb}) must not be inside ${key} (${location.path}), which is write-once`,
      );
    }
    const home = values.backup_directory;
    if (typeof home === 'string' && within(home, location.path)) {
      refuse(
        'backup_directory',
        `backup_directory (${home}), whose meta/ holds the backup.info files that change, must not be inside ${key} (${location.path})`,
      );
    }
  }
  if (values.reuse_backup === 'link') {
    refuse(
      'reuse_backup',
      "'reuse_backup = link' would hard-link the previous backup's files, which write-once storage refuses: use 'copy' or 'off'",
    );
  }
  return problems;
}
