/**
 * Where a recovery reads from: the tar archives of a backup and the archived WAL files, either
 * in the local catalogue or in object storage (a backup in barman-cloud-backup's layout and a
 * WAL archive in barman-cloud-wal-archive's). Both hand out streams, so extraction and WAL
 * decompression are the same code whatever the source; nothing is ever read whole into memory.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BarmanError, describeError } from '../errors/index.js';
import type { S3Storage } from '../storage/s3/index.js';
import type { CompressionName, CustomCompression } from '../transfer/compression/index.js';
import { openDecompressed } from '../wal/compare.js';
import type { CloudCompression } from '../wal/cloud-layout.js';
import { cloudWalPath, openCloudWal } from '../wal/cloud-layout.js';
import { hashDir } from '../wal/names.js';
import type { XlogDbEntry } from '../wal/xlogdb.js';
import type { RecoveryPlan } from './plan.js';
import { archiveCompression } from '../transfer/tar-archives.js';

export interface BackupArchive {
  /** File or object name, e.g. `base.tar.gz`, `data_0001.tar`, `16385.tar.lz4`. */
  name: string;
  /** `base` / `data` for PGDATA, a tablespace oid otherwise. */
  base: string;
  compression: CompressionName | null;
  /** Where it is, for messages. */
  location: string;
}

export interface BackupArchives {
  list(): Promise<BackupArchive[]>;
  open(archive: BackupArchive): Promise<Readable>;
  /** The backup's backup_manifest text, or null when it has none. */
  manifest(): Promise<string | null>;
}

/** Opens an archived WAL file, decompressed. */
export type WalOpener = (entry: XlogDbEntry) => Promise<Readable>;

/** pg_basebackup's tar archives in `<backup>/data/`. */
export function localArchives(backupDirectory: string): BackupArchives {
  const directory = join(backupDirectory, 'data');
  return {
    async list() {
      return (await readdir(directory)).flatMap((name) => {
        const parsed = archiveCompression(name);
        return parsed ? [{ name, ...parsed, location: join(directory, name) }] : [];
      });
    },
    open: (archive) => Promise.resolve(createReadStream(archive.location, { highWaterMark: 1 << 20 })),
    async manifest() {
      try {
        return await readFile(join(directory, 'backup_manifest'), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
  };
}

/** The objects of a backup made by barman-cloud-backup (or local-to-cloud): `<id>/data.tar…`. */
export function cloudArchives(storage: S3Storage, backupId: string): BackupArchives {
  return {
    async list() {
      return (await storage.listObjects(backupId)).flatMap((object) => {
        const name = object.path.slice(object.path.lastIndexOf('/') + 1);
        if (object.path !== `${backupId}/${name}`) return []; // annotations/ and the like
        const parsed = archiveCompression(name);
        return parsed ? [{ name, ...parsed, location: `${storage.location}/${backupId}/${name}` }] : [];
      });
    },
    open: (archive) => storage.openRead(`${backupId}/${archive.name}`),
    // barman-cloud-backup writes none; local-to-cloud does.
    async manifest() {
      const [object] = await storage.listObjects(`${backupId}/backup_manifest`, { asDirectory: false });
      if (object?.path !== `${backupId}/backup_manifest`) return null;
      return (await storage.readFile(object.path)).toString('utf8');
    },
  };
}

/** WAL files of the local archive (wals/<hash>/<name>, compression found by magic bytes). */
export function localWals(walsDirectory: string, custom: CustomCompression | null): WalOpener {
  return async (entry) => {
    const path = join(walsDirectory, hashDir(entry.name), entry.name);
    try {
      return await openDecompressed(path, custom);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BarmanError(
          'wal-missing',
          `WAL file ${entry.name} is in xlog.db but not in ${walsDirectory}`,
          {
            hint: "Run 'barman rebuild-xlogdb' to make xlog.db match the archive.",
          },
        );
      }
      throw error;
    }
  };
}

/** WAL files of a cloud archive: the object's extension says its compression. */
export function cloudWals(storage: S3Storage): WalOpener {
  return async (entry) => {
    const compression = entry.compression as CloudCompression | null;
    return openCloudWal(storage, cloudWalPath(entry.name, compression), compression);
  };
}

/**
 * Checks, before anything is written to the destination, that a local backup still has what the
 * plan copies: its data directory (or tar archives), its tablespace directories and every WAL
 * file selected. A catalogue that lost files is refused up front instead of leaving a
 * half-recovered destination behind.
 */
export async function checkLocalSources(plan: RecoveryPlan, walsDirectory: string): Promise<void> {
  const required =
    plan.format === 'plain'
      ? [
          join(plan.backupDirectory, 'data'),
          ...plan.tablespaces.map((t) => join(plan.backupDirectory, String(t.oid))),
        ]
      : [join(plan.backupDirectory, 'data')];
  for (const directory of required) {
    const found = await stat(directory).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (found instanceof Error || !found.isDirectory()) {
      const why = found instanceof Error ? describeError(found) : 'it is not a directory';
      throw new BarmanError(
        'backup-incomplete',
        `backup ${plan.backupId} of server ${plan.server} cannot be recovered: ${directory} is missing (${why})`,
        {
          hint: 'the backup directory has lost files: recover another backup (barman list-backup), and delete this one',
        },
      );
    }
  }
  if (plan.format === 'tar') {
    // pg_basebackup's tar format: base.tar* and one <oid>.tar* per tablespace.
    const directory = join(plan.backupDirectory, 'data');
    const bases = new Set((await readdir(directory)).flatMap((name) => archiveCompression(name)?.base ?? []));
    const missing = ['base', ...plan.tablespaces.map((t) => String(t.oid))].filter(
      (base) => !bases.has(base),
    );
    if (missing.length > 0) {
      throw new BarmanError(
        'backup-incomplete',
        `backup ${plan.backupId} of server ${plan.server} cannot be recovered: no ${missing.map((base) => `${base}.tar*`).join(', ')} archive in ${directory}`,
        {
          hint: 'the backup directory has lost files: recover another backup (barman list-backup), and delete this one',
        },
      );
    }
  }
  if (plan.wal.mode !== 'copy') return;
  const missing: string[] = [];
  for (const entry of plan.wal.selection.files) {
    const path = join(walsDirectory, hashDir(entry.name), entry.name);
    const found = await stat(path).catch(() => null);
    if (!found?.isFile()) missing.push(entry.name);
  }
  if (missing.length > 0) {
    const shown =
      missing.slice(0, 3).join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '');
    throw new BarmanError(
      'wal-missing',
      `WAL file${missing.length > 1 ? 's' : ''} ${shown} needed by the recovery ${missing.length > 1 ? 'are' : 'is'} in xlog.db but not in ${walsDirectory}`,
      {
        hint: "Run 'barman rebuild-xlogdb' to make xlog.db match the archive, then recover again (to a target the archive reaches).",
      },
    );
  }
}
