/**
 * The BASE_BACKUP client (src/postgres/base-backup.ts) against PostgreSQL 15, in its bad cases:
 * a command the server refuses is a BaseBackupError with the server's reason; a consumer that
 * fails ends the backup (the connection is closed, the walsender goes away) with the consumer's
 * error; a consumer that does not read pauses the socket, so the process does not buffer the
 * backup in memory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import { startPostgres, waitFor } from '../harness/index.js';
import { BaseBackupError, takeBaseBackup } from '../../src/postgres/base-backup.js';

describe('BASE_BACKUP client', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  const options = { label: 'test', fastCheckpoint: true, maxRateKbps: null, manifest: true };

  before(async () => {
    pg = await startPostgres({ version: 15 });
    await pg.query('CREATE TABLE big AS SELECT i, md5(i::text) AS h FROM generate_series(1, 300000) i');
  });

  after(async () => {
    await pg?.stop();
  });

  it('reports what the server refused', async () => {
    await assert.rejects(
      takeBaseBackup(
        pg.conninfo,
        'test',
        { ...options, extraOptions: ['NO_SUCH_OPTION 1'] },
        {
          archive: ({ body }) => {
            body.resume();
            return Promise.resolve();
          },
        },
      ),
      (error: unknown) =>
        error instanceof BaseBackupError && /^BASE_BACKUP failed: .*no_such_option/i.test(error.message),
    );
  });

  it("ends the backup with the consumer's error when the consumer fails", async () => {
    await assert.rejects(
      takeBaseBackup(pg.conninfo, 'test', options, {
        archive: () => Promise.reject(new Error('the bucket said no')),
      }),
      /the bucket said no/,
    );
    await waitFor('the walsender to end', async () => {
      const rows = await pg.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_replication WHERE application_name = 'test'",
      );
      return rows[0]!.n === '0';
    });
  });

  it('pauses the socket while the consumer does not read (bounded memory)', async () => {
    let maxBuffered = 0;
    let total = 0;
    await takeBaseBackup(pg.conninfo, 'test', options, {
      archive: async ({ body }) => {
        // Reads slowly: what waits in the stream must stay near its high-water mark.
        for await (const chunk of body) {
          total += (chunk as Buffer).length;
          maxBuffered = Math.max(maxBuffered, body.readableLength);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      },
    });
    assert.ok(total > 30 * 1024 * 1024, `the backup has ${total} bytes`);
    assert.ok(maxBuffered < 4 * 1024 * 1024, `${maxBuffered} bytes were buffered`);
  });
});
