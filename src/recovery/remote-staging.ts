/**
 * `staging_location = remote` (Barman 3.15): a tar backup recovered with --remote-ssh-command is
 * shipped compressed to `staging_path` on the recovery host and extracted there, so its
 * uncompressed bytes never cross the network nor occupy the barman-ts host. The recovery host
 * needs only `tar` (GNU tar: --use-compress-program, --anchored) and the decompressor of the
 * archives (gzip, bzip2, xz, lz4 or zstd); both, and a writable staging_path, are checked before
 * anything is written. barman-ts itself is not needed there.
 *
 * What it cannot do is refused with the reason: an incremental chain (combined natively on the
 * barman-ts host), --delta-restore (as Barman), encrypted archives (decrypted where the key
 * is), archives in object storage, snappy archives (no command-line decompressor).
 */
import { randomBytes } from 'node:crypto';
import { BarmanError } from '../errors/index.js';
import { runRemote } from '../process/remote.js';
import type { CompressionName } from '../transfer/compression/index.js';
import type { RecoveryDestination, TreeCopyOptions } from './destination.js';
import type { RecoveryPlan } from './plan.js';
import type { BackupArchive } from './sources.js';

export interface RemoteStaging {
  /** staging_path: a directory on the recovery host. */
  path: string;
  /** The local directory holding the backup's archives (a posix basebackups_directory). */
  localArchives: string;
}

/** The command each archive compression is undone with on the recovery host (tar runs it with -d). */
const DECOMPRESSORS: Partial<Record<CompressionName, string>> = {
  gzip: 'gzip',
  pigz: 'gzip',
  pygzip: 'gzip',
  bzip2: 'bzip2',
  pybzip2: 'bzip2',
  xz: 'xz',
  lz4: 'lz4',
  zstd: 'zstd',
};

const HINT = 'Set staging_location = local to extract on the barman-ts host instead.';

/**
 * Decides, before anything is written, whether this recovery stages on the recovery host, and
 * refuses what cannot be done there. Null when staging stays local (a local recovery, a plain
 * backup, staging_location = local).
 */
export function remoteStagingFor(request: {
  stagingLocation: string;
  stagingPath: string | null;
  plan: RecoveryPlan;
  /** The backup's archives directory as a local path, null when the storage has no local files. */
  localArchives: string | null;
  archives: readonly BackupArchive[];
}): RemoteStaging | null {
  const { plan } = request;
  if (request.stagingLocation !== 'remote' || plan.remoteCommand === null) return null;
  const refuse = (why: string) =>
    new BarmanError('remote-staging-unsupported', `staging_location = remote: ${why}`, { hint: HINT });
  if (plan.chain) {
    throw refuse(
      `backup ${plan.backupId} is an incremental backup: barman-ts combines its chain natively on its own host, not on the recovery host`,
    );
  }
  if (plan.format !== 'tar') return null; // a plain copy is sent file by file: nothing to stage
  if (plan.delta)
    throw refuse('--delta-restore needs the backup extracted where it is compared (as Barman, refused)');
  if (!request.stagingPath) {
    throw new BarmanError(
      'remote-staging-path',
      'staging_location = remote needs staging_path: the directory on the recovery host the compressed archives are copied to',
      { hint: `Set staging_path in the server's section. ${HINT}` },
    );
  }
  if (!request.localArchives)
    throw refuse(`the archives of backup ${plan.backupId} are not local files (object storage)`);
  for (const archive of request.archives) {
    if (archive.encrypted)
      throw refuse(`${archive.location} is encrypted: it is decrypted on the barman-ts host`);
    if (archive.compression !== null && !DECOMPRESSORS[archive.compression]) {
      throw refuse(
        `${archive.location} is ${archive.compression}-compressed: the recovery host has no tool for it`,
      );
    }
  }
  return { path: request.stagingPath, localArchives: request.localArchives };
}

