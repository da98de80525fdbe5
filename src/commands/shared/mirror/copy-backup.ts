/**
 * Copies one stored backup from a source server's basebackups_directory to a mirror's, through
 * the Storage of each, converting between the two layouts a location implies:
 *
 * - same kind (directory → directory, bucket → bucket): every file of `<id>/` as it is, but
 *   backup.info (the caller writes the mirror's) and annotations/ (keep is the mirror's own);
 * - directory → s3://: the plain copy (`<id>/data/`, `<id>/<oid>/`) packed into barman-cloud's
 *   tar archives by local-to-cloud's writer (`TarPartWriter`), in the mirror's backup_compression,
 *   with a backup_manifest of what was packed;
 * - s3:// → directory: the tar archives extracted into a plain copy by recovery's extractor, the
 *   backup_manifest placed in `data/` (where pg_basebackup leaves it).
 *
 * What cannot be converted is refused by backup id: compressed (tar) backups of a directory, and
 * incremental or encrypted backups between kinds.
 */
import type { BackupInfo } from '../../../catalog/backup-info.js';
import type { ManifestFile } from '../../../catalog/backup-manifest.js';
import { renderBackupManifest } from '../../../catalog/backup-manifest.js';
import type { ServerConfig } from '../../../config/index.js';
import { BarmanError } from '../../../errors/index.js';
import { TarPartWriter } from '../../../executors/cloud-tar.js';
import {
  backupArchiveUploader,
  cloudArchiveFormat,
  cloudBackupCompression,
  cloudBackupEncryption,
} from '../../../executors/cloud-upload.js';
import { backupLayoutFor } from '../../../recovery/layout.js';
import { archives } from '../../../recovery/sources.js';
import { extractTarStream } from '../../../recovery/tar-extract.js';
import type { Storage } from '../../../storage/index.js';
import { fsyncTree } from '../../../transfer/copy-tree.js';
import { passphraseSourceOf } from '../../../transfer/passphrase.js';

export interface CopySide {
  config: ServerConfig;
  /** The server's basebackups_directory. */
  storage: Storage;
}

/** What the mirror's backup.info says differently from the source's. */
export type CopiedFields = Pick<BackupInfo, 'compression' | 'encryption'>;

/** Files of a backup directory that are the catalogue's, not the backup's. */
const CATALOGUE_ENTRIES = new Set(['backup.info', 'annotations']);

/** Why `info` cannot be stored in the mirror's kind of location, or null when it can. */
export function conversionProblem(
  source: CopySide,
  mirror: CopySide,
  id: string,
  info: BackupInfo,
): string | null {
  const from = source.config.basebackups_directory.kind;
  const to = mirror.config.basebackups_directory.kind;
  if (from === to) return null;
  if (info.parent_backup_id)
    return `backup ${id} is an incremental backup: it can only be mirrored to a location of the same kind (${from})`;
  if (info.encryption)
    return `backup ${id} is encrypted (${info.encryption}): it can only be mirrored to a location of the same kind (${from})`;
  if (from === 'posix' && info.compression && info.compression !== 'none')
    return `backup ${id} is stored as compressed tar archives (${info.compression}): only plain backups of a directory can be mirrored to s3://`;
  return null;
}

export async function copyBackupFiles(
  source: CopySide,
  mirror: CopySide,
  id: string,
  info: BackupInfo,
  signal: AbortSignal,
): Promise<CopiedFields> {
  const problem = conversionProblem(source, mirror, id, info);
  if (problem) throw new BarmanError('mirror-conversion-refused', problem);
  const from = source.config.basebackups_directory.kind;
  const to = mirror.config.basebackups_directory.kind;
  if (from === to) {
    await copySameKind(source.storage, mirror.storage, id, signal);
    return { compression: info.compression, encryption: info.encryption };
  }
  if (to === 's3') {
    await packIntoArchives(source.storage, mirror, id, info, signal);
    return {
      compression: cloudBackupCompression(mirror.config),
      encryption: cloudBackupEncryption(mirror.config),
    };
  }
  await extractArchives(source, mirror.storage, id, signal);
  return { compression: null, encryption: null };
}

