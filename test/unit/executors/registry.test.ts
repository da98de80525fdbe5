/**
 * One backup lifecycle: every backup_method, local-to-cloud included, has its executor in the
 * registry, and a backup location writes and re-reads backup.info through the catalogue.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { emptyBackupInfo } from '../../../src/catalog/backup-info.js';
import { openBackupLocation } from '../../../src/catalog/backup-location.js';
import { loadConfig } from '../../../src/config/index.js';
import { executorFor } from '../../../src/executors/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

function serverConfig(section: string) {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]\nbarman_home = @DIR@/home\nbarman_user = root\n\n[pg]\nconninfo = host=pg\n${section}`,
  });
  const loaded = loadConfig({ configFile: join(dir, 'barman.conf') });
  const server = loaded.servers.get('pg')!;
  assert.equal(server.disabled, false, JSON.stringify(server.problems));
  return server.config;
}

describe('executorFor', () => {
  it('registers local-to-cloud beside the other methods', () => {
    const cloud = serverConfig(
      'backup_method = local-to-cloud\nbasebackups_directory = s3://bucket/pg/base\nwals_directory = s3://bucket/pg/wals\n',
    );
    const executor = executorFor(cloud);
    assert.equal(executor.mode, 'local-to-cloud');
    assert.equal(executor.doneWithoutWal, true);
    assert.deepEqual(executor.initialInfo?.(cloud), { compression: null, encryption: null });
    // encryption = gpg: backup.info says so from the start (its archives are stored as .gpg).
    const encrypted = serverConfig(
      'backup_method = local-to-cloud\nbasebackups_directory = s3://bucket/pg/base\nwals_directory = s3://bucket/pg/wals\n' +
        'encryption = gpg\nencryption_key_id = backup@example.invalid\n',
    );
    assert.deepEqual(executor.initialInfo?.(encrypted), { compression: null, encryption: 'gpg' });
    const local = executorFor(serverConfig('backup_method = local-rsync\n'));
    assert.equal(local.mode, 'rsync-concurrent');
    assert.equal(local.doneWithoutWal, undefined);
  });
});

describe('openBackupLocation (a directory)', () => {
  it('writes backup.info at <id>/backup.info, lists it, and changes it through the catalogue', async () => {
    const config = serverConfig('backup_method = local-rsync\n');
    const location = await openBackupLocation(config);
    try {
      const id = '20250101T000000';
      assert.equal(await location.isFree(id), true);
      await location.writeBackupInfo(id, { ...emptyBackupInfo('pg'), status: 'STARTED' });
      assert.equal(await location.isFree(id), false);
      assert.equal(location.directoryOf(id), join(location.directory, id));
      assert.equal(location.layout?.basebackupsDirectory, location.directory);
      const [backup] = await location.loadBackups();
      assert.equal(backup?.id, id);
      assert.equal(backup?.info?.status, 'STARTED');
      const failed = await location.updateBackupInfo(backup, (info) => ({ ...info, status: 'FAILED' }));
      assert.equal(failed?.status, 'FAILED');
      assert.equal((await location.loadBackups())[0]?.info?.status, 'FAILED');
    } finally {
      location.close();
    }
  });
});
