/**
 * Carries out a RecoveryPlan against a destination: checks the destination, creates it and the
 * tablespace links, copies (or extracts) the base backup, copies the WAL files decompressed,
 * writes the recovery settings and signal file, and disables dangerous settings. Every step is
 * announced with Barman's wording.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError, describeError } from '../errors/index.js';
import type { Reporter } from '../output/reporter.js';
import { writeFileDurably } from '../storage/durable-files.js';
import { parseWalName } from '../wal/names.js';
import type { RecoveryDestination, TreeCopyOptions } from './destination.js';
import type { RecoveryPlan } from './plan.js';
import { rewriteConfiguration } from './configuration-rewrite.js';
import { checkDestination, walDirectoryOf } from './destination-check.js';
import type { ChainRestore } from './apply-chain.js';
import { restoreChain } from './apply-chain.js';
import type { BackupArchives, WalOpener } from './sources.js';
import type { RemoteStaging } from './remote-staging.js';
import { extractOnRecoveryHost } from './remote-staging.js';
import { extractBackupArchives, selectBackupArchives } from './archive-extract.js';
import { bandwidthFor, createRateLimiter, createStartLimiter } from '../util/throttle.js';
import type { StartLimiter } from '../util/throttle.js';
import { runWorkers } from '../util/workers.js';

export interface ApplyOptions {
  plan: RecoveryPlan;
  destination: RecoveryDestination;
  report: Reporter;
  /** Opens an archived WAL file, decompressed. */
  openWal: WalOpener;
  /** The backup's files: its tar archives, or its plain copies as local directories. */
  archives: BackupArchives;
  /** Local scratch space (tar extraction and WAL files for a remote destination). */
  stagingRoot: string;
  jobs: number;
  bandwidthLimit: number | null;
  /** tablespace_bandwidth_limit: KB/s by tablespace name, instead of bandwidthLimit for that tablespace. */
  tablespaceBandwidthLimit?: Readonly<Record<string, number>> | null;
  /** parallel_jobs_start_batch_size / _period (default: no pacing). */
  startBatch?: { size: number; periodSeconds: number };
  /** An incremental backup's chain, read and checked: combined instead of copied (apply-chain.ts). */
  chain?: ChainRestore;
  /** staging_location = remote: the archives are extracted on the recovery host (remote-staging.ts). */
  remoteStaging?: RemoteStaging | null;
  /** backup.info text, kept in the destination as .barman-recover.info (as Barman does). */
  backupInfoText: string;
  signal?: AbortSignal;
}

export interface ApplyResult {
  /** "file line N: setting" lines changed to prevent data loss. */
  modified: string[];
  /** Settings the DBA must review. */
  review: string[];
  files: number;
  bytes: number;
  reusedFiles: number;
  walFiles: number;
}

/** Top-level entries of PGDATA never restored from the backup. */
const SKIPPED_ENTRIES = [
  'tablespace_map',
  'recovery.conf',
  'postmaster.pid',
  'postmaster.opts',
  'recovery.signal',
  'standby.signal',
];
/** Top-level directories restored empty, even where the backup holds a link (to the original server's disks). */
const EMPTIED_DIRECTORIES = ['pg_wal', 'pg_xlog', 'pg_log', 'log'];

/** Entries of PGDATA never restored from the backup. */
function dataFilter(relative: string, _isDirectory: boolean): 'skip' | 'empty' | 'copy' {
  if (relative.startsWith('pg_tblspc/')) return 'skip'; // recreated as links to the (relocated) tablespaces
  if (!relative.includes('/')) {
    if (SKIPPED_ENTRIES.includes(relative)) return 'skip';
    if (EMPTIED_DIRECTORIES.includes(relative)) return 'empty';
  }
  return 'copy';
}

