/**
 * backup_method = postgres with backup_compression_format = tar: pg_basebackup writes compressed
 * base.tar.* and <oid>.tar.* archives; the backup becomes DONE with begin_* read from the
 * backup_label inside base.tar, and each backup restores (extracted with the system's tar) and
 * starts with the rows committed before it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  writeBarmanConfig,
} from '../harness/index.js';

const EXTRACT: Record<string, string[]> = { gzip: ['-z'], lz4: ['-I', 'lz4'], zstd: ['--zstd'] };
const SUFFIX: Record<string, string> = { gzip: 'gz', lz4: 'lz4', zstd: 'zst' };

describe('postgres method, tar format, compressed', { concurrency: 1 }, () => {
  let pg: PostgresServer;
  let dir: string;
  const restored: PostgresServer[] = [];

  before(async () => {
    dir = await makeTempDir('backup-tar', { owner: 'postgres' });
    mkdirSync(join(dir, 'home'));
    mkdirSync(join(dir, 'tbs'));
    await chownTo(join(dir, 'home'), 'postgres');
    await chownTo(join(dir, 'tbs'), 'postgres');
    pg = await startPostgres({
      version: 15,
      archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${dir}/gzip.conf -q put-wal main --file %p`,
    });
    for (const compression of Object.keys(EXTRACT)) {
      writeBarmanConfig({
        dir,
        file: `${compression}.conf`,
        mode: 0o644,
        global: { barman_user: 'postgres', log_file: null, compression: 'gzip' },
        servers: {
          main: {
            conninfo: pg.conninfo,
            backup_method: 'postgres',
            backup_compression: compression,
            backup_compression_format: 'tar',
            immediate_checkpoint: 'on',
            archiver: 'on',
            path_prefix: '/usr/lib/postgresql/15/bin',
          },
        },
      });
    }
    await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
    await pg.query('CREATE TABLE t (id int) TABLESPACE tbs1');
  });

  after(async () => {
    for (const server of restored) await server.stop();
    await pg?.stop();
  });

  let rows = 0;
  for (const compression of Object.keys(EXTRACT)) {
    it(`takes a ${compression} tar backup that restores and starts`, async () => {
      rows += 1000;
      await pg.query(`INSERT INTO t SELECT generate_series(1, 1000)`);
      const run = await runBarman(['-c', join(dir, `${compression}.conf`), 'backup', '--wait', 'main'], {
        timeoutMs: 180_000,
      });
      assert.equal(run.exitCode, 0, run.stderr);
      const id = readdirSync(join(dir, 'home/main/base')).sort().at(-1)!;
      const backup = join(dir, 'home/main/base', id);
      const info = readFileSync(join(backup, 'backup.info'), 'utf8');
      assert.match(info, /^status=DONE$/m);
      assert.match(info, new RegExp(`^compression=${compression}$`, 'm'));
      assert.match(info, /^backup_label='START WAL LOCATION: /m);
      const files = readdirSync(join(backup, 'data')).sort();
      const oid = files.find((name) => /^\d+\.tar/.test(name))!.split('.')[0]!;
      assert.ok(files.includes(`base.tar.${SUFFIX[compression]}`), files.join(' '));

      const target = await makeTempDir(`restore-tar-${compression}`, { owner: 'postgres' });
      const data = join(target, 'data');
      const tablespace = join(target, 'tbs');
      mkdirSync(data, { mode: 0o700 });
      mkdirSync(tablespace, { mode: 0o700 });
      execFileSync('tar', [
        '-x',
        ...EXTRACT[compression]!,
        '-f',
        join(backup, 'data', `base.tar.${SUFFIX[compression]}`),
        '-C',
        data,
      ]);
      execFileSync('tar', [
        '-x',
        ...EXTRACT[compression]!,
        '-f',
        join(backup, 'data', `${oid}.tar.${SUFFIX[compression]}`),
        '-C',
        tablespace,
      ]);
      writeFileSync(join(data, 'tablespace_map'), `${oid} ${tablespace}\n`);
      execFileSync('chown', ['-R', 'postgres:', target]);
      const copy = await startPostgres({
        version: 15,
        existingDataDir: data,
        restoreCommand: `${process.execPath} ${BARMAN_BIN} -c ${dir}/${compression}.conf -q get-wal main %f > %p`,
      });
      restored.push(copy);
      const [count] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM t');
      assert.equal(count!.n, String(rows));
      await copy.stop();

      // The same backup through `barman recover` (in-process extraction), to the backup's end.
      const recovered = join(target, 'recovered');
      const recover = await runBarman(
        [
          '-c',
          join(dir, `${compression}.conf`),
          'recover',
          'main',
          id,
          recovered,
          '--target-immediate',
          '--target-action',
          'promote',
          '--tablespace',
          `tbs1:${join(target, 'recovered-tbs')}`,
        ],
        { timeoutMs: 180_000 },
      );
      assert.equal(recover.exitCode, 0, recover.stderr);
      assert.ok(!existsSync(join(recovered, 'tablespace_map')), 'tablespaces are linked, not mapped');
      const again = await startRecoveredCopy(recovered);
      restored.push(again);
      const [recoveredCount] = await again.query<{ n: string }>('SELECT count(*) AS n FROM t');
      assert.equal(recoveredCount!.n, String(rows));
    });
  }
});