/** Checks the recovery host has tar and each decompressor, and that staging_path can be written. */
export async function checkRecoveryHostTools(
  remoteCommand: string,
  staging: RemoteStaging,
  archives: readonly BackupArchive[],
): Promise<void> {
  const programs = [
    'tar',
    ...new Set(
      archives.flatMap((archive) => (archive.compression ? [DECOMPRESSORS[archive.compression]!] : [])),
    ),
  ];
  const script = [
    'dir=$1; shift',
    'for p in "$@"; do command -v "$p" >/dev/null 2>&1 || echo "missing $p"; done',
    'tar --version 2>/dev/null | head -n 1 | grep -q "GNU tar" || echo "not-gnu-tar"',
    'mkdir -p -m 700 -- "$dir" 2>/dev/null && [ -d "$dir" ] && [ -w "$dir" ] || echo unwritable',
  ].join('\n');
  const result = await runRemote(
    remoteCommand,
    ['sh', '-c', script, 'sh', staging.path, ...programs],
    60_000,
  );
  if (result.exitCode !== 0) {
    throw new BarmanError(
      'remote-command-failed',
      `checking the recovery host for staging_location = remote failed (exit ${result.exitCode}): ${result.stderr.trim()}`,
    );
  }
  const lines = result.stdout.split('\n').filter(Boolean);
  const missing = lines.filter((line) => line.startsWith('missing ')).map((line) => line.slice(8));
  if (missing.length > 0) {
    throw new BarmanError(
      'remote-staging-tools',
      `staging_location = remote: the recovery host has no ${missing.map((name) => `'${name}'`).join(', ')} to extract the backup's archives`,
      { hint: `Install ${missing.join(', ')} on the recovery host. ${HINT}` },
    );
  }
  if (lines.includes('not-gnu-tar')) {
    throw new BarmanError(
      'remote-staging-tools',
      "staging_location = remote: the recovery host's tar is not GNU tar (needed for --use-compress-program and --anchored)",
      { hint: HINT },
    );
  }
  if (lines.includes('unwritable')) {
    throw new BarmanError(
      'remote-staging-path',
      `staging_location = remote: staging_path ${staging.path} cannot be created or written on the recovery host`,
      { hint: 'Give staging_path a directory the remote user can write.' },
    );
  }
}

/**
 * Copies the selected archives (compressed) into a private directory under staging_path, then
 * extracts each into its place on the recovery host, leaving out what recovery never restores;
 * the staged copies are removed whatever happens.
 */
export async function extractOnRecoveryHost(options: {
  destination: RecoveryDestination;
  staging: RemoteStaging;
  plan: RecoveryPlan;
  /** Archive -> directory it is extracted into (PGDATA, a tablespace location). */
  targets: ReadonlyMap<BackupArchive, string>;
  /** Top-level PGDATA entries never restored, and directories restored empty. */
  skipped: readonly string[];
  emptied: readonly string[];
  isPgdata: (archive: BackupArchive) => boolean;
  copyOptions: Omit<TreeCopyOptions, 'exclude' | 'delta'>;
}): Promise<void> {
  const { destination, staging, plan } = options;
  const remoteCommand = plan.remoteCommand!;
  const names = new Set([...options.targets.keys()].map((archive) => archive.name));
  const directory = `${staging.path}/barman-staging-${plan.server}-${plan.backupId}-${randomBytes(4).toString('hex')}`;
  try {
    await destination.copyTree(staging.localArchives, directory, {
      ...options.copyOptions,
      exclude: (relative) => (names.has(relative) ? 'copy' : 'skip'),
      delta: false,
    });
    for (const [archive, target] of options.targets) {
      const pgdata = options.isPgdata(archive);
      // Both spellings: pg_basebackup writes `name`, other tar writers `./name`.
      const patterns = pgdata
        ? [...options.skipped, ...options.emptied.map((name) => `${name}/*`), 'pg_tblspc/*'].flatMap(
            (pattern) => [`--exclude=${pattern}`, `--exclude=./${pattern}`],
          )
        : [];
      const decompressor = archive.compression ? DECOMPRESSORS[archive.compression] : null;
      const words = [
        'tar',
        '-x',
        '-f',
        `${directory}/${archive.name}`,
        '-C',
        target,
        '--no-same-owner',
        ...(decompressor ? [`--use-compress-program=${decompressor}`] : []),
        '--anchored',
        ...patterns,
      ];
      const result = await runRemote(remoteCommand, words, 24 * 3600_000);
      if (result.exitCode !== 0) {
        throw new BarmanError(
          'remote-extract-failed',
          `extracting ${archive.name} into ${target} on the recovery host failed (exit ${result.exitCode}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`,
        );
      }
    }
  } finally {
    await runRemote(remoteCommand, ['rm', '-rf', '--', directory], 600_000).catch(() => undefined);
  }
}
