/**
 * Finding what write-once storage protects (worm_mode): the files and directories a deletion
 * would have to remove but that the file system refuses to change — an immutable flag
 * (`chattr +i`, EPERM) or a read-only mount (EROFS). access(2) with W_OK tells both without
 * changing anything, and the kernel checks them before the root override, so the answer holds
 * for root too. A deletion asks first and refuses whole, instead of failing halfway.
 */
import { constants as fsConstants } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';
import type { Storage } from './index.js';

export interface ImmutableEntry {
  /** Relative to the storage root. */
  path: string;
  /** Why it cannot be changed, in words (the immutable flag, a read-only file system). */
  reason: string;
  /** When the protection ends, where the storage tells it; null when it does not (posix). */
  until: Date | null;
}

export interface ImmutableProbeOptions {
  /** false: a directory given is probed itself, not what it holds. Default true. */
  descend?: boolean;
}

const REFUSALS: Record<string, string> = {
  EPERM: 'immutable (the file system refuses to change or remove it)',
  EROFS: 'on a read-only file system',
};

/**
 * The entries below each of `paths` (each one included; missing ones skipped) that cannot be
 * changed, at most `limit` of them: enough to refuse and to say why.
 */
export async function findImmutableEntries(
  root: string,
  paths: readonly string[],
  limit: number,
  options: ImmutableProbeOptions = {},
): Promise<ImmutableEntry[]> {
  const found: ImmutableEntry[] = [];
  const probe = async (relative: string, depth: number): Promise<void> => {
    if (found.length >= limit) return;
    const full = join(root, relative);
    const info = await lstat(full).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    // A symbolic link's removal is its directory's business, probed as that directory.
    if (!info || (!info.isFile() && !info.isDirectory())) return;
    const refusal = await access(full, fsConstants.W_OK).then(
      () => null,
      (error: NodeJS.ErrnoException) => REFUSALS[error.code ?? ''] ?? null,
    );
    if (refusal) found.push({ path: relative, reason: refusal, until: null });
    if (!info.isDirectory() || (options.descend === false && depth === 0)) return;
    for (const name of (await readdir(full)).sort())
      await probe(relative ? `${relative}/${name}` : name, depth + 1);
  };
  for (const path of paths) await probe(path.replace(/^\/+|\/+$/g, ''), 0);
  return found;
}

/** The BarmanError code of a refusal: callers that can go on without the deletion look for it. */
export const IMMUTABLE_ERROR = 'worm-immutable';

/**
 * Throws, before anything is removed, when write-once storage still protects one of `paths`
 * (worm_mode): `action` names what is refused; the message names the file, why, and until when
 * where the storage says it. Storages without `findImmutable` are not probed.
 */
export async function refuseImmutable(
  storage: Storage,
  paths: readonly string[],
  action: string,
  options: ImmutableProbeOptions = {},
): Promise<void> {
  const found = (await storage.findImmutable?.(paths, 1, options)) ?? [];
  const [first] = found;
  if (!first) return;
  const until = first.until
    ? `until ${first.until.toISOString()}`
    : 'until the storage lifts its protection (the file system does not say when: its retention period decides)';
  throw new BarmanError(
    IMMUTABLE_ERROR,
    `${action}: ${storage.location}/${first.path} is ${first.reason}, write-once storage keeps it ${until}; nothing was removed`,
    { hint: 'retry once the immutability period has passed; retention_policy should cover that period' },
  );
}
