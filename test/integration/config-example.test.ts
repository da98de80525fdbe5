/**
 * barman-local.conf.example works as written on a database host: with only its paths adapted
 * (barman_home, log_file, the socket and port of the test cluster, where barman is installed),
 * barman-ts runs as the cluster owner it names, archive_command delivers WAL with
 * `put-wal --file`, and check and a local-rsync backup of pg-local succeed.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PostgresServer } from '../harness/index.js';
import { BARMAN_BIN, createDir, isRoot, makeTempDir, runBarman, startPostgres } from '../harness/index.js';

const EXAMPLE = fileURLToPath(new URL('../../../barman-local.conf.example', import.meta.url));

describe('barman-local.conf.example on a database host', { skip: !isRoot() && 'needs root' }, () => {
  let pg: PostgresServer;
  let config: string;
  const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });

  before(async () => {
    const dir = await makeTempDir('config-example');
    config = join(dir, 'barman.conf');
    const home = await createDir(join(dir, 'home'), { owner: 'postgres', mode: 0o700 });
    const barmanCommand = `${process.execPath} ${BARMAN_BIN} -c ${config}`;
    pg = await startPostgres({ version: 15, archiveCommand: `${barmanCommand} put-wal pg-local --file %p` });
    const example = readFileSync(EXAMPLE, 'utf8');
    const adapted = example
      .replace(/^barman_home = .*$/m, `barman_home = ${home}`)
      .replace(/^log_file = .*$/m, `log_file = ${dir}/log/barman.log`)
      .replaceAll('host=/var/run/postgresql', `host=${pg.socketDir} port=${pg.port}`);
    assert.notEqual(adapted, example);
    assert.match(
      adapted,
      /^barman_user = postgres$/m,
      'the cluster owner, as PostgreSQL runs archive_command',
    );
    // The archive_command the example shows is the one the cluster runs (with this checkout's barman).
    assert.match(example, /^;\s+archive_command = '\/usr\/local\/bin\/barman put-wal pg-local --file %p'$/m);
    writeFileSync(config, adapted);
    chmodSync(config, 0o644);
    await pg.query('CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 1000) g');
  });

  after(async () => {
    await pg?.stop();
  });

  it('archives WAL through put-wal --file, takes a backup of pg-local and passes check', async () => {
    const switched = await barman('switch-wal', '--force', '--archive', 'pg-local');
    assert.equal(switched.exitCode, 0, switched.stderr);
    const backup = await barman('backup', '--wait', 'pg-local');
    assert.equal(backup.exitCode, 0, backup.stderr);
    const listed = await barman('list-backup', 'pg-local');
    assert.match(listed.stdout, /^pg-local \d{8}T\d{6} - \w{3} /m);
    assert.doesNotMatch(listed.stdout, /FAILED|STARTED|WAITING_FOR_WALS/);
    // Every check passes, minimum_redundancy = 1 included now that there is a backup.
    const check = await barman('check', 'pg-local');
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /FAILED/);
  });
});
