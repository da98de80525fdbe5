/**
 * How the backups of an incremental chain are read: as plain copies (Barman 3.11+'s layout in a
 * directory, combined where they are) or as tar archives (every backup in a bucket; an encrypted
 * chain in a directory, `<id>/data/base.tar*.gpg`), extracted then combined (apply-chain.ts). A
 * directory's chain mixing the two — encryption turned on or off between a full backup and its
 * incrementals, which `backup --incremental` refuses — is refused naming the backups of each
 * kind, before anything is written. In a bucket each archive is decrypted or not by its name, so
 * a chain there may mix encrypted and plain backups.
 */
import type { BackupInfo } from '../catalog/backup-info.js';
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import { passphraseSourceOf } from '../transfer/passphrase.js';
import type { ArchivedChain } from './apply-chain.js';
import type { ReadableBackup } from './chain.js';
import type { ChainBackup } from './combine/chain.js';
import { chainBackupDirectory } from './layout.js';
import type { RecoverySources } from './sources.js';
import { archives } from './sources.js';

/** A backup of Barman's directory layout kept as tar archives: encrypted, or compressed. */
function storedAsArchives(info: BackupInfo): boolean {
  return info.encryption !== null || (info.compression !== null && info.compression !== 'none');
}

/** The backups of a chain as the combine reads them: Barman's plain layout, through the Storage. */
export function chainBackups(chain: readonly ReadableBackup[], sources: RecoverySources): ChainBackup[] {
  return chain.map((member) => ({
    name: member.id,
    storage: sources.backups,
    dataDirectory: chainBackupDirectory(member.id, 'data'),
    tablespaces: new Map(
      (member.info.tablespaces ?? []).map((tablespace) => [
        tablespace.oid,
        chainBackupDirectory(member.id, String(tablespace.oid)),
      ]),
    ),
  }));
}

/**
 * The backups of a chain stored as tar archives (barman-cloud's layout, or an encrypted chain in
 * a directory); null for plain copies or a backup that is no chain.
 */
export function archivedChain(
  config: ServerConfig,
  chain: readonly ReadableBackup[],
  sources: RecoverySources,
): ArchivedChain | null {
  if (chain.length < 2) return null;
  const { backups, backupLayout } = sources;
  if (backupLayout.plainDirectory(chain[0]!.id, 'data') !== null) {
    const tar = chain.filter((member) => storedAsArchives(member.info));
    if (tar.length === 0) return null;
    if (tar.length < chain.length) {
      const plain = chain.filter((member) => !storedAsArchives(member.info));
      const target = chain.at(-1)!.id;
      throw new BarmanError(
        'chain-mixed',
        `Cannot recover incremental backup '${target}' of server '${config.name}': its chain mixes backups stored as ` +
          `encrypted or compressed tar archives (${tar.map((member) => member.id).join(', ')}) and plain copies ` +
          `(${plain.map((member) => member.id).join(', ')}); barman-ts combines a chain stored one way only`,
        {
          hint: 'recover an older backup of the chain whose backups are all stored the same way, or take a new full backup',
        },
      );
    }
  }
  const passphrase = passphraseSourceOf(config);
  return {
    members: chain.map((member) => ({
      id: member.id,
      archives: archives(backups, backupLayout, member.id, passphrase),
    })),
  };
}