export async function applyRecoveryPlan(options: ApplyOptions): Promise<ApplyResult> {
  const { plan, destination, report } = options;
  await checkDestination(plan, destination);
  // Staging first: a staging path that cannot be used must not leave a half-made destination.
  await mkdir(options.stagingRoot, { recursive: true, mode: 0o700 });
  const staging = await mkdtemp(join(options.stagingRoot, `barman-recover-${plan.server}-`));
  try {
    await destination.createLayout(
      [
        plan.destination,
        join(plan.destination, plan.version < 100000 ? 'pg_xlog' : 'pg_wal'),
        ...(plan.tablespaces.length > 0 ? [join(plan.destination, 'pg_tblspc')] : []),
        // --staging-wal-directory outside PGDATA: made (0700) with the rest, its parents too.
        ...(plan.wal.mode === 'copy' && plan.wal.directory.startsWith('/') ? [plan.wal.directory] : []),
        ...plan.tablespaces.map((tablespace) => tablespace.location),
      ],
      plan.tablespaces.map((tablespace) => ({
        target: tablespace.location,
        path: join(plan.destination, 'pg_tblspc', String(tablespace.oid)),
      })),
    );
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  for (const tablespace of plan.tablespaces) {
    report.info(`\t${tablespace.oid}, ${tablespace.name}, ${tablespace.location}`);
  }

  report.info('Copying the base backup.');
  // WAL decompression starts now and overlaps the base copy (see decompressWals).
  const walStaged = destination.remoteCommand !== null || plan.delta;
  const result: ApplyResult = { modified: [], review: [], files: 0, bytes: 0, reusedFiles: 0, walFiles: 0 };
  try {
    // Delta mode clears stale WAL too (pg_wal, barman_wal): only the tablespace links stay.
    const protectLinks = (relative: string) => relative.startsWith('pg_tblspc/');
    const startLimiter = options.startBatch
      ? createStartLimiter(options.startBatch, options.signal)
      : undefined;
    const copyOptions = (
      label: string,
      exclude: TreeCopyOptions['exclude'],
      tablespace: string | null = null,
    ): TreeCopyOptions => ({
      exclude,
      jobs: options.jobs,
      bandwidthLimit: bandwidthFor(
        options.bandwidthLimit,
        options.tablespaceBandwidthLimit ?? null,
        tablespace,
      ),
      ...(startLimiter ? { startLimiter } : {}),
      delta: plan.delta,
      protect: protectLinks,
      onProgress: (done, total) =>
        report.progress?.({
          label,
          bytesDone: done.bytes,
          bytesTotal: total.bytes,
          filesDone: done.files,
          filesTotal: total.files,
          final: done.files === total.files,
        }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const copyAll = () => 'copy' as const;
    const walTarget = walStaged ? join(staging, 'wal') : walDirectoryOf(plan);
    const walWork = new AbortController();
    const stopWal = () => walWork.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', stopWal);
    // Settled into a value at once: a failure is reported after the base copy, never unhandled.
    const walDone: Promise<{ copied: number } | { error: unknown }> =
      plan.wal.mode === 'copy'
        ? decompressWals(options, walTarget, walWork.signal).then(
            (copied) => ({ copied }),
            (error: unknown) => ({ error }),
          )
        : Promise.resolve({ copied: 0 });
    try {
      if (plan.chain) {
        if (!options.chain) throw new Error(`the chain of backup ${plan.backupId} was not prepared`);
        report.info(`Combining the incremental chain ${plan.chain.join(', ')}.`);
        const stats = await restoreChain(options.chain, {
          plan,
          destination,
          staging,
          jobs: options.jobs,
          filter: dataFilter,
          bandwidthLimit: options.bandwidthLimit,
          ...(options.signal ? { signal: options.signal } : {}),
          copyOptions,
        });
        result.files += stats.files;
        result.bytes += stats.bytes;
        result.reusedFiles += stats.reused;
      } else if (plan.format === 'plain') {
        for (const tablespace of plan.tablespaces) {
          const stats = await destination.copyTree(
            options.archives.plainCopy(String(tablespace.oid)),
            tablespace.location,
            copyOptions(`tablespace ${tablespace.name}`, copyAll, tablespace.name),
          );
          addStats(result, stats);
        }
        addStats(
          result,
          await destination.copyTree(
            options.archives.plainCopy('data'),
            plan.destination,
            copyOptions('PGDATA', dataFilter),
          ),
        );
      } else {
        await restoreTarBackup(options, staging, copyOptions, dataFilter, copyAll, result);
      }

      await destination.renameIfExists(
        join(plan.destination, 'backup_manifest'),
        join(plan.destination, `backup_manifest.${plan.backupId}`),
      );

      // Settings before the WAL is in place (announced in Barman's order).
      await rewriteConfiguration(plan, destination, options.backupInfoText, result);
      if (plan.wal.mode === 'copy') {
        report.info('Copying required WAL segments.');
        const outcome = await walDone;
        if ('error' in outcome) throw outcome.error;
        if (walStaged) await placeStagedWals(options, walTarget, startLimiter);
        result.walFiles = outcome.copied;
      }
    } catch (error) {
      // Nothing may still write into staging or the destination once the failure is reported.
      walWork.abort(error);
      await walDone;
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', stopWal);
    }
    if (plan.settings.lines.length > 0) report.info('Generating recovery configuration');
    report.info('Identify dangerous settings in destination directory.');
    return result;
  } catch (error) {
    throw new BarmanError(
      'recovery-failed',
      `recovery of backup ${plan.backupId} into ${plan.destination} failed: ${describeError(error)}`,
      {
        hint: 'The destination is incomplete: do not start PostgreSQL on it. Fix the cause and recover again (--delta-restore reuses what was copied).',
        cause: error,
      },
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function addStats(
  result: ApplyResult,
  stats: { files: number; bytes: number; reused: number; linked: number },
): void {
  result.files += stats.files;
  result.bytes += stats.bytes;
  result.reusedFiles += stats.reused + stats.linked;
}

async function restoreTarBackup(
  options: ApplyOptions,
  staging: string,
  copyOptions: (label: string, exclude: TreeCopyOptions['exclude']) => TreeCopyOptions,
  filter: TreeCopyOptions['exclude'],
  copyAll: TreeCopyOptions['exclude'],
  result: ApplyResult,
): Promise<void> {
  const { plan, destination } = options;
  // Straight into place when local (or extracted on the recovery host) and not a delta
  // restore; through staging otherwise.
  const remoteStaging = options.remoteStaging ?? null;
  const direct = (destination.remoteCommand === null || remoteStaging !== null) && !plan.delta;
  const places = {
    pgdata: direct ? plan.destination : join(staging, 'data'),
    tablespaces: plan.tablespaces.map((tablespace) => ({
      ...tablespace,
      location: direct ? tablespace.location : join(staging, String(tablespace.oid)),
    })),
  };
  // The manifest goes into the data directory as pg_basebackup leaves it; renamed with the backup
  // id like Barman does.
  const placeManifest = async (manifest: string | null) => {
    if (manifest !== null)
      await destination.writeFiles([{ path: join(plan.destination, 'backup_manifest'), content: manifest }]);
  };
  if (remoteStaging) {
    const { pgdataBase, targets, selected } = await selectBackupArchives(options.archives, places);
    await extractOnRecoveryHost({
      destination,
      staging: remoteStaging,
      plan,
      targets: new Map(selected.map((archive) => [archive, targets.get(archive.base)!])),
      isPgdata: (archive) => archive.base === pgdataBase,
      skipped: SKIPPED_ENTRIES,
      emptied: EMPTIED_DIRECTORIES,
      copyOptions: copyOptions('archives', copyAll),
    });
    // The manifest checks only what barman-ts extracts itself; it is placed all the same.
    return placeManifest(await options.archives.manifest());
  }
  const extracted = await extractBackupArchives(options.archives, {
    ...places,
    filter,
    jobs: options.jobs,
    // bandwidth_limit (--bwlimit) paces the archive reads together: downloads from object storage.
    limiter: options.bandwidthLimit ? createRateLimiter(options.bandwidthLimit, options.signal) : null,
    privateModes: !direct,
    report: options.report,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  result.files += extracted.files;
  result.bytes += extracted.bytes;
  const { manifest } = extracted;
  if (direct) return placeManifest(manifest);
  for (const tablespace of plan.tablespaces) {
    const stats = await destination.copyTree(
      join(staging, String(tablespace.oid)),
      tablespace.location,
      copyOptions(`tablespace ${tablespace.name}`, copyAll),
    );
    result.reusedFiles += stats.reused + stats.linked;
    await rm(join(staging, String(tablespace.oid)), { recursive: true, force: true });
  }
  const stats = await destination.copyTree(
    join(staging, 'data'),
    plan.destination,
    copyOptions('PGDATA', filter),
  );
  result.reusedFiles += stats.reused + stats.linked;
  await rm(join(staging, 'data'), { recursive: true, force: true });
  await placeManifest(manifest);
}

/**
 * Decompresses the selected WALs into the destination's WAL directory, or into staging for a
 * remote destination (and for a delta restore, whose base copy clears the WAL directory), so
 * that it can run while the base backup is copied: decompression is CPU, the copy I/O.
 */
async function decompressWals(options: ApplyOptions, target: string, signal: AbortSignal): Promise<number> {
  const { plan } = options;
  await mkdir(join(target, 'archive_status'), { recursive: true, mode: 0o700 });
  let copied = 0;
  await runWorkers(
    options.jobs,
    plan.wal.selection.files,
    async (entry) => {
      const stream = await options.openWal(entry);
      await writeFileDurably(join(target, entry.name), stream, { mode: 0o600 });
      if (plan.wal.archiveStatus && parseWalName(entry.name)?.kind === 'segment') {
        await writeFile(join(target, 'archive_status', `${entry.name}.done`), '');
      }
      copied += 1;
    },
    signal,
  );
  return copied;
}

/** Moves staged WAL files into place: rsync to a remote host, a local copy for a delta restore. */
async function placeStagedWals(
  options: ApplyOptions,
  staged: string,
  startLimiter: StartLimiter | undefined,
): Promise<void> {
  const { plan, destination } = options;
  await destination.copyTree(staged, walDirectoryOf(plan), {
    exclude: () => 'copy',
    jobs: options.jobs,
    bandwidthLimit: options.bandwidthLimit,
    delta: false,
    ...(startLimiter ? { startLimiter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
