/**
 * What `worm_mode = on` needs to keep its promise (docs/immutable-storage.md): only
 * basebackups_directory and wals_directory are write-once, so everything that changes after a
 * file is written — the WAL index (xlog.db) and backup_directory's meta/ — must live outside
 * them. A server that cannot keep it is disabled, naming the option, rather than failing the
 * first time the storage refuses a change after the grace period.
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
  if (values.worm_mode !== true) return [];
  const problems: ConfigProblem[] = [];
  const refuse = (key: string, message: string) =>
    problems.push({ severity: 'error', message: `with 'worm_mode = on', ${message}`, ...locate(key) });
  const immutable: Array<[string, Location]> = [];
  for (const key of ['basebackups_directory', 'wals_directory']) {
    const location = values[key];
    if (!isLocation(location)) continue;
    if (location.kind === 's3') {
      refuse(
        key,
        `${key} must be a local directory: barman-ts does not apply S3 Object Lock yet (${location.url}); ` +
          "protect the bucket with its own retention rules and set 'worm_mode = off', or use a local WORM file system",
      );
    } else immutable.push([key, location]);
  }
  const xlogdb = values.xlogdb_directory;
  if (typeof xlogdb !== 'string') {
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
