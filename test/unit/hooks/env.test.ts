import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CatalogBackup } from '../../../src/catalog/backups.js';
import {
  archiveHookEnv,
  backupHookEnv,
  backupHookInfo,
  pythonFloat,
  pythonJson,
  recoveryHookEnv,
  walDeleteHookEnv,
} from '../../../src/hooks/index.js';

function backup(id: string, status: string | null, error: string | null = null): CatalogBackup {
  return {
    id,
    infoFile: `/srv/barman/pg/base/${id}/backup.info`,
    directory: `/srv/barman/pg/base/${id}`,
    info: status === null ? null : ({ status, error } as unknown as CatalogBackup['info']),
    unreadable: status === null ? 'broken' : null,
    keep: null,
  };
}

describe('hook environment builders', () => {
  it('archive and wal_delete: segment, file, size, Python float timestamp, empty compression and error', () => {
    assert.deepEqual(
      archiveHookEnv({
        segment: '000000010000000000000003',
        file: '/srv/barman/pg/incoming/000000010000000000000003',
        size: 16777216,
        timestamp: 1795236976.660891,
        compression: null,
      }),
      {
        BARMAN_SEGMENT: '000000010000000000000003',
        BARMAN_FILE: '/srv/barman/pg/incoming/000000010000000000000003',
        BARMAN_SIZE: '16777216',
        BARMAN_TIMESTAMP: '1795236976.660891',
        BARMAN_COMPRESSION: '',
        BARMAN_ERROR: '',
      },
    );
    const env = walDeleteHookEnv({
      segment: '00000002.history',
      file: '/w/00000002.history',
      size: 42,
      timestamp: 1795236976,
      compression: 'gzip',
      error: 'boom',
    });
    assert.equal(env.BARMAN_TIMESTAMP, '1795236976.0');
    assert.equal(env.BARMAN_COMPRESSION, 'gzip');
    assert.equal(env.BARMAN_ERROR, 'boom');
  });

  it('Python str() of floats', () => {
    assert.equal(pythonFloat(1.5), '1.5');
    assert.equal(pythonFloat(0), '0.0');
    assert.equal(pythonFloat(1e-7), '1e-07');
    assert.equal(pythonFloat(Number.NaN), 'nan');
  });

  it('backup and delete: previous and next are the nearest DONE or WAITING_FOR_WALS backups', () => {
    const backups = [
      backup('20261121T062401', 'DONE'),
      backup('20261121T062402', 'WAITING_FOR_WALS'),
      backup('20261121T062403', 'FAILED', 'failure during backup'),
      backup('20261121T062404', null),
      backup('20261121T062405', 'FAILED'),
      backup('20261121T062406', 'DONE'),
    ];
    assert.deepEqual(backupHookEnv(backupHookInfo(backups[2]!, backups)), {
      BARMAN_BACKUP_DIR: '/srv/barman/pg/base/20261121T062403',
      BARMAN_BACKUP_ID: '20261121T062403',
      BARMAN_BACKUP_INFO_PATH: '/srv/barman/pg/base/20261121T062403/backup.info',
      BARMAN_PREVIOUS_ID: '20261121T062402',
      BARMAN_NEXT_ID: '20261121T062406',
      BARMAN_STATUS: 'FAILED',
      BARMAN_ERROR: 'failure during backup',
    });
    const first = backupHookEnv(backupHookInfo(backups[0]!, [...backups].reverse()));
    assert.equal(first.BARMAN_PREVIOUS_ID, '');
    assert.equal(first.BARMAN_NEXT_ID, '20261121T062402');
    const last = backupHookEnv(backupHookInfo(backups[5]!, backups));
    assert.equal(last.BARMAN_PREVIOUS_ID, '20261121T062402');
    assert.equal(last.BARMAN_NEXT_ID, '');
    assert.equal(last.BARMAN_ERROR, '');
    assert.equal(backupHookEnv(backupHookInfo(backups[3]!, backups)).BARMAN_STATUS, 'UNREADABLE');
  });

  it('recovery: destination, tablespaces and options as Python json.dumps(sort_keys=True)', () => {
    const env = recoveryHookEnv({
      backupId: '20261121T062406',
      backupDir: '/b/20261121T062406',
      backupInfoPath: '/b/20261121T062406/backup.info',
      status: 'DONE',
      previousId: '20261121T062401',
      nextId: null,
      destination: '/var/lib/pgsql/restore',
      tablespaces: { tbs2: '/mnt/é', tbs1: '/mnt/one' },
      remoteCommand: 'ssh postgres@pg',
      recoverOptions: {
        target_time: '2026-11-21 04:58:30+00:00',
        target_xid: null,
        target_name: '',
        exclusive: false,
        target_tli: 2,
        target_immediate: true,
        standby_mode: undefined,
      },
    });
    assert.equal(env.BARMAN_DESTINATION_DIRECTORY, '/var/lib/pgsql/restore');
    assert.equal(env.BARMAN_TABLESPACES, '{"tbs1": "/mnt/one", "tbs2": "/mnt/\\u00e9"}');
    assert.equal(env.BARMAN_REMOTE_COMMAND, 'ssh postgres@pg');
    assert.equal(
      env.BARMAN_RECOVER_OPTIONS,
      '{"target_immediate": true, "target_time": "2026-11-21 04:58:30+00:00", "target_tli": 2}',
    );
    assert.equal(env.BARMAN_PREVIOUS_ID, '20261121T062401');
    assert.equal(env.BARMAN_NEXT_ID, '');
    assert.equal(env.BARMAN_ERROR, '');

    const local = recoveryHookEnv({
      backupId: 'x',
      backupDir: '/b/x',
      backupInfoPath: '/b/x/backup.info',
      status: 'DONE',
      previousId: null,
      nextId: null,
      destination: '/d',
      tablespaces: {},
      remoteCommand: null,
      recoverOptions: { target_tli: 0 },
      error: 'copy failed',
    });
    assert.equal(local.BARMAN_TABLESPACES, '');
    assert.equal(local.BARMAN_REMOTE_COMMAND, '');
    assert.equal(local.BARMAN_RECOVER_OPTIONS, '');
    assert.equal(local.BARMAN_ERROR, 'copy failed');
  });

  it('pythonJson escapes like ensure_ascii and keeps nested structures', () => {
    assert.equal(
      pythonJson({ b: [1, 'x\n'], a: { z: null, y: '\u007f😀' } }),
      '{"a": {"y": "\\u007f\\ud83d\\ude00", "z": null}, "b": [1, "x\\n"]}',
    );
  });
});
