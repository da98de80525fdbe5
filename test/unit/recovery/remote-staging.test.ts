import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BarmanError } from '../../../src/errors/index.js';
import type { RecoveryPlan } from '../../../src/recovery/plan.js';
import { remoteStagingFor } from '../../../src/recovery/remote-staging.js';
import type { BackupArchive } from '../../../src/recovery/sources.js';

const plan = (over: Partial<RecoveryPlan> = {}): RecoveryPlan =>
  ({
    backupId: 'B1',
    remoteCommand: 'ssh pg',
    format: 'tar',
    chain: null,
    delta: false,
    ...over,
  }) as RecoveryPlan;
const gzipBase: BackupArchive = {
  name: 'base.tar.gz',
  base: 'base',
  compression: 'gzip',
  location: '/b/base.tar.gz',
};
const request = (over: Partial<Parameters<typeof remoteStagingFor>[0]> = {}) => ({
  stagingLocation: 'remote',
  stagingPath: '/var/tmp/staging',
  plan: plan(),
  localArchives: '/barman/pg/base/B1/data',
  archives: [gzipBase],
  ...over,
});

describe('remoteStagingFor: when the recovery host stages, and what it refuses', () => {
  test('a compressed tar backup recovered remotely stages in staging_path there', () => {
    assert.deepEqual(remoteStagingFor(request()), {
      path: '/var/tmp/staging',
      localArchives: '/barman/pg/base/B1/data',
    });
  });

  test('nothing to stage: staging_location = local, a local recovery, a plain backup', () => {
    assert.equal(remoteStagingFor(request({ stagingLocation: 'local' })), null);
    assert.equal(remoteStagingFor(request({ plan: plan({ remoteCommand: null }) })), null);
    assert.equal(remoteStagingFor(request({ plan: plan({ format: 'plain' }) })), null);
  });

  const refusals: Array<[string, Partial<Parameters<typeof remoteStagingFor>[0]>, string, RegExp]> = [
    [
      'an incremental chain',
      { plan: plan({ chain: ['A', 'B1'] }) },
      'remote-staging-unsupported',
      /incremental backup/,
    ],
    ['--delta-restore', { plan: plan({ delta: true }) }, 'remote-staging-unsupported', /--delta-restore/],
    ['no staging_path', { stagingPath: null }, 'remote-staging-path', /needs staging_path/],
    ['archives in object storage', { localArchives: null }, 'remote-staging-unsupported', /not local files/],
    [
      'an encrypted archive',
      { archives: [{ ...gzipBase, encrypted: true }] },
      'remote-staging-unsupported',
      /is encrypted/,
    ],
    [
      'a snappy archive',
      { archives: [{ ...gzipBase, name: 'data.tar.snappy', compression: 'snappy' }] },
      'remote-staging-unsupported',
      /snappy-compressed: the recovery host has no tool for it/,
    ],
  ];
  for (const [label, over, code, message] of refusals) {
    test(`refused: ${label}`, () => {
      assert.throws(
        () => remoteStagingFor(request(over)),
        (error: unknown) =>
          error instanceof BarmanError &&
          error.code === code &&
          message.test(error.message) &&
          error.message.startsWith('staging_location = remote'),
      );
    });
  }
});
