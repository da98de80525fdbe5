/** Comparing local paths the way the kernel sees them, for checks that keep two things apart. */
import { realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The absolute `path` with `.`, `..`, repeated slashes and symbolic links resolved as the kernel
 * would (a `..` after a link leaves the link's target). For a path that does not exist (yet),
 * the nearest existing ancestor is resolved and the rest appended, so a directory about to be
 * created compares as where it will be. An unreadable ancestor ends resolution there.
 */
export function physicalPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    // Resolved one component at a time below.
  }
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  let current = '/';
  for (const [index, part] of parts.entries()) {
    if (part === '..') {
      current = dirname(current);
      continue;
    }
    const next = join(current, part);
    try {
      current = realpathSync.native(next);
    } catch {
      return resolve(next, ...parts.slice(index + 1));
    }
  }
  return current;
}

/** True when `path` is `container` or lies below it (both physical, see physicalPath). */
export function isSameOrInside(path: string, container: string): boolean {
  return path === container || path.startsWith(container === '/' ? '/' : `${container}/`);
}
