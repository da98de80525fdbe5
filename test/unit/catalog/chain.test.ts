import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupInfo } from '../../../src/catalog/backup-info.js';
import { emptyBackupInfo } from '../../../src/catalog/backup-info.js';
import type { CatalogBackup } from '../../../src/catalog/backups.js';
import {
  BackupChains,
  backupType,
  deduplicationRatio,
  estimatedSavedBytes,
  isFullBackup,
} from '../../../src/catalog/chain.js';

function entry(id: string, fields: Partial<BackupInfo> = {}): CatalogBackup {
  return {
    id,
    infoFile: `/base/${id}/backup.info`,
    directory: `/base/${id}`,
    info: emptyBackupInfo('pg', { status: 'DONE', mode: 'postgres', ...fields }),
    unreadable: null,
    keep: null,
  };
}

describe('backup types', () => {
  it('are computed from the mode and the parent, as Barman 3.11+ does', () => {
    const info = (fields: Partial<BackupInfo>) => emptyBackupInfo('pg', fields);
    assert.equal(backupType(info({ mode: 'postgres' })), 'full');
    assert.equal(backupType(info({ mode: 'postgres', parent_backup_id: '20260101T000000' })), 'incremental');
    assert.equal(backupType(info({ mode: 'rsync-concurrent' })), 'rsync');
    assert.equal(backupType(info({ mode: 'snapshot-concurrent' })), 'snapshot');
    assert.equal(backupType(info({ mode: 'local-to-cloud' })), 'full');
    assert.equal(isFullBackup(info({ mode: 'rsync-exclusive' })), true);
    assert.equal(isFullBackup(info({ mode: 'postgres', parent_backup_id: 'x' })), false);
  });

  it('deduplication: against the cluster size, the backup size for rsync, nothing without one', () => {
    const incremental = emptyBackupInfo('pg', {
      mode: 'postgres',
      parent_backup_id: 'p',
      deduplicated_size: 1_000,
      size: 1_000,
      cluster_size: 4_000,
    });
    assert.equal(deduplicationRatio(incremental), 0.75);
    assert.equal(estimatedSavedBytes(incremental), 3_000);
    const rsync = emptyBackupInfo('pg', { mode: 'rsync-concurrent', deduplicated_size: 250, size: 1_000 });
    assert.equal(deduplicationRatio(rsync), 0.75);
    assert.equal(deduplicationRatio(emptyBackupInfo('pg', { mode: 'postgres', deduplicated_size: 5 })), 0);
  });
});

describe('BackupChains', () => {
  // a ← b ← c, a ← d; e alone; f ← g where g is listed only by its parent_backup_id.
  const backups = [
    entry('a', { children_backup_ids: ['b', 'd'] }),
    entry('b', { parent_backup_id: 'a', children_backup_ids: ['c'] }),
    entry('c', { parent_backup_id: 'b' }),
    entry('d', { parent_backup_id: 'a' }),
    entry('e'),
    entry('f', { children_backup_ids: ['gone'] }),
    entry('g', { parent_backup_id: 'f' }),
    entry('h', { parent_backup_id: 'missing' }),
  ];
  const chains = new BackupChains(backups);

  it('walks descendants deepest first, children in their parent order', () => {
    assert.deepEqual(chains.descendantsOf('a'), ['c', 'b', 'd']);
    assert.deepEqual(chains.descendantsOf('b'), ['c']);
    assert.deepEqual(chains.descendantsOf('e'), []);
  });

  it('gives a chain from the backup to its root', () => {
    assert.deepEqual(
      chains.chainOf('c').map((backup) => backup.id),
      ['c', 'b', 'a'],
    );
    assert.equal(chains.rootOf('d')?.id, 'a');
    assert.equal(chains.parentOf('c')?.id, 'b');
    assert.equal(chains.parentOf('a'), null);
  });

  it('reads both links, and ignores a listed child that is no longer in the catalogue', () => {
    assert.deepEqual(chains.childrenOf('f'), ['g']);
    assert.deepEqual(chains.descendantsOf('f'), ['g']);
  });

  it('names a missing parent; such a backup is its own root', () => {
    assert.equal(chains.missingParentOf('h'), 'missing');
    assert.equal(chains.missingParentOf('c'), null);
    assert.equal(chains.rootOf('h')?.id, 'h');
  });

  it('knows whether the catalogue holds chains at all', () => {
    assert.equal(chains.holdsChains, true);
    assert.equal(new BackupChains([entry('e'), entry('x')]).holdsChains, false);
  });

  it('survives a loop of hand-edited links', () => {
    const loop = new BackupChains([
      entry('p', { parent_backup_id: 'q', children_backup_ids: ['q'] }),
      entry('q', { parent_backup_id: 'p', children_backup_ids: ['p'] }),
    ]);
    assert.deepEqual(loop.descendantsOf('p'), ['q']);
    assert.deepEqual(
      loop.chainOf('p').map((backup) => backup.id),
      ['p', 'q'],
    );
  });
});