/** Visits every directory and file below `root` (directories first); symbolic links are skipped. */
async function walk(
  storage: Storage,
  root: string,
  visit: (path: string, kind: 'file' | 'directory') => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const entries = (await storage.list(root)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    signal.throwIfAborted();
    const path = `${root}/${entry.name}`;
    if (entry.kind === 'directory') {
      await visit(path, 'directory');
      await walk(storage, path, visit, signal);
    } else if (entry.kind === 'file') {
      await visit(path, 'file');
    }
  }
}

async function copySameKind(from: Storage, to: Storage, id: string, signal: AbortSignal): Promise<void> {
  for (const entry of await from.list(id)) {
    if (CATALOGUE_ENTRIES.has(entry.name)) continue;
    const top = `${id}/${entry.name}`;
    const copyOne = async (path: string, kind: 'file' | 'directory') => {
      if (kind === 'directory') return to.mkdir(path);
      const stat = await from.stat(path);
      if (!stat) throw vanished(from, path);
      await to.writeFile(path, await from.openRead(path), { mode: 0o600, mtimeMs: stat.mtimeMs });
    };
    if (entry.kind === 'directory') {
      await copyOne(top, 'directory');
      await walk(from, top, copyOne, signal);
    } else if (entry.kind === 'file') {
      await copyOne(top, 'file');
    }
  }
}

/** A plain backup of a directory as barman-cloud's `data.tar*` and `<oid>.tar*`, plus backup_manifest. */
async function packIntoArchives(
  from: Storage,
  mirror: CopySide,
  id: string,
  info: BackupInfo,
  signal: AbortSignal,
): Promise<void> {
  const manifest: ManifestFile[] = [];
  const options = {
    ...cloudArchiveFormat(mirror.config),
    signal,
    manifest,
    upload: backupArchiveUploader(mirror.config, mirror.storage, id, {
      bandwidthLimit: mirror.config.bandwidth_limit ?? null,
    }),
  };
  const parts = [...(info.tablespaces ?? []).map((tablespace) => String(tablespace.oid)), 'data'];
  for (const part of parts) {
    const root = `${id}/${part}`;
    if ((await from.stat(root))?.kind !== 'directory') throw vanished(from, root);
    const writer = new TarPartWriter(part, options);
    try {
      await walk(
        from,
        root,
        async (path, kind) => {
          const name = path.slice(root.length + 1);
          // Rewritten below for what the archives hold; a recovery renames it into the data directory.
          if (part === 'data' && name === 'backup_manifest') return;
          const stat = await from.stat(path);
          if (!stat) throw vanished(from, path);
          const member = { mode: kind === 'directory' ? 0o700 : 0o600, mtimeSeconds: stat.mtimeMs / 1000 };
          if (kind === 'directory') return writer.addDirectory(name, member);
          const body = await from.openRead(path);
          await writer.addMember(name, stat.size, member, async (write) => {
            for await (const chunk of body) await write(chunk as Buffer);
          });
        },
        signal,
      );
      await writer.finish();
    } catch (error) {
      await writer.abort(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }
  if (typeof info.timeline === 'number' && info.begin_xlog && info.end_xlog)
    await mirror.storage.writeFile(
      `${id}/backup_manifest`,
      renderBackupManifest(manifest, [
        { timeline: info.timeline, startLsn: info.begin_xlog, endLsn: info.end_xlog },
      ]),
    );
}

/** barman-cloud's archives extracted into Barman's plain layout, synced to disk. */
async function extractArchives(
  source: CopySide,
  to: Storage,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  if (!to.localPath) throw new Error(`${to.location} has no local files`);
  const found = archives(
    source.storage,
    backupLayoutFor(source.config.basebackups_directory),
    id,
    passphraseSourceOf(source.config),
  );
  const list = await found.list();
  if (!list.some((archive) => archive.base === found.pgdataArchive))
    throw vanished(source.storage, `${id}/${found.pgdataArchive}.tar`);
  for (const archive of list) {
    const part = archive.base === found.pgdataArchive ? 'data' : archive.base;
    await extractTarStream(
      await found.open(archive),
      archive.location,
      archive.compression,
      to.localPath(`${id}/${part}`),
      {
        privateModes: true,
        signal,
      },
    );
  }
  const manifest = await found.manifest();
  if (manifest !== null) await to.writeFile(`${id}/data/backup_manifest`, manifest);
  await fsyncTree(to.localPath(id), 4);
}

function vanished(storage: Storage, path: string): BarmanError {
  return new BarmanError(
    'mirror-source-vanished',
    `${storage.location}/${path} disappeared from the source during the copy`,
  );
}
