/**
 * backup_method = rsync: PGDATA and tablespaces copied from the PostgreSQL host with rsync over
 * the user's ssh_command. The remote file list is read once (find), filtered with the same
 * exclusion rules as local backups, and split by size across `parallel_jobs` rsync processes;
 * unchanged files are hard-linked (--link-dest) or copied locally (--copy-dest) from the
 * previous backup.
 */
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError } from '../errors/index.js';
import type { Tablespace } from '../catalog/backup-info.js';
import { CommandFailedError, runProgram } from '../process/index.js';
import { RSYNC_PROGRESS_FLAGS, RsyncMeter, rsyncReportsProgress } from '../process/rsync-progress.js';
import { findProgram } from '../process/postgres-tools.js';
import { runRemote, rsyncArguments } from '../process/remote.js';
import { concurrentBackup } from './concurrent.js';
import { backupStrategyChecks } from './file-copy-checks.js';
import { sshCheck } from './ssh-checks.js';
import { fsyncFile, fsyncTree } from '../transfer/copy-tree.js';
import { bandwidthFor, createStartLimiter } from '../util/throttle.js';
import type { StartLimiter } from '../util/throttle.js';
import { pgdataFilter } from './pgdata.js';
import { CopyProgress, treeLabel } from './progress.js';
import type { BackupExecutor, BackupRequest } from './types.js';

interface Copier {
  request: BackupRequest;
  sshCommand: string;
  /** rsync's absolute path. */
  program: string;
  /** rsync ≥ 3.1 reports progress (--info=progress2); older ones copy silently. */
  reportsProgress: boolean;
  writeBack: EarlyFsync;
  /** An exclusive backup: backup_label and tablespace_map are copied from PGDATA. */
  keepLabelFiles: boolean;
  /** parallel_jobs_start_batch_*: every rsync process of the backup waits its turn to start. */
  startLimiter: StartLimiter;
  signal: AbortSignal | undefined;
}

interface RemoteEntry {
  type: 'f' | 'd' | 'l';
  size: number;
  path: string;
  target: string;
}

export const rsyncExecutor: BackupExecutor = {
  mode: 'rsync-concurrent',
  exclusiveMode: 'rsync-exclusive',
  checks: [sshCheck, backupStrategyChecks],
  copyDescription: 'rsync/SSH',
  async run(request: BackupRequest) {
    const sshCommand = request.config.ssh_command!;
    // Before pg_backup_start: a missing rsync is a configuration problem, not a copy failure.
    request.setStep('initialising rsync backup_method');
    const program = await findProgram('rsync', request.config.path_prefix);
    if (!program) {
      throw new BarmanError('rsync-missing', 'rsync not found in path_prefix or PATH', {
        hint: 'Install rsync on the Barman host (and on the PostgreSQL host), or set path_prefix.',
      });
    }
    const copier: Copier = {
      request,
      sshCommand,
      program,
      reportsProgress: await rsyncReportsProgress(program),
      writeBack: new EarlyFsync(),
      keepLabelFiles: false,
      startLimiter: createStartLimiter(request.options.startBatch),
      signal: undefined,
    };
    return concurrentBackup(
      request,
      this.copyDescription,
      async ({ pgdata, tablespaces, exclusive }, signal) => {
        copier.signal = signal;
        copier.keepLabelFiles = exclusive;
        for (const tablespace of tablespaces) {
          await copyRemoteTree(copier, tablespace.location, String(tablespace.oid), tablespace);
        }
        await copyRemoteTree(copier, pgdata, 'data', null);
        // pg_control last, as PostgreSQL's own base backups do.
        await rsync(copier, {
          source: `${pgdata}/global/pg_control`,
          destination: join(request.backupDirectory, 'data', 'global', 'pg_control'),
        });
        // rsync does not fsync: make every copied file durable before the backup can be DONE.
        await copier.writeBack.drain();
        await fsyncTree(request.backupDirectory, request.options.jobs);
        return {};
      },
    );
  },
};

