/**
 * A recovery destination on another host, reached with the user's --remote-ssh-command: rsync over
 * that ssh for data, short remote shell scripts for the rest. Remote commands are argument lists
 * quoted for the remote shell; paths never become shell code.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';
import type { CopyStats } from '../transfer/copy-tree.js';
import { RSYNC_PROGRESS_FLAGS, RsyncMeter, rsyncReportsProgress } from '../process/rsync-progress.js';
import { CommandFailedError, runProgram } from '../process/index.js';
import { runRemote, rsyncPushArguments } from '../process/remote.js';
import type { DirectoryState, RecoveryDestination, TreeCopyOptions } from './destination.js';
import { IGNORABLE, listLocalTree } from './destination.js';

/** For each argument: `=== path`, then what is there (missing, not a directory, a running cluster, or its entries). */
const INSPECT_SCRIPT = [
  'for d in "$@"; do',
  '  printf "=== %s\\n" "$d"',
  '  if [ -L "$d" ]; then printf "link %s\\n" "$(readlink -- "$d")"; fi',
  '  if [ ! -e "$d" ]; then echo missing; continue; fi',
  '  if [ ! -d "$d" ]; then echo not-directory; continue; fi',
  '  if [ -f "$d/postmaster.pid" ]; then pid=$(head -n 1 "$d/postmaster.pid"); ' +
    'if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo "running $pid"; continue; fi; fi',
  '  ls -A "$d" | while IFS= read -r name; do printf "entry %s\\n" "$name"; done',
  'done',
].join('\n');

/** $1 = number of directories; then the directories; then (target, link) pairs. */
const LAYOUT_SCRIPT = [
  'set -e',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do mkdir -p -m 700 -- "$1"; chmod 700 -- "$1"; shift; n=$((n - 1)); done',
  'while [ $# -gt 1 ]; do rm -rf -- "$2"; ln -s -- "$1" "$2"; shift 2; done',
].join('\n');

/** Reads `path<TAB>base64` lines on stdin and writes each file (mode 0600). */
const WRITE_FILES_SCRIPT = [
  'set -e',
  'umask 077',
  "tab=$(printf '\\t')",
  'while IFS="$tab" read -r path data; do rm -f -- "$path"; printf %s "$data" | base64 -d > "$path"; done',
].join('\n');

/** Prints `path<TAB>base64` (or `path<TAB>-` when missing) for each argument. */
const READ_FILES_SCRIPT = [
  'for f in "$@"; do',
  '  if [ -f "$f" ]; then printf "%s\\t" "$f"; base64 -w 0 < "$f"; echo; else printf "%s\\t-\\n" "$f"; fi',
  'done',
].join('\n');

/** Removes the NUL-separated relative paths read on stdin from directory $1. */
const REMOVE_SCRIPT = 'cd "$1" && xargs -0 -r rm -rf --';

export class RemoteDestination implements RecoveryDestination {
  private reportsProgress: Promise<boolean> | undefined;

  constructor(
    readonly remoteCommand: string,
    private readonly rsync: {
      program: string;
      compress: boolean;
      retryTimes: number;
      retrySleepSeconds: number;
    },
  ) {}

