/**
 * A backup stored as tar archives (pg_basebackup's tar format, barman-cloud's layout), extracted
 * into local directories as its archives stream from their Storage: PGDATA's archive into one,
 * each tablespace's into its own, `jobs` archives at once, every file checked against the
 * backup's backup_manifest while it is written. Used for a whole backup (apply.ts) and for each
 * backup of an incremental chain stored this way (apply-chain.ts).
 */
import { parseBackupManifest } from '../catalog/backup-manifest.js';
import { BarmanError } from '../errors/index.js';
import type { Reporter } from '../output/reporter.js';
import type { RateLimiter } from '../util/throttle.js';
import { pacedReadable } from '../util/throttle.js';
import { runWorkers } from '../util/workers.js';
import type { TreeCopyOptions } from './destination.js';
import type { BackupArchive, BackupArchives } from './sources.js';
import { extractTarStream } from './tar-extract.js';

export interface ArchiveExtraction {
  /** Where PGDATA's archive goes. */
  pgdata: string;
  /** Tablespace oid → where its archive goes, with its name for messages. */
  tablespaces: ReadonlyArray<{ oid: number; name: string; location: string }>;
  /** Tablespaces the backup may lack (an older backup of a chain, taken before one was created). */
  tablespacesOptional?: boolean;
  /** Decides for each path of PGDATA (recovery's exclusions). */
  filter: TreeCopyOptions['exclude'];
  jobs: number;
  limiter: RateLimiter | null;
  /** Files and directories private to this user (a staging copy). */
  privateModes: boolean;
  report?: Reporter;
  signal?: AbortSignal;
}

export interface ExtractedBackup {
  files: number;
  bytes: number;
  /** Its backup_manifest text, null when it has none. */
  manifest: string | null;
}

/** The archives a recovery extracts, each with where it goes. */
export interface ArchiveSelection {
  /** PGDATA's archive base: `base` (pg_basebackup) or `data` (barman-cloud-backup). */
  pgdataBase: string;
  /** Archive base (`base`/`data`, or a tablespace oid) → the directory it is extracted into. */
  targets: Map<string, string>;
  selected: BackupArchive[];
}

/** Checks that `archives` hold PGDATA (and the tablespaces asked), and says where each goes. */
export async function selectBackupArchives(
  archives: BackupArchives,
  extraction: Pick<ArchiveExtraction, 'pgdata' | 'tablespaces' | 'tablespacesOptional'>,
): Promise<ArchiveSelection> {
  const found = await archives.list();
  const where = archives.archiveLocation;
  // pg_basebackup names PGDATA's archive base.tar, barman-cloud-backup data.tar.
  const pgdataBase = found.some((archive) => archive.base === 'base') ? 'base' : 'data';
  if (!found.some((archive) => archive.base === pgdataBase)) {
    throw new BarmanError(
      'backup-archive-missing',
      `no base.tar or data.tar archive in ${where}: the backup is incomplete`,
    );
  }
  const targets = new Map<string, string>([[pgdataBase, extraction.pgdata]]);
  for (const tablespace of extraction.tablespaces) {
    const oid = String(tablespace.oid);
    if (!found.some((archive) => archive.base === oid)) {
      if (extraction.tablespacesOptional) continue;
      throw new BarmanError(
        'backup-archive-missing',
        `no archive for tablespace ${tablespace.name} (${oid}.tar*) in ${where}`,
      );
    }
    targets.set(oid, tablespace.location);
  }
  return { pgdataBase, targets, selected: found.filter((archive) => targets.has(archive.base)) };
}

/** Checks that `archives` hold PGDATA (and the tablespaces asked), and extracts them. */
export async function extractBackupArchives(
  archives: BackupArchives,
  extraction: ArchiveExtraction,
): Promise<ExtractedBackup> {
  const where = archives.archiveLocation;
  const { pgdataBase, targets, selected } = await selectBackupArchives(archives, extraction);
  const total = selected.length;
  let done = 0;
  const result: ExtractedBackup = { files: 0, bytes: 0, manifest: await archives.manifest() };
  // The backup's manifest, when it has one (local-to-cloud, pg_basebackup's tar format, the
  // native client): every restored file is checked against it while it is written, and none
  // may be missing.
  const listed =
    result.manifest === null ? null : parseBackupManifest(result.manifest, `${where}/backup_manifest`);
  const restored = new Set<string>();
  const manifestPath = (archive: BackupArchive, path: string) =>
    archive.base === pgdataBase ? path : `pg_tblspc/${archive.base}/${path}`;
  const { filter, limiter, signal } = extraction;
  const decidePgdata = (path: string) => {
    const top = path.split('/')[0]!;
    // The content of pg_wal, log/ … is never restored.
    if (path !== top && filter(top, true) === 'empty') return 'skip' as const;
    return filter(path, false);
  };
  // Archives extract in parallel (downloads overlap for a cloud backup), `jobs` at a time.
  await runWorkers(
    extraction.jobs,
    selected,
    async (archive) => {
      const body = await archives.open(archive);
      const stats = await extractTarStream(
        limiter ? pacedReadable(body, limiter) : body,
        archive.location,
        archive.compression,
        targets.get(archive.base)!,
        {
          ...(archive.base === pgdataBase ? { decide: decidePgdata } : {}),
          ...(listed
            ? {
                expected: (path: string) => {
                  const inManifest = manifestPath(archive, path);
                  restored.add(inManifest);
                  return listed.get(inManifest);
                },
              }
            : {}),
          ...(signal ? { signal } : {}),
          privateModes: extraction.privateModes,
        },
      );
      done += 1;
      result.files += stats.files;
      result.bytes += stats.bytes;
      extraction.report?.progress?.({
        label: 'archives',
        bytesDone: result.bytes,
        bytesTotal: result.bytes,
        filesDone: done,
        filesTotal: total,
        final: done === total,
      });
    },
    signal,
  );
  if (listed) {
    const missing = [...listed.keys()].filter(
      (path) =>
        !restored.has(path) &&
        // Files of tablespaces not restored, and paths recovery never restores, are not missing.
        (path.startsWith('pg_tblspc/') ? targets.has(path.split('/')[1]!) : decidePgdata(path) === 'copy'),
    );
    if (missing.length > 0) {
      throw new BarmanError(
        'backup-corrupt',
        `${missing.length} file(s) of the backup manifest are in none of the archives of ${where}, the first is '${missing[0]}'`,
        { hint: 'an archive part is missing from storage: recover another backup' },
      );
    }
  }
  return result;
}
