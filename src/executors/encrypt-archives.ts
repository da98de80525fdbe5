/**
 * `encryption = gpg` for a postgres-method backup in tar format, as Barman 3.14+ stores it: each
 * archive pg_basebackup wrote in `<id>/data/` (`base.tar.gz`, `<oid>.tar.gz`) becomes
 * `<name>.gpg`, the plaintext archive is removed, `backup_manifest` stays as it is. The encrypted
 * copy is staged, synced and published under its name before the plaintext goes, so a kill leaves
 * either file whole (the backup is then FAILED anyway). Used for servers before PostgreSQL 15 only
 * (newer ones are encrypted as they are copied, postgres-sealed.ts). Limit, as in Barman:
 * pg_basebackup writes the compressed plaintext archives first; they exist on disk until this
 * step ends.
 */
import type { Reporter } from '../output/reporter.js';
import type { Storage } from '../storage/index.js';
import { encryptToFile, GPG_ENCRYPTION } from '../transfer/gpg.js';
import { archiveCompression } from '../transfer/tar-archives.js';
import { stagingOf } from '../wal/archive-store.js';

/** Encrypts the tar archives of `dataPath` (in `storage`) to `keyId`; returns what backup.info records. */
export async function encryptBackupArchives(
  storage: Storage,
  dataPath: string,
  keyId: string,
  report: Reporter,
): Promise<typeof GPG_ENCRYPTION> {
  report.info(`Encrypting backup using ${GPG_ENCRYPTION} encryption`);
  const { stage, commitStaged } = stagingOf(storage);
  for (const entry of await storage.list(dataPath)) {
    if (entry.kind !== 'file' || archiveCompression(entry.name) === undefined) continue;
    const plain = `${dataPath}/${entry.name}`;
    const staged = await stage(`${plain}.${GPG_ENCRYPTION}`, {
      write: async (temp) => await encryptToFile(keyId, await storage.openRead(plain), temp),
    });
    await commitStaged([staged]);
    await storage.remove(plain);
  }
  return GPG_ENCRYPTION;
}
