/** src/postgres against real PostgreSQL 15, 16, 17 and 18 servers: versions, settings, backup start/stop, WAL switch. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import { startPostgres } from '../harness/index.js';
import * as postgres from '../../src/postgres/index.js';

for (const version of [15, 16, 17, 18] as const) {
  describe(`postgres module against PostgreSQL ${version}`, { concurrency: 1 }, () => {
    let server: PostgresServer;
    let client: postgres.PostgresClient;

    before(async () => {
      server = await startPostgres({ version });
      client = await postgres.PostgresClient.connect(server.conninfo);
    });
    after(async () => {
      await client?.close();
      await server?.stop();
    });

    it('reports versions, identity and settings', async () => {
      assert.equal(client.majorVersion, String(version));
      assert.match(client.versionText, new RegExp(`^${version}\\.\\d+$`));
      assert.match(await postgres.systemIdentifier(client), /^\d{15,20}$/);
      assert.equal(await postgres.show(client, 'wal_level'), 'replica');
      assert.equal(await postgres.walSegmentSize(client), 16 * 1024 * 1024);
      assert.equal(await postgres.isInRecovery(client), false);
      assert.equal(await postgres.isSuperuser(client), true);
      assert.equal(await postgres.hasBackupPrivileges(client), true);
      const files = await postgres.configFiles(client);
      assert.equal(files.config_file, `${server.dataDir}/postgresql.conf`);
      assert.ok((await postgres.clusterSize(client)) > 1_000_000);
    });

    it('starts and stops a concurrent backup, with the backup label', async () => {
      const start = await postgres.startBackup(client, 'barman-ts test', true);
      assert.match(start.fileName, /^00000001[0-9A-F]{16}$/);
      assert.equal(start.timeline, 1);
      const stop = await postgres.stopBackup(client);
      assert.match(stop.backupLabel, /^START WAL LOCATION: .* \(file [0-9A-F]{24}\)\n/);
      assert.match(stop.backupLabel, /LABEL: barman-ts test\n/);
      assert.ok(stop.lsn >= start.lsn || stop.lsn.length > start.lsn.length);
    });

    it('switches WAL and names the closed file; refuses nothing on an idle server', async () => {
      await client.query('CREATE TABLE IF NOT EXISTS t (id int)');
      await client.query('INSERT INTO t VALUES (1)');
      const switched = await postgres.switchWal(client);
      assert.match(switched.closed ?? '', /^00000001[0-9A-F]{16}$/);
      assert.notEqual(switched.before, switched.after);
      const idle = await postgres.switchWal(client);
      assert.equal(idle.closed, null);
    });

    it('creates, finds and drops a physical replication slot', async () => {
      await postgres.createPhysicalSlot(client, 'barman_ts_test');
      await assert.rejects(postgres.createPhysicalSlot(client, 'barman_ts_test'), /already exists/);
      assert.deepEqual(await postgres.replicationSlot(client, 'barman_ts_test'), {
        slot_name: 'barman_ts_test',
        active: false,
        restart_lsn: null,
      });
      await postgres.dropPhysicalSlot(client, 'barman_ts_test');
      await assert.rejects(postgres.dropPhysicalSlot(client, 'barman_ts_test'), /does not exist/);
    });

    it('names the server in a connection error, without the password', async () => {
      await assert.rejects(
        postgres.PostgresClient.connect(`host=127.0.0.1 port=1 user=x password=hunter2 connect_timeout=2`),
        (error: Error) =>
          /cannot connect to PostgreSQL \(host=127\.0\.0\.1 port=1 user=x\)/.test(error.message) &&
          !error.message.includes('hunter2'),
      );
    });
  });
}
