/**
 * `cloud staging directory` (barman-ts), for a server whose backups stage their uploads to
 * object storage (config/cloud-staging.ts): the directory exists, or can be created, and this
 * user can write it; and other users cannot reach it, since the staged parts are pieces of the
 * database. OK shows where and how much: the operator sees the disk the backups will use.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { cloudStagingOf } from '../../../config/index.js';
import { prettySize } from '../../../output/format.js';
import { isOpenMode } from '../../../util/private-files.js';
import type { CheckContext } from './context.js';
import { strerror } from './context.js';

export const CLOUD_STAGING_CHECK = 'cloud staging directory';

export function usesCloudStaging(ctx: CheckContext): boolean {
  return cloudStagingOf(ctx.config, ctx.entry.sources) !== null;
}

export async function cloudStagingCheck(ctx: CheckContext): Promise<void> {
  const staging = cloudStagingOf(ctx.config, ctx.entry.sources);
  if (!staging) return;
  ctx.c.start(CLOUD_STAGING_CHECK);
  const problem = await stagingDirectoryProblem(staging.directory);
  if (problem) {
    ctx.c.add(CLOUD_STAGING_CHECK, false, `${problem} (cloud_staging_directory)`);
    return;
  }
  ctx.c.add(CLOUD_STAGING_CHECK, true, `${staging.directory}, at most ${prettySize(staging.maxBytes)}`);
}

/** Why `directory` cannot hold staged parts, or null when it can (or can be created). */
async function stagingDirectoryProblem(directory: string): Promise<string | null> {
  const info = await stat(directory).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  });
  if (info && !info.isDirectory()) return `${directory} is not a directory`;
  if (info && isOpenMode(info.mode))
    return `${directory} is open to other users (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')}): chmod 700 ${directory}`;
  if (info && typeof process.getuid === 'function' && info.uid !== process.getuid())
    return `${directory} belongs to another user (uid ${info.uid})`;
  // A missing directory is created (0700) by the first backup: its nearest parent must allow it.
  let target = directory;
  if (!info) {
    while (target !== dirname(target) && !(await exists(target))) target = dirname(target);
  }
  try {
    await access(target, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `${info ? directory : `cannot create ${directory}: ${target}`}: ${strerror(error)}`;
  }
  return null;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