  private async run(words: string[], what: string, input?: string): Promise<string> {
    const result = await runRemote(this.remoteCommand, words, 300_000, input);
    if (result.exitCode !== 0) {
      throw new BarmanError(
        'remote-command-failed',
        `${what} failed on the recovery host (exit ${result.exitCode}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    }
    return result.stdout;
  }

  async checkReachable(): Promise<void> {
    const result = await runRemote(this.remoteCommand, ['true'], 60_000);
    if (result.exitCode !== 0) {
      throw new BarmanError(
        'remote-unreachable',
        `Unable to connect to the target host using the command '${this.remoteCommand}'`,
        { hint: result.stderr.trim().split('\n').slice(-2).join(' ') || undefined },
      );
    }
  }

  async inspect(paths: readonly string[]): Promise<DirectoryState[]> {
    const output = await this.run(['sh', '-c', INSPECT_SCRIPT, 'sh', ...paths], 'inspecting the destination');
    const blocks = new Map<string, string[]>();
    let current: string[] | null = null;
    for (const line of output.split('\n')) {
      if (line.startsWith('=== ')) blocks.set(line.slice(4), (current = []));
      else if (line !== '' && current) current.push(line);
    }
    return paths.map((path): DirectoryState => {
      let lines = blocks.get(path) ?? [];
      const linkLine = lines.find((line) => line.startsWith('link '));
      const link = linkLine === undefined ? {} : { linkTarget: linkLine.slice(5) };
      lines = lines.filter((line) => line !== linkLine);
      const first = lines[0] ?? '';
      if (first === 'missing') return { kind: 'missing', ...link };
      if (first === 'not-directory') return { kind: 'not-directory', ...link };
      if (first.startsWith('running ')) return { kind: 'running', pid: Number(first.slice(8)), ...link };
      const entries = lines.map((line) => line.slice('entry '.length)).filter((name) => !IGNORABLE.has(name));
      return entries.length === 0
        ? { kind: 'empty', ...link }
        : { kind: 'used', entries: entries.sort(), ...link };
    });
  }

  async createLayout(
    directories: readonly string[],
    links: ReadonlyArray<{ target: string; path: string }>,
  ): Promise<void> {
    await this.run(
      [
        'sh',
        '-c',
        LAYOUT_SCRIPT,
        'sh',
        String(directories.length),
        ...directories,
        ...links.flatMap((link) => [link.target, link.path]),
      ],
      'creating the destination directories',
    );
  }

  async copyTree(source: string, path: string, options: TreeCopyOptions): Promise<CopyStats> {
    const tree = await listLocalTree(source, options.exclude);
    // rsync creates `path` itself (its parent exists: the destination, or a tablespace location).
    if (options.delta) await this.removeExtraneous(path, tree, options);
    const staging = await mkdtemp(join(tmpdir(), 'barman-recover-lists-'));
    try {
      // Directories first, in one process: parallel rsyncs then never race to create them.
      const directoryList = join(staging, 'directories');
      await writeFile(directoryList, `${['.', ...tree.directories].join('\n')}\n`);
      await options.startLimiter?.();
      await this.rsyncList(source, path, directoryList, { directoriesOnly: true, checksum: false });
      const jobs = Math.max(1, options.jobs);
      const lists = Array.from({ length: jobs }, () => ({ bytes: 0, paths: [] as string[] }));
      for (const file of [...tree.files].sort((a, b) => b.size - a.size)) {
        const lightest = lists.reduce((best, list) => (list.bytes < best.bytes ? list : best));
        lightest.bytes += file.size;
        lightest.paths.push(file.path);
      }
      const total = { bytes: tree.files.reduce((sum, file) => sum + file.size, 0), files: tree.files.length };
      // Running totals from each rsync's own progress output when it has one (rsync >= 3.1).
      const measured = (this.reportsProgress ??= rsyncReportsProgress(this.rsync.program));
      const meters: RsyncMeter[] = [];
      const report = () =>
        options.onProgress?.(
          {
            bytes: meters.reduce((sum, meter) => sum + meter.streamedBytes + meter.reusedBytes, 0),
            files: meters.reduce((sum, meter) => sum + meter.files, 0),
          },
          total,
        );
      await Promise.all(
        lists
          .filter((list) => list.paths.length > 0)
          .map(async (list, index) => {
            const listFile = join(staging, `files-${index}`);
            await writeFile(listFile, `${list.paths.join('\n')}\n`);
            const meter = (await measured) ? new RsyncMeter(report) : null;
            if (meter) meters.push(meter);
            await options.startLimiter?.();
            await this.rsyncList(source, path, listFile, {
              directoriesOnly: false,
              checksum: options.delta,
              bandwidthLimit: options.bandwidthLimit,
              ...(meter ? { meter } : {}),
              ...(options.signal ? { signal: options.signal } : {}),
            });
            if (!meter) {
              // Without progress output, whole lists count as they finish.
              const finished = new RsyncMeter(() => {});
              finished.reusedBytes = list.bytes;
              finished.files = list.paths.length;
              meters.push(finished);
            } else {
              meter.streamedBytes = list.bytes - meter.reusedBytes;
              meter.files = list.paths.length;
            }
            report();
          }),
      );
      return { files: total.files, bytes: total.bytes, linked: 0, reused: 0 };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  private async removeExtraneous(
    path: string,
    tree: { files: Array<{ path: string }>; directories: string[] },
    options: TreeCopyOptions,
  ): Promise<void> {
    const listing = await this.run(
      ['find', path, '-mindepth', '1', '-printf', '%y\\t%P\\n'],
      `listing ${path}`,
    );
    const wantedFiles = new Set(tree.files.map((file) => file.path));
    const wantedDirectories = new Set(tree.directories);
    const extraneous: string[] = [];
    const removedDirectories: string[] = [];
    for (const line of listing.split('\n').filter(Boolean)) {
      const [type, relative] = [line.slice(0, 1), line.slice(2)];
      if (removedDirectories.some((directory) => relative.startsWith(`${directory}/`))) continue;
      if (options.protect?.(relative)) continue;
      const keep = type === 'd' ? wantedDirectories.has(relative) : type === 'f' && wantedFiles.has(relative);
      if (!keep) {
        extraneous.push(relative);
        if (type === 'd') removedDirectories.push(relative);
      }
    }
    if (extraneous.length > 0) {
      await this.run(
        ['sh', '-c', REMOVE_SCRIPT, 'sh', path],
        `removing old files in ${path}`,
        `${extraneous.join('\0')}\0`,
      );
    }
  }

  private async rsyncList(
    source: string,
    path: string,
    listFile: string,
    options: {
      directoriesOnly: boolean;
      checksum: boolean;
      bandwidthLimit?: number | null;
      meter?: RsyncMeter;
      signal?: AbortSignal;
    },
  ): Promise<void> {
    const args = rsyncPushArguments({
      ...(options.meter ? { extra: RSYNC_PROGRESS_FLAGS } : {}),
      sshCommand: this.remoteCommand,
      source: `${source}/`,
      destination: `${path}/`,
      filesFrom: listFile,
      directoriesOnly: options.directoriesOnly,
      checksum: options.checksum,
      bandwidthLimit: options.bandwidthLimit ?? null,
      compress: this.rsync.compress,
    });
    for (let attempt = 0; ; attempt += 1) {
      options.signal?.throwIfAborted();
      try {
        options.meter?.reset();
        await runProgram(this.rsync.program, args, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.meter ? { onLine: options.meter.consume } : {}),
        });
        return;
      } catch (error) {
        options.signal?.throwIfAborted();
        if (attempt >= this.rsync.retryTimes) {
          const detail = error instanceof CommandFailedError ? error.message : String(error);
          throw new BarmanError('copy-failed', `data transfer failure on directory '${path}': ${detail}`);
        }
        await new Promise((resolve) => setTimeout(resolve, this.rsync.retrySleepSeconds * 1000));
      }
    }
  }

  async readFiles(paths: readonly string[]): Promise<Array<string | null>> {
    const output = await this.run(
      ['sh', '-c', READ_FILES_SCRIPT, 'sh', ...paths],
      'reading configuration files',
    );
    const found = new Map<string, string | null>();
    for (const line of output.split('\n')) {
      const tab = line.lastIndexOf('\t');
      if (tab < 0) continue;
      const data = line.slice(tab + 1);
      found.set(line.slice(0, tab), data === '-' ? null : Buffer.from(data, 'base64').toString('utf8'));
    }
    return paths.map((path) => found.get(path) ?? null);
  }

  async writeFiles(files: ReadonlyArray<{ path: string; content: string }>): Promise<void> {
    if (files.length === 0) return;
    const input = files
      .map((file) => `${file.path}\t${Buffer.from(file.content).toString('base64')}\n`)
      .join('');
    await this.run(['sh', '-c', WRITE_FILES_SCRIPT, 'sh'], 'writing the recovery files', input);
  }

  async renameIfExists(from: string, to: string): Promise<boolean> {
    const output = await this.run(
      ['sh', '-c', 'if [ -e "$1" ]; then mv -- "$1" "$2" && echo moved; fi', 'sh', from, to],
      `renaming ${from}`,
    );
    return output.trim() === 'moved';
  }
}
