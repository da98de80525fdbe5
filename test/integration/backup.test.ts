/**
 * `barman backup` with the local-rsync and postgres methods against a real PostgreSQL 15 with a
 * tablespace: backups are DONE with the right catalogue, a second local-rsync backup hard-links
 * unchanged files, and each backup is proven by restoring it, starting PostgreSQL on it and
 * counting the rows committed before the backup ended.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BARMAN_34_KEYS } from '../../src/catalog/backup-info.js';
import type { IniSection, PostgresServer } from '../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  progressLines,
  restoreAndStart,
  runBarman,
  startPostgres,
  sumTrees,
  writeBarmanConfig,
} from '../harness/index.js';

for (const method of ['local-rsync', 'postgres'] as const) {
  describe(`backup_method = ${method}`, { concurrency: 1 }, () => {
    let pg: PostgresServer;
    let dir: string;
    let config: string;
    const restored: PostgresServer[] = [];
    const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 180_000 });
    const backupIds = () => readdirSync(join(dir, 'home/main/base')).sort();
    /** A configuration (archive_command, run as postgres, reads it); `main` over [main]'s options. */
    const writeConfig = (file: string, main: IniSection = {}) =>
      writeBarmanConfig({
        dir,
        file,
        mode: 0o644,
        global: { barman_user: 'postgres', compression: 'gzip' },
        servers: {
          main: {
            description: `"${method} test"`,
            conninfo: pg.conninfo,
            backup_method: method,
            reuse_backup: method === 'postgres' ? null : 'link',
            parallel_jobs: 2,
            immediate_checkpoint: 'on',
            archiver: 'on',
            path_prefix: '/usr/lib/postgresql/15/bin',
            ...main,
          },
        },
      });

    before(async () => {
      dir = await makeTempDir(`backup-${method}`, { owner: 'postgres' });
      config = join(dir, 'barman.conf');
      mkdirSync(join(dir, 'home'));
      mkdirSync(join(dir, 'tbs'));
      await chownTo(join(dir, 'home'), 'postgres');
      await chownTo(join(dir, 'tbs'), 'postgres');
      pg = await startPostgres({
        version: 15,
        archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
      });
      writeConfig(config);
      await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
      await pg.query('CREATE TABLE accounts (id int, note text) TABLESPACE tbs1');
      await pg.query("INSERT INTO accounts SELECT g, 'before backup' FROM generate_series(1, 20000) g");
      await pg.query('CREATE TABLE plain AS SELECT generate_series(1, 5000) AS id');
    });

    after(async () => {
      for (const server of restored) await server.stop();
      await pg?.stop();
    });

    it('takes a backup that becomes DONE with --wait, records it like Barman, reports progress', async () => {
      const run = await barman('backup', '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      const [id] = backupIds();
      assert.match(
        run.stdout,
        new RegExp(
          `^Starting backup using ${method === 'postgres' ? 'postgres' : 'rsync-concurrent'} method for server main in .*/base/${id}\\n`,
        ),
      );
      assert.match(run.stdout, /Backup start at LSN: [0-9A-F]+\/[0-9A-F]+ \([0-9A-F]{24}, [0-9A-F]{8}\)\n/);
      assert.match(run.stdout, /Backup completed \(start time: .*, elapsed time: .*\)\n/);
      const info = readFileSync(join(dir, 'home/main/base', id!, 'backup.info'), 'utf8');
      assert.match(info, /^status=DONE$/m);
      assert.match(info, new RegExp(`^tablespaces=\\[\\('tbs1', \\d+, '${dir}/tbs'\\)\\]$`, 'm'));
      assert.match(info, /^backup_label='START WAL LOCATION: /m);
      assert.match(info, /^begin_wal=[0-9A-F]{24}$/m);
      assert.match(info, /^end_wal=[0-9A-F]{24}$/m);
      const [system] = await pg.query<{ id: string }>(
        'SELECT system_identifier::text AS id FROM pg_control_system()',
      );
      assert.match(info, new RegExp(`^systemid=${system!.id}$`, 'm'));
      const listing = await barman('list-backup', 'main');
      assert.match(
        listing.stdout,
        new RegExp(`^main ${id} - .* - Size: .* - WAL Size: .* \\(tablespaces: tbs1:${dir}/tbs\\)\\n$`),
      );

      // Progress: stdout is not a terminal, so plain lines when each copy starts and ends.
      const backup = join(dir, 'home/main/base', id!);
      const [oid] = readdirSync(backup).filter((name) => /^\d+$/.test(name));
      const log = readFileSync(join(dir, 'log/barman.log'), 'utf8');
      // pg_basebackup streams PGDATA and tablespaces as one copy and counts bytes only.
      const copies =
        method === 'postgres'
          ? [
              {
                label: 'PGDATA and 1 tablespace',
                onDisk: sumTrees([join(backup, 'data'), join(backup, oid!)]),
              },
            ]
          : [
              { label: 'tablespace tbs1', onDisk: sumTrees([join(backup, oid!)]) },
              // pg_control is copied apart, last; backup_label and tablespace_map come from pg_backup_stop.
              {
                label: 'PGDATA',
                onDisk: sumTrees(
                  [join(backup, 'data')],
                  ['global/pg_control', 'backup_label', 'tablespace_map'],
                ),
              },
            ];
      for (const { label, onDisk } of copies) {
        const lines = progressLines(run.stdout, label);
        assert.ok(lines.length >= 2, `a line at the start and at the end of ${label} in:\n${run.stdout}`);
        assert.equal(lines[0]!.percent, 0);
        assert.equal(lines[0]!.bytesDone, 0);
        const last = lines.at(-1)!;
        assert.ok(last.final && lines.filter((line) => line.final).length === 1, run.stdout);
        assert.equal(last.percent, 100);
        assert.equal(last.bytesDone, last.bytesTotal);
        if (method === 'postgres') {
          // pg_basebackup counts its tar stream: headers on top of the file contents.
          assert.equal(last.filesDone, null);
          assert.ok(
            Math.abs(last.bytesDone - onDisk.bytes) < onDisk.bytes * 0.1,
            `${label}: ${last.bytesDone} streamed, ${onDisk.bytes} on disk`,
          );
        } else {
          assert.equal(last.filesDone, onDisk.files, label);
          assert.equal(last.filesTotal, onDisk.files, label);
          assert.ok(
            Math.abs(last.bytesDone - onDisk.bytes) <= onDisk.bytes * 0.01 + 64 * 1024,
            `${label}: ${last.bytesDone} reported, ${onDisk.bytes} on disk`,
          );
        }
        assert.match(log, new RegExp(`"msg":"${label}: 100% `), 'the final line is logged');
      }
    });

    it('restores to a PostgreSQL that has every row committed before the backup ended', async () => {
      const [id] = backupIds();
      const copy = await restoreAndStart({
        backupDirectory: join(dir, 'home/main/base', id!),
        config,
        server: 'main',
      });
      restored.push(copy);
      const [accounts] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
      const [plain] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM plain');
      assert.equal(accounts!.n, '20000');
      assert.equal(plain!.n, '5000');
      const [location] = await copy.query<{ l: string }>(
        "SELECT pg_tablespace_location(oid) AS l FROM pg_tablespace WHERE spcname = 'tbs1'",
      );
      assert.notEqual(location!.l, `${dir}/tbs`, 'the restored copy uses its own tablespace directory');
    });

    it('takes a second backup while data changes; local-rsync hard-links unchanged files', async () => {
      await pg.query("INSERT INTO accounts SELECT g, 'second' FROM generate_series(20001, 25000) g");
      const run = await barman('backup', '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      const [first, second] = backupIds();
      const sample = 'data/PG_VERSION';
      const links = statSync(join(dir, 'home/main/base', second!, sample)).nlink;
      if (method === 'local-rsync') {
        assert.equal(links, 2, 'PG_VERSION is shared with the first backup');
        assert.match(run.stdout, /Actual size on disk: .* \(-\d+\.\d+% deduplication ratio\)/);
        const info = readFileSync(join(dir, 'home/main/base', second!, 'backup.info'), 'utf8');
        const size = Number(/^size=(\d+)$/m.exec(info)![1]);
        const dedup = Number(/^deduplicated_size=(\d+)$/m.exec(info)![1]);
        assert.ok(dedup < size / 2, `most of the backup is shared (size ${size}, deduplicated ${dedup})`);
      } else {
        assert.equal(links, 1);
      }
      assert.notEqual(first, second);
      const copy = await restoreAndStart({
        backupDirectory: join(dir, 'home/main/base', second!),
        config,
        server: 'main',
      });
      restored.push(copy);
      const [accounts] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
      assert.equal(accounts!.n, '25000');
    });

    it('refuses a second backup while one runs (backup lock), with a clear error', async () => {
      const [runA, runB] = await Promise.all([barman('backup', 'main'), barman('backup', 'main')]);
      const codes = [runA.exitCode, runB.exitCode].sort();
      assert.deepEqual(codes, [0, 1]);
      assert.match(runA.stderr + runB.stderr, /ERROR: Another backup process is running/);
    });

    it('marks a backup FAILED with the reason when PostgreSQL is unreachable', async () => {
      const broken = writeConfig('broken.conf', {
        conninfo: 'host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2',
      });
      const run = await runBarman(['-c', broken, 'backup', 'main']);
      assert.equal(run.exitCode, 1);
      assert.match(
        run.stderr,
        /ERROR: Impossible to start the backup: PostgreSQL \(.*cannot connect to PostgreSQL \(host=127\.0\.0\.1 port=1.*Run 'barman check main' for details/,
      );
    });

    it('a first DONE backup keeps the WAL an older backup still WAITING_FOR_WALS needs', async () => {
      const infoOf = (id: string) => readFileSync(join(dir, 'home/main/base', id, 'backup.info'), 'utf8');
      const field = (info: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(info)![1]!;
      // No backup left: the next DONE one is the "first backup", which removes older WAL.
      const template = backupIds()
        .map(infoOf)
        .find((info) => /^status=(DONE|WAITING_FOR_WALS)$/m.test(info))!;
      for (const id of backupIds().reverse()) {
        const deleted = await barman('delete', 'main', id);
        assert.equal(deleted.exitCode, 0, deleted.stderr);
      }
      // A backup killed while it waited for its WAL, which has been archived since.
      const waiting = '20000101T000000';
      mkdirSync(join(dir, 'home/main/base', waiting));
      writeFileSync(
        join(dir, 'home/main/base', waiting, 'backup.info'),
        template.replace(/^status=.*$/m, 'status=WAITING_FOR_WALS'),
      );
      await chownTo(join(dir, 'home/main/base', waiting), 'postgres');
      const [begin, end] = [field(template, 'begin_wal'), field(template, 'end_wal')];
      const xlogNames = () =>
        readFileSync(join(dir, 'home/main/wals/xlog.db'), 'utf8')
          .split('\n')
          .map((line) => line.split('\t')[0]!);
      assert.ok(xlogNames().includes(begin) && xlogNames().includes(end));

      const run = await barman('backup', '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      assert.doesNotMatch(run.stdout, /This is the first backup/);
      assert.ok(xlogNames().includes(begin) && xlogNames().includes(end), 'its WAL is still archived');
      const cron = await barman('cron');
      assert.equal(cron.exitCode, 0, cron.stderr);
      assert.match(cron.stdout, new RegExp(`Backup ${waiting} of server main is now DONE`));
    });

    if (method === 'postgres') {
      it('marks a backup FAILED with the reason when pg_basebackup fails, and the next backup succeeds', async () => {
        // A pg_basebackup that reports the right version but fails to copy (Barman's own fixture trick).
        const fake = join(dir, 'fake-bin');
        mkdirSync(fake, { recursive: true });
        writeFileSync(
          join(fake, 'pg_basebackup'),
          '#!/bin/sh\nif [ "$1" = "--version" ]; then exec /usr/lib/postgresql/15/bin/pg_basebackup --version; fi\necho "pg_basebackup: error: simulated failure" >&2\nexit 1\n',
        );
        chmodSync(join(fake, 'pg_basebackup'), 0o755);
        const broken = writeConfig('fake.conf', { path_prefix: fake });
        const run = await runBarman(['-c', broken, 'backup', 'main']);
        assert.equal(run.exitCode, 1);
        assert.match(
          run.stderr,
          /ERROR: Backup failed copying files\.\nDETAILS: data transfer failure on directory '.*\/data'\npg_basebackup error:\n[\s\S]*simulated failure/,
        );
        const failed = backupIds().at(-1)!;
        const info = readFileSync(join(dir, 'home/main/base', failed, 'backup.info'), 'utf8');
        assert.match(info, /^status=FAILED$/m);
        assert.match(info, /^error=failure copying files \(data transfer failure on directory /m);
        const listing = await barman('list-backup', 'main');
        assert.match(listing.stdout, new RegExp(`^main ${failed} - FAILED$`, 'm'));
        const next = await barman('backup', '--wait', 'main');
        assert.equal(next.exitCode, 0, next.stderr);
      });
    }

    it("-f json: the document is the new backup's backup.info as Barman 3.4 prints it (to_dict)", async () => {
      const run = await barman('-f', 'json', 'backup', '--wait', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      const document = JSON.parse(run.stdout) as Record<string, unknown>;
      const id = backupIds().at(-1)!;
      // Barman 3.4's BackupInfo.to_dict keys, the messages, nothing else.
      const keys = Object.keys(document).filter((key) => !key.startsWith('_'));
      assert.deepEqual(keys.sort(), [...BARMAN_34_KEYS, 'backup_id'].sort());
      assert.ok(Array.isArray(document._INFO) && document._INFO.length > 0, 'the messages are kept');
      assert.equal(document.backup_id, id);
      assert.equal(document.status, 'DONE');
      assert.equal(document.server_name, 'main');
      assert.equal(document.mode, method === 'postgres' ? 'postgres' : 'rsync-concurrent');
      // Barman's JSON encoder writes times with ctime().
      assert.match(
        String(document.begin_time),
        /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
      );
      assert.equal(typeof document.size, 'number');
      const tablespaces = document.tablespaces as unknown[][];
      assert.deepEqual(
        tablespaces.map((t) => t[0]),
        ['tbs1'],
      );
      const info = readFileSync(join(dir, 'home/main/base', id, 'backup.info'), 'utf8');
      assert.equal(document.begin_wal, /^begin_wal=(.*)$/m.exec(info)![1]);

      // The unreachable server's configuration (written above): refused before any backup exists.
      const refused = await runBarman(['-c', join(dir, 'broken.conf'), '-f', 'json', 'backup', 'main']);
      assert.equal(refused.exitCode, 1);
      const failed = JSON.parse(refused.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(failed), ['_ERROR'], 'a refused backup has no backup.info to show');
      assert.match(String((failed._ERROR as string[])[0]), /Impossible to start the backup/);
    });
  });
}
