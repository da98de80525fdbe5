/**
 * Commands on the PostgreSQL host through the user's ssh_command (a shell command string, used
 * as written: its options are the user's). The remote command is a list of words, each quoted
 * for the remote shell, so file names can never inject commands.
 */
import { runProgramUnchecked } from './index.js';
import type { RunResult } from './index.js';
import { shellQuote } from './spawn.js';

export async function runRemote(
  sshCommand: string,
  words: readonly string[],
  timeoutMs = 120_000,
  input?: string | Buffer,
): Promise<RunResult> {
  const remote = words.map(shellQuote).join(' ');
  // ssh_command is shell by definition; the remote words are quoted twice: for this shell and the remote one.
  return runProgramUnchecked('sh', ['-c', `${sshCommand} ${shellQuote(remote)}`], {
    timeoutMs,
    ...(input !== undefined ? { input } : {}),
  });
}

/** rsync pushing local files to the remote host (`:path`): recovery's direction. */
export function rsyncPushArguments(options: {
  sshCommand: string;
  source: string;
  destination: string;
  filesFrom?: string;
  /** Directories only (-d), no file content. */
  directoriesOnly?: boolean;
  /** Compare by checksum instead of size and time (delta restore). */
  checksum?: boolean;
  bandwidthLimit?: number | null;
  compress?: boolean;
  extra?: readonly string[];
}): string[] {
  return [
    // -k: a directory the source holds as a link arrives as a real directory.
    options.directoriesOnly ? '-dptk' : '-lpt',
    // -s: file names reach the remote rsync verbatim, never through its shell.
    '-s',
    '--inplace',
    '--no-inc-recursive',
    ...(options.checksum ? ['--checksum'] : ['--whole-file']),
    ...(options.filesFrom ? [`--files-from=${options.filesFrom}`] : []),
    ...(options.bandwidthLimit ? [`--bwlimit=${options.bandwidthLimit}`] : []),
    ...(options.compress ? ['-z'] : []),
    ...(options.extra ?? []),
    '-e',
    options.sshCommand,
    options.source,
    `:${options.destination}`,
  ];
}

export interface RsyncOptions {
  sshCommand: string;
  /** Remote source directory (ends with '/' to copy its content). */
  source: string;
  destination: string;
  filesFrom?: string;
  linkDest?: string;
  copyDest?: string;
  bandwidthLimit?: number | null;
  compress?: boolean;
  extra?: string[];
}

/**
 * rsync from the remote host (`:path`) into the catalogue, with Barman's flags (-rLKpts
 * --inplace) and `--chmod=go-rwx`: the copy keeps the source's modes (what --link-dest compares)
 * without their group and other permissions, so a group-readable PGDATA stays barman_user's alone.
 */
export function rsyncArguments(options: RsyncOptions): string[] {
  return [
    '-rLKpts',
    '--chmod=go-rwx',
    '--inplace',
    '--no-inc-recursive',
    ...(options.filesFrom ? [`--files-from=${options.filesFrom}`] : []),
    ...(options.linkDest ? [`--link-dest=${options.linkDest}`] : []),
    ...(options.copyDest ? [`--copy-dest=${options.copyDest}`] : []),
    ...(options.bandwidthLimit ? [`--bwlimit=${options.bandwidthLimit}`] : []),
    ...(options.compress ? ['-z'] : []),
    ...(options.extra ?? []),
    '-e',
    options.sshCommand,
    `:${options.source}`,
    options.destination,
  ];
}
