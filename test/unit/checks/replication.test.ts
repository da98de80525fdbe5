/** Pure helpers of replication-status and of the streaming connection's version. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lsnDiff, pythonTimestamp, syncStage } from '../../../src/commands/replication-status/run.js';
import type { ReplicationClient } from '../../../src/postgres/index.js';
import { versionNumber } from '../../../src/postgres/index.js';

const client = (fields: Partial<ReplicationClient>): ReplicationClient => ({
  pid: 1,
  usename: 'postgres',
  applicationName: 'app',
  clientAddr: null,
  clientHostname: null,
  clientPort: null,
  backendStart: null,
  backendXmin: null,
  state: 'streaming',
  sentLsn: '0/3000000',
  writeLsn: '0/2000000',
  flushLsn: '0/2000000',
  replayLsn: null,
  syncPriority: 0,
  syncState: 'async',
  slotName: null,
  ...fields,
});

test('server_version text to server_version_num', () => {
  assert.equal(versionNumber('15.18 (Debian 15.18-0+deb12u1)'), 150018);
  assert.equal(versionNumber('17.10'), 170010);
  assert.equal(versionNumber('9.6.24'), 90624);
  assert.equal(versionNumber('17devel'), 170000);
  assert.equal(versionNumber('garbage'), 0);
});

test('LSN differences in bytes', () => {
  assert.equal(lsnDiff('0/15000090', '0/150000C8'), -56);
  assert.equal(lsnDiff('1/0', '0/FFFFFFFF'), 1);
  assert.equal(lsnDiff(null, '0/1'), null);
});

test('sync stages of WAL streamers and standbys', () => {
  const current = '0/3000000';
  assert.equal(syncStage(client({}), current), '2/3 WAL Sent (min)');
  assert.equal(syncStage(client({ writeLsn: current }), current), '3/3 Remote write');
  assert.equal(syncStage(client({ sentLsn: '0/1000000' }), current), '1/3 1-safe');
  const standby = { sentLsn: current, writeLsn: current, flushLsn: current };
  assert.equal(syncStage(client({ ...standby, replayLsn: current }), current), '5/5 Hot standby (max)');
  assert.equal(syncStage(client({ ...standby, replayLsn: '0/1000000' }), current), '4/5 2-safe');
  assert.equal(
    syncStage(client({ ...standby, flushLsn: '0/1', replayLsn: '0/1' }), current),
    '3/5 Remote write',
  );
});

test("PostgreSQL timestamps printed like Python's datetime", () => {
  assert.equal(pythonTimestamp('2026-11-21 04:58:11.471972+00'), '2026-11-21 04:58:11.471972+00:00');
  assert.equal(pythonTimestamp('2026-11-21 04:58:11.47+05:30'), '2026-11-21 04:58:11.470000+05:30');
  assert.equal(pythonTimestamp('2026-11-21 04:58:11+00'), '2026-11-21 04:58:11+00:00');
  assert.equal(pythonTimestamp(null), null);
});
