/**
 * Failed system calls (Node's errors with an errno `code`, the failing `syscall` and, when known,
 * the `path`) are caused by the operator's machine, not by a bug: a directory that is not writable,
 * a full disk, a file where a directory should be. This is the one place that turns them into a
 * sentence naming the path and what to do about it.
 */
import { userInfo } from 'node:os';
import { BarmanError, describeError } from './index.js';

/** Node's error for a failed system call. */
export interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

export function isSystemError(error: unknown): error is SystemError {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

/** What each errno means and what the operator can do; `{path}` and `{user}` are filled in. */
const ERRNO: Record<string, { reason: string; hint: string }> = {
  EACCES: {
    reason: 'permission denied',
    hint: "OS user '{user}' (barman_user) must be able to use it: check the owner and mode of {path} and of the directories above it",
  },
  EPERM: {
    reason: 'operation not permitted',
    hint: "OS user '{user}' (barman_user) is not allowed to do this on {path}: check its owner, mode and attributes (a file write-once storage made immutable, see lsattr, can be neither replaced nor removed)",
  },
  ENOENT: {
    reason: 'no such file or directory',
    hint: 'check the path (and the configuration option that gives it), or create the missing directory',
  },
  ENOTDIR: {
    reason: 'a part of the path is not a directory',
    hint: 'a file stands where a directory is expected in {path}: move it away or fix the path',
  },
  EISDIR: {
    reason: 'it is a directory',
    hint: 'a directory stands where a file is expected: move it away or fix the path',
  },
  EEXIST: {
    reason: 'it already exists',
    hint: 'something is already at {path}: move it away or choose another path',
  },
  ENOTEMPTY: { reason: 'the directory is not empty', hint: 'empty it or choose another path' },
  ENOSPC: {
    reason: 'no space left on device',
    hint: 'free space on the file system holding {path}, then run the command again',
  },
  EDQUOT: {
    reason: 'disk quota exceeded',
    hint: "raise OS user '{user}''s quota on the file system holding {path}, or free space",
  },
  EROFS: {
    reason: 'read-only file system',
    hint: 'the file system holding {path} is mounted read-only: remount it read-write or choose another path',
  },
  ENAMETOOLONG: {
    reason: 'file name too long',
    hint: 'use a shorter path (a file name has at most 255 bytes, a path 4095): shorten barman_home, the server name or the directory given',
  },
  ELOOP: {
    reason: 'too many levels of symbolic links',
    hint: 'a symbolic link in {path} points (directly or not) to itself: fix or remove it',
  },
  EMFILE: { reason: 'too many open files', hint: 'raise the open file limit (ulimit -n) of this user' },
  ENFILE: { reason: 'too many open files in the system', hint: 'raise the system limit (fs.file-max)' },
  EIO: {
    reason: 'input/output error',
    hint: 'the disk holding {path} reported an error: check the kernel log (dmesg) and the disk',
  },
  EXDEV: {
    reason: 'the paths are on different file systems',
    hint: 'put both on the same file system',
  },
  EFBIG: { reason: 'file too large', hint: 'the file system holding {path} cannot store a file this large' },
  EBUSY: { reason: 'device or resource busy', hint: 'something else is using {path}: try again later' },
  ETXTBSY: { reason: 'text file busy', hint: 'a running program uses {path}: try again later' },
  EINVAL: { reason: 'invalid argument', hint: 'check the path {path}' },
};

/** What the failed system call was trying to do, in words. */
const ACTIONS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  scandir: 'list the directory',
  opendir: 'list the directory',
  mkdir: 'create the directory',
  mkdtemp: 'create a directory in',
  rmdir: 'remove the directory',
  rm: 'remove',
  unlink: 'remove',
  rename: 'rename',
  link: 'hard-link',
  symlink: 'create the symbolic link',
  readlink: 'read the symbolic link',
  copyfile: 'copy',
  stat: 'inspect',
  lstat: 'inspect',
  access: 'access',
  chmod: 'change the mode of',
  chown: 'change the owner of',
  utime: 'set the times of',
  fsync: 'flush to disk',
  ftruncate: 'truncate',
  realpath: 'resolve',
};

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/**
 * `cannot create the directory '/srv/barman/pg': permission denied (EACCES)`; without a known
 * path, the failing operation alone.
 */
export function systemErrorMessage(error: SystemError): string {
  const known = ERRNO[error.code];
  const reason = known?.reason ?? error.message.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+( '.*')?$/, '');
  const action = (error.syscall && ACTIONS[error.syscall]) ?? error.syscall ?? 'access';
  const target =
    error.path === undefined
      ? ''
      : ` '${error.path}'${error.dest !== undefined ? ` to '${error.dest}'` : ''}`;
  return `cannot ${action}${target}: ${reason} (${error.code})`;
}

export function systemErrorHint(error: SystemError): string | undefined {
  const hint = ERRNO[error.code]?.hint;
  if (!hint) return undefined;
  const path = error.path === undefined ? 'the path' : `'${error.path}'`;
  return hint.replaceAll('{path}', path).replaceAll('{user}', currentUser());
}

/** The BarmanError an operator sees for a failed system call (`fs-<errno>`, exit 1). */
export function fromSystemError(error: SystemError, context?: string): BarmanError {
  const hint = systemErrorHint(error);
  const message = systemErrorMessage(error);
  return new BarmanError(`fs-${error.code.toLowerCase()}`, context ? `${context}: ${message}` : message, {
    ...(hint ? { hint } : {}),
    cause: error,
  });
}

/**
 * Records `path` on a system error that lacks one (errors of reads and writes on an open file
 * carry no path) so that whoever reports it can name the file; returns the error.
 */
export function withPath<E>(error: E, path: string): E {
  if (isSystemError(error) && error.path === undefined) error.path = path;
  return error;
}

/** Runs `work`, naming `path` in the system error it may fail with. */
export async function naming<T>(path: string, work: Promise<T> | (() => Promise<T>)): Promise<T> {
  try {
    return await (typeof work === 'function' ? work() : work);
  } catch (error) {
    throw withPath(error, path);
  }
}

/** C's strerror() text of a Node error: `EACCES: permission denied, mkdir '/x'` -> `Permission denied`. */
export function strerror(error: unknown): string {
  const message = describeError(error)
    .replace(/^E[A-Z]+: /, '')
    .replace(/, \w+ '.*'$/, '');
  return message.charAt(0).toUpperCase() + message.slice(1);
}
