import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseSynchronousStandbyNames,
  splitSynchronousStandbyNames,
} from '../../../src/postgres/replication.js';
import { programConnection } from '../../../src/postgres/password.js';
import { pgReceiveWalArguments } from '../../../src/commands/receive-wal/receiver.js';
import { resetPlan } from '../../../src/commands/receive-wal/reset.js';

const S = (n: number) => `00000001000000000000000${n.toString(16).toUpperCase()}`;

test('--reset: nothing to do when streaming/ is empty or at or after the restart point', () => {
  assert.deepEqual(resetPlan(null, S(5), S(7)), { action: 'aligned', newest: null });
  assert.deepEqual(resetPlan(`${S(5)}.partial`, S(5), S(7)), {
    action: 'aligned',
    newest: `${S(5)}.partial`,
  });
  assert.deepEqual(resetPlan(S(6), S(5), S(7)), { action: 'aligned', newest: S(6) });
  assert.deepEqual(resetPlan(`${S(7)}.partial`, S(5), S(7)), {
    action: 'aligned',
    newest: `${S(7)}.partial`,
  });
});

test('--reset: refuses when streaming/ is ahead of the server, resets when behind the restart point', () => {
  assert.deepEqual(resetPlan(`${S(8)}.partial`, S(5), S(7)), { action: 'ahead', newest: `${S(8)}.partial` });
  assert.deepEqual(resetPlan(`${S(3)}.partial`, S(5), S(7)), {
    action: 'reset',
    newest: `${S(3)}.partial`,
    restartWal: S(5),
  });
  assert.deepEqual(resetPlan(S(4), S(5), S(5)), { action: 'reset', newest: S(4), restartWal: S(5) });
});

test('synchronous_standby_names as Barman reads it: the list in parentheses, or the whole value', () => {
  assert.deepEqual(parseSynchronousStandbyNames(''), []);
  assert.deepEqual(parseSynchronousStandbyNames(null), []);
  assert.deepEqual(parseSynchronousStandbyNames('*'), ['*']);
  assert.deepEqual(parseSynchronousStandbyNames('a, "barman_receive_wal"'), ['a', 'barman_receive_wal']);
  assert.deepEqual(parseSynchronousStandbyNames('FIRST 2 (s1, barman_receive_wal)'), [
    's1',
    'barman_receive_wal',
  ]);
  assert.deepEqual(parseSynchronousStandbyNames('ANY 1 ("s 1", s2)'), ['s 1', 's2']);
});

test("show-server's synchronous_standby_names: Barman 3.4's list, empty names kept", () => {
  // Each expectation is what Barman 3.4's get_synchronous_standby_names returns for the value.
  assert.deepEqual(splitSynchronousStandbyNames(''), ['']);
  assert.deepEqual(splitSynchronousStandbyNames('*'), ['*']);
  assert.deepEqual(splitSynchronousStandbyNames('FIRST 2 (a, "b c", d)'), ['a', 'b c', 'd']);
  assert.deepEqual(splitSynchronousStandbyNames('a,b'), ['a', 'b']);
});

test('pg_receivewal gets the connection string without its password, with the archiver name', () => {
  const { conninfo, env } = programConnection("host=pg user=streaming_barman password='se cret'", {
    application_name: 'barman_receive_wal',
  });
  assert.equal(conninfo, 'host=pg user=streaming_barman application_name=barman_receive_wal');
  assert.equal(env.PGPASSWORD, 'se cret');
  assert.deepEqual(
    pgReceiveWalArguments({ conninfo, directory: '/b/pg/streaming', slot: 'barman', synchronous: true }),
    [
      `--dbname=${conninfo}`,
      '--verbose',
      '--no-loop',
      '--no-password',
      '--directory=/b/pg/streaming',
      '--slot=barman',
      '--synchronous',
    ],
  );
  assert.deepEqual(
    pgReceiveWalArguments({ conninfo, directory: '/d', slot: null, synchronous: false }).slice(-2),
    ['--no-password', '--directory=/d'],
  );
});
