/**
 * How a chain is read (chain-sources.ts): plain copies in a directory are combined where they
 * are; an encrypted (tar) chain in a directory, and every chain in a bucket, is read as archives;
 * a directory chain mixing the two is refused naming the backups of each kind. The combine of
 * both kinds runs on real backups in encryption-incremental*.test.ts and recover-chain-pg17.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupInfo } from '../../../src/catalog/backup-info.js';
import { emptyBackupInfo } from '../../../src/catalog/backup-info.js';
import type { ServerConfig } from '../../../src/config/index.js';
import { BarmanError } from '../../../src/errors/index.js';
import type { ReadableBackup } from '../../../src/recovery/chain.js';
import { archivedChain } from '../../../src/recovery/chain-sources.js';
import { backupLayoutFor } from '../../../src/recovery/layout.js';
import type { RecoverySources } from '../../../src/recovery/sources.js';
import { PosixStorage } from '../../../src/storage/index.js';

const CONFIG = { name: 'pg', encryption_passphrase_command: null } as unknown as ServerConfig;

function sourcesIn(kind: 'posix' | 's3'): RecoverySources {
  const location =
    kind === 'posix'
      ? ({ kind: 'posix', path: '/unused' } as const)
      : ({ kind: 's3', bucket: 'b', prefix: 'p', url: 's3://b/p' } as const);
  return {
    backups: new PosixStorage('/nonexistent-backups'),
    backupLayout: backupLayoutFor(location),
  } as unknown as RecoverySources;
}

function member(id: string, fields: Partial<BackupInfo> = {}): ReadableBackup {
  return {
    id,
    infoFile: `/base/${id}/backup.info`,
    directory: `/base/${id}`,
    info: emptyBackupInfo('pg', { status: 'DONE', mode: 'postgres', ...fields }),
    unreadable: null,
    keep: null,
  };
}

const ENCRYPTED = { encryption: 'gpg', compression: 'gzip' } as const;

describe('archivedChain', () => {
  it('reads a plain chain in a directory as plain copies, and a backup alone as no chain', () => {
    const plain = [member('a'), member('b', { parent_backup_id: 'a' })];
    assert.equal(archivedChain(CONFIG, plain, sourcesIn('posix')), null);
    assert.equal(archivedChain(CONFIG, [member('a', ENCRYPTED)], sourcesIn('posix')), null);
  });

  it('reads an encrypted chain in a directory as archives in <id>/data', () => {
    const chain = [member('a', ENCRYPTED), member('b', { ...ENCRYPTED, parent_backup_id: 'a' })];
    const archived = archivedChain(CONFIG, chain, sourcesIn('posix'));
    assert.deepEqual(
      archived?.members.map((entry) => [entry.id, entry.archives.archiveLocation]),
      [
        ['a', '/nonexistent-backups/a/data'],
        ['b', '/nonexistent-backups/b/data'],
      ],
    );
  });

  it('refuses a directory chain mixing encrypted and plain backups, naming each kind', () => {
    const chain = [member('a'), member('b', { ...ENCRYPTED, parent_backup_id: 'a' })];
    assert.throws(
      () => archivedChain(CONFIG, chain, sourcesIn('posix')),
      (error: unknown) =>
        error instanceof BarmanError &&
        error.code === 'chain-mixed' &&
        /incremental backup 'b' of server 'pg': its chain mixes backups stored as encrypted or compressed tar archives \(b\) and plain copies \(a\)/.test(
          error.message,
        ),
    );
  });

  it('reads any chain in a bucket as archives, encrypted and plain mixed', () => {
    const chain = [member('a', ENCRYPTED), member('b', { parent_backup_id: 'a' })];
    assert.deepEqual(
      archivedChain(CONFIG, chain, sourcesIn('s3'))?.members.map((entry) => entry.id),
      ['a', 'b'],
    );
  });
});
