/**
 * `directory permissions` (a barman-ts check; Barman has none): the server's directories hold
 * every row of the database, so other users must not reach them. barman-ts creates what it
 * needs 0700 and never changes the mode of a directory it did not create (one made 0755 by a
 * package or an older Barman, say); this check names such a directory and the command that
 * closes it. Only a failure is shown, so a healthy server's check reads as Barman's.
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isOpenMode } from '../../../util/private-files.js';

export const DIRECTORY_PERMISSIONS_CHECK = 'directory permissions';

export interface OpenDirectory {
  path: string;
  mode: number;
}

/**
 * The directories of `paths` other users can reach: neither they nor any parent directory
 * denies group and other users every permission (one private parent is enough to hide all
 * below it). A directory below another one reported is left out: closing that one covers it.
 * Missing paths are skipped (the `directories` check reports them).
 */
export async function openDirectories(paths: readonly string[]): Promise<OpenDirectory[]> {
  const open = new Map<string, number>();
  for (const path of paths) {
    const real = await realpath(path).catch(() => null);
    if (real !== null && (await reachable(real))) open.set(real, (await stat(real)).mode);
  }
  const reported = [...open.keys()];
  return reported
    .filter((path) => !reported.some((other) => path.startsWith(`${other}/`)))
    .map((path) => ({ path, mode: open.get(path)! }));
}

/** True unless `path` or one of its parents gives group and other users no permission at all. */
async function reachable(path: string): Promise<boolean> {
  for (let current = path; ; current = dirname(current)) {
    if (!isOpenMode((await stat(current)).mode)) return false;
    if (current === dirname(current)) return true;
  }
}

/** The check's hint: each open directory with its mode and the fix. */
export function describeOpenDirectories(open: readonly OpenDirectory[]): string {
  return open
    .map(
      ({ path, mode }) =>
        `${path} is open to other users (mode ${(mode & 0o7777).toString(8).padStart(4, '0')}): ` +
        `chmod -R go-rwx ${path}`,
    )
    .join('; ');
}
