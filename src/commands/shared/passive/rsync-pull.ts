/**
 * Copies a directory tree (or a list of files) from the primary Barman host over
 * primary_ssh_command with rsync: argument arrays, file names passed NUL-separated on stdin
 * (--files-from=- --from0, -s), split by size across `parallel_jobs` rsync processes (started as
 * parallel_jobs_start_batch_* allow), bandwidth_limit and network_compression applied.
 * A copy resumes: rsync skips the files already present with the right size and time.
 * `verifyPull` re-reads both sides (--checksum, dry run) and names any file that differs.
 */
import { BarmanError } from '../../../errors/index.js';
import { CommandFailedError, runProgram, runProgramUnchecked } from '../../../process/index.js';
import { findProgram } from '../../../process/postgres-tools.js';
import { createStartLimiter } from '../../../util/throttle.js';
import type { PassiveConfig } from './state.js';

export interface RemoteEntry {
  path: string;
  size: number;
  directory: boolean;
}

export interface PullRequest {
  config: PassiveConfig;
  /** Remote directory (absolute); its content lands in `destination`. */
  source: string;
  destination: string;
  /** Entries relative to source: directories are created, files copied. */
  entries: readonly RemoteEntry[];
  /** Copy to a temporary name and rename (WAL files: never a partial file under its name). */
  atomicFiles?: boolean;
}

async function rsyncProgram(config: PassiveConfig): Promise<string> {
  const program = await findProgram('rsync', config.path_prefix);
  if (!program)
    throw new BarmanError('rsync-missing', 'rsync not found in path_prefix or PATH', {
      hint: 'Install rsync on both Barman hosts, or set path_prefix.',
    });
  return program;
}

function commonArguments(config: PassiveConfig): string[] {
  return [
    '-s',
    '--chmod=go-rwx',
    ...(config.bandwidth_limit ? [`--bwlimit=${config.bandwidth_limit}`] : []),
    ...(config.network_compression ? ['-z'] : []),
    '-e',
    config.primary_ssh_command,
  ];
}

/**
 * Lists a remote tree (rsync --list-only: what rsync itself will see), paths relative to `source`.
 * Resolves null when the remote directory does not exist.
 */
export async function listRemoteTree(
  config: PassiveConfig,
  source: string,
  excludes: readonly string[],
): Promise<RemoteEntry[] | null> {
  const program = await rsyncProgram(config);
  const result = await runProgramUnchecked(
    program,
    [
      '-r',
      '--list-only',
      '--no-inc-recursive',
      ...excludes.map((path) => `--exclude=${path}`),
      ...commonArguments(config),
      `:${source.replace(/\/?$/, '/')}`,
    ],
    { timeoutMs: 600_000 },
  );
  if (result.exitCode === 23 && /No such file or directory|change_dir.*failed/.test(result.stderr))
    return null;
  if (result.exitCode !== 0)
    throw new CommandFailedError(program, result, `listing ${source} on the primary failed`);
  const entries: RemoteEntry[] = [];
  for (const line of result.stdout.split('\n')) {
    // "drwx------          4,096 2026/12/06 13:00:00 data/base" (the name may hold spaces).
    const match = /^([dlcbps-])\S{9}\s+([\d,]+)\s+\S+\s+\S+\s(.+)$/.exec(line);
    if (!match) continue;
    const path = match[3]!.replace(/ -> .*$/, '');
    if (path === '.') continue;
    entries.push({ path, size: Number(match[2]!.replaceAll(',', '')), directory: match[1] === 'd' });
  }
  return entries;
}

/** Largest files first, each to the lightest list; directories go to every list (created by each). */
function splitEntries(entries: readonly RemoteEntry[], jobs: number): RemoteEntry[][] {
  const directories = entries.filter((entry) => entry.directory);
  const files = entries.filter((entry) => !entry.directory).sort((a, b) => b.size - a.size);
  const lists = Array.from({ length: Math.max(1, Math.min(jobs, files.length)) }, () => ({
    bytes: 0,
    entries: [...directories],
  }));
  for (const file of files) {
    const lightest = lists.reduce((best, list) => (list.bytes < best.bytes ? list : best));
    lightest.entries.push(file);
    lightest.bytes += file.size;
  }
  return lists.map((list) => list.entries);
}

function fileList(entries: readonly RemoteEntry[]): string {
  return entries.map((entry) => `${entry.path}\0`).join('');
}

/** Copies the entries with parallel_jobs rsync processes; throws CommandFailedError on a failed one. */
export async function pullEntries(request: PullRequest, signal?: AbortSignal): Promise<void> {
  if (request.entries.length === 0) return;
  const { config } = request;
  const program = await rsyncProgram(config);
  const startTurn = createStartLimiter(
    { size: config.parallel_jobs_start_batch_size, periodSeconds: config.parallel_jobs_start_batch_period },
    signal,
  );
  const lists = splitEntries(request.entries, config.parallel_jobs);
  await Promise.all(
    lists.map(async (entries) => {
      await startTurn();
      await runProgram(
        program,
        [
          '-lpt',
          '--dirs',
          ...(request.atomicFiles ? [] : ['--inplace']),
          '--files-from=-',
          '--from0',
          ...commonArguments(config),
          `:${request.source.replace(/\/?$/, '/')}`,
          request.destination.replace(/\/?$/, '/'),
        ],
        { input: fileList(entries), timeoutMs: 24 * 3600_000, ...(signal ? { signal } : {}) },
      );
    }),
  );
}

/**
 * Compares every copied file with the primary's by content (rsync --checksum --dry-run): resolves
 * the paths that differ or are missing locally (empty when the copy is exact).
 */
export async function verifyPull(request: PullRequest): Promise<string[]> {
  const files = request.entries.filter((entry) => !entry.directory);
  if (files.length === 0) return [];
  const program = await rsyncProgram(request.config);
  const result = await runProgram(
    program,
    [
      '-lpt',
      '--checksum',
      '--dry-run',
      '--out-format=%n',
      '--files-from=-',
      '--from0',
      ...commonArguments(request.config),
      `:${request.source.replace(/\/?$/, '/')}`,
      request.destination.replace(/\/?$/, '/'),
    ],
    { input: fileList(files), timeoutMs: 24 * 3600_000 },
  );
  return result.stdout.split('\n').filter((line) => line !== '' && !line.endsWith('/'));
}