async function listRemote(sshCommand: string, root: string): Promise<RemoteEntry[]> {
  const result = await runRemote(sshCommand, [
    'find',
    root,
    '-mindepth',
    '1',
    '-printf',
    '%y\\t%s\\t%P\\t%l\\n',
  ]);
  if (result.exitCode !== 0) {
    // Files vanishing during the listing (dropped tables, temporary files) are expected.
    if (!/No such file or directory/.test(result.stderr)) {
      throw new BarmanError(
        'ssh-failed',
        `cannot list ${root} on the PostgreSQL host (exit ${result.exitCode}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    }
  }
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [type, size, path, target] = line.split('\t');
      return { type: type as RemoteEntry['type'], size: Number(size), path: path!, target: target ?? '' };
    })
    .filter((entry) => ['f', 'd', 'l'].includes(entry.type));
}

async function copyRemoteTree(
  copier: Copier,
  root: string,
  into: string,
  tablespace: Tablespace | null,
): Promise<void> {
  const { request, sshCommand } = copier;
  const destination = join(request.backupDirectory, into);
  await mkdir(destination, { recursive: true, mode: 0o700 });
  await chmod(destination, 0o700);
  const entries = await listRemote(sshCommand, root);
  const skippedDirectories: string[] = [];
  const files: RemoteEntry[] = [];
  for (const entry of entries.sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (skippedDirectories.some((directory) => entry.path.startsWith(`${directory}/`))) continue;
    const decision = pgdataFilter(entry.path, entry.type === 'd', tablespace !== null, copier.keepLabelFiles);
    if (decision === 'skip') {
      if (entry.type === 'd') skippedDirectories.push(entry.path);
      continue;
    }
    if (entry.type === 'd') {
      await mkdir(join(destination, entry.path), { recursive: true });
      if (decision === 'empty') skippedDirectories.push(entry.path);
    } else if (entry.type === 'l') {
      await symlink(entry.target, join(destination, entry.path)).catch(() => undefined);
    } else {
      files.push(entry);
    }
  }
  // Split the files into `jobs` lists of similar total size (largest first, into the lightest list).
  const jobs = Math.max(1, request.options.jobs);
  const lists: Array<{ bytes: number; paths: string[] }> = Array.from({ length: jobs }, () => ({
    bytes: 0,
    paths: [],
  }));
  for (const file of [...files].sort((a, b) => b.size - a.size)) {
    const lightest = lists.reduce((best, list) => (list.bytes < best.bytes ? list : best));
    lightest.bytes += file.size;
    lightest.paths.push(file.path);
  }
  const previous = request.previous ? join(request.previous.directory, into) : null;
  const { bandwidthLimit, tablespaceBandwidthLimit } = request.options;
  const limit = bandwidthFor(bandwidthLimit, tablespaceBandwidthLimit, tablespace?.name ?? null);
  const progress = new CopyProgress(request.report, treeLabel(tablespace), {
    bytes: files.reduce((sum, file) => sum + file.size, 0),
    files: files.length,
  });
  const meters: RsyncMeter[] = [];
  const onMeterChange = () =>
    progress.update({
      bytes: meters.reduce((sum, meter) => sum + meter.streamedBytes + meter.reusedBytes, 0),
      files: meters.reduce((sum, meter) => sum + meter.files, 0),
    });
  await Promise.all(
    lists
      .filter((list) => list.paths.length > 0)
      .map(async (list, index) => {
        const listFile = join(request.backupDirectory, `.rsync-files-${into}-${index}`);
        await writeFile(listFile, `${list.paths.join('\n')}\n`);
        const meter = new RsyncMeter(onMeterChange, (path) => copier.writeBack.add(join(destination, path)));
        meters.push(meter);
        try {
          await rsync(
            copier,
            {
              source: `${root}/`,
              destination: `${destination}/`,
              filesFrom: listFile,
              bandwidthLimit: limit,
              ...(previous && request.options.reuse === 'link' ? { linkDest: previous } : {}),
              ...(previous && request.options.reuse === 'copy' ? { copyDest: previous } : {}),
            },
            meter,
          );
        } finally {
          await rm(listFile, { force: true });
        }
      }),
  );
  progress.finish();
}

/**
 * fsyncs the files rsync has finished while it copies the others, so that their data is written
 * during the copy instead of all at the end. Best effort, one file at a time: the fsync of the
 * whole backup after the copy stays, and is what makes it durable (errors surface there).
 */
class EarlyFsync {
  private readonly queue: string[] = [];
  private running: Promise<void> | null = null;

  add(path: string): void {
    this.queue.push(path);
    this.running ??= this.work();
  }

  async drain(): Promise<void> {
    this.queue.length = 0;
    await this.running;
  }

  private async work(): Promise<void> {
    for (let path = this.queue.shift(); path !== undefined; path = this.queue.shift()) {
      await fsyncFile(path).catch(() => undefined);
    }
    this.running = null;
  }
}

async function rsync(
  copier: Copier,
  options: {
    source: string;
    destination: string;
    filesFrom?: string;
    linkDest?: string;
    copyDest?: string;
    /** KB/s for this process (a tablespace's own limit); default: bandwidth_limit. */
    bandwidthLimit?: number | null;
  },
  meter?: RsyncMeter,
): Promise<void> {
  const { request, signal } = copier;
  const measured = meter !== undefined && copier.reportsProgress;
  const args = rsyncArguments({
    sshCommand: copier.sshCommand,
    ...options,
    bandwidthLimit:
      options.bandwidthLimit === undefined ? request.options.bandwidthLimit : options.bandwidthLimit,
    compress: request.config.network_compression,
    ...(measured ? { extra: RSYNC_PROGRESS_FLAGS } : {}),
  });
  await copier.startLimiter();
  for (let attempt = 0; ; attempt += 1) {
    signal?.throwIfAborted();
    try {
      if (attempt > 0) meter?.reset();
      await runProgram(copier.program, args, { signal, ...(measured ? { onLine: meter.consume } : {}) });
      return;
    } catch (error) {
      signal?.throwIfAborted();
      // Exit 24: files vanished during the transfer (dropped tables): not an error for a backup.
      if (error instanceof CommandFailedError && error.result?.exitCode === 24) return;
      if (attempt >= request.options.retryTimes) {
        throw new BarmanError(
          'copy-failed',
          `data transfer failure on directory '${options.destination}': ${(error as Error).message}`,
        );
      }
      request.report.warning(`rsync failed; retrying in ${request.options.retrySleepSeconds} seconds`);
      await new Promise((resolve) => setTimeout(resolve, request.options.retrySleepSeconds * 1000));
    }
  }
}
