/**
 * Block-level incremental backups on an s3:// basebackups_directory (s3rver on 127.0.0.1) with
 * PostgreSQL 17 and 18: a full backup, then two incrementals streamed as barman-cloud tar archives
 * (UPLOAD_MANIFEST reads the parent's backup_manifest from the bucket), with a table truncated,
 * one dropped, one created and rows updated between them, and a table in a tablespace. The chain
 * is recovered from the bucket — to its end and to a time after the last incremental — and
 * PostgreSQL started on each result has exactly the rows of the source at that point. A chain
 * whose middle backup lost its archives, or all its objects, is refused naming that backup
 * before the destination is created. keep refuses an incremental backup, and deleting the middle
 * backup deletes the newest one too, in the bucket as in a directory.
 */
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseBackupInfo } from '../../src/catalog/backup-info.js';
import { readTar } from '../../src/transfer/tar-reader.js';
import type { PostgresServer, S3Server } from '../harness/index.js';
import {
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  switchWalAndWaitArchived,
  writeBarmanConfig,
  cloudWalArchiveCommand,
} from '../harness/index.js';

const STATE_SQL =
  "SELECT string_agg(name || '=' || value, ',' ORDER BY name) AS state FROM (" +
  "SELECT 'trunc' AS name, count(*)::text || ':' || coalesce(sum(id), 0)::text AS value FROM t_trunc UNION ALL " +
  "SELECT 'big', count(*)::text || ':' || sum(v)::text FROM big UNION ALL " +
  "SELECT 'tablespace', count(*)::text || ':' || sum(id)::text FROM t_ts UNION ALL " +
  "SELECT 'created', (SELECT count(*)::text FROM pg_class WHERE relname = 't_new') UNION ALL " +
  "SELECT 'dropped', count(*)::text FROM pg_class WHERE relname = 't_drop') AS facts";

for (const version of [17, 18] as const)
  describe(
    `barman backup --incremental and recover on s3:// (PostgreSQL ${version})`,
    { concurrency: 1 },
    () => {
      const BUCKET = `incremental-cloud-${version}`;
      let s3: S3Server;
      let pg: PostgresServer;
      let dir: string;
      let config: string;
      const ids: string[] = [];
      const started: PostgresServer[] = [];
      const barman = (...args: string[]) =>
        runBarman(['-c', config, ...args], {
          user: 'postgres',
          env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
          timeoutMs: 300_000,
        });
      const baseDir = () => join(s3.dataDir, BUCKET, 'barman', 'main', 'base');
      const objectsOf = (id: string) =>
        readdirSync(join(baseDir(), id))
          .filter((name) => name.endsWith('._S3rver_object'))
          .map((name) => name.replace(/\._S3rver_object$/, ''))
          .sort();
      const info = (id: string) =>
        parseBackupInfo(
          readFileSync(join(baseDir(), id, 'backup.info._S3rver_object'), 'utf8'),
          `${id}/backup.info`,
        );
      /** Member name → size, of every part of a backup's data archive. */
      const tarMembers = async (id: string) => {
        const members = new Map<string, number>();
        for (const name of readdirSync(join(baseDir(), id)).filter((entry) =>
          /^data(_\d+)?\.tar\._S3rver_object$/.test(entry),
        ))
          await readTar(createReadStream(join(baseDir(), id, name)), async (member, read) => {
            members.set(member.name.replace(/^\.\//, ''), member.size);
            await read(() => Promise.resolve());
          });
        return members;
      };
      const state = async (server: PostgresServer) =>
        (await server.query<{ state: string }>(STATE_SQL))[0]!.state;
      const newestId = async () => {
        const list = await barman('list-backup', 'main');
        assert.equal(list.exitCode, 0, list.stderr);
        return /^main (\d{8}T\d{6})/m.exec(list.stdout)![1]!;
      };
      const recover = (id: string, destination: string, ...extra: string[]) =>
        barman('recover', 'main', id, destination, '--tablespace', `tbs1:${destination}-tbs`, ...extra);

      before(async () => {
        s3 = await startS3Server({ buckets: [BUCKET] });
        dir = await makeTempDir(`incremental-cloud-${version}`, { owner: 'postgres' });
        for (const sub of ['home', 'log', 'tbs', 'recovered']) {
          mkdirSync(join(dir, sub), { recursive: true });
          await chownTo(join(dir, sub), 'postgres');
        }
        config = join(dir, 'barman.conf');
        pg = await startPostgres({
          version,
          settings: { summarize_wal: 'on' },
          archiveCommand: cloudWalArchiveCommand(s3, config),
        });
        writeBarmanConfig({
          dir,
          mode: 0o644,
          global: {
            barman_user: 'postgres',
            aws_endpoint_url: s3.endpoint,
            aws_region: 'us-east-1',
            compression: 'gzip',
          },
          servers: {
            main: {
              conninfo: pg.conninfo,
              streaming_conninfo: pg.conninfo,
              backup_method: 'postgres',
              immediate_checkpoint: true,
              archiver: true,
              cloud_upload_max_archive_size: '8M',
              basebackups_directory: `s3://${BUCKET}/barman/main/base`,
              wals_directory: `s3://${BUCKET}/barman/main/wals`,
            },
          },
        });
        await pg.statements(
          `CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs';` +
            'CREATE TABLE t_ts (id int) TABLESPACE tbs1; INSERT INTO t_ts SELECT generate_series(1, 5000);' +
            'CREATE TABLE t_trunc (id int); INSERT INTO t_trunc SELECT generate_series(1, 2000);' +
            'CREATE TABLE t_drop (id int); INSERT INTO t_drop SELECT generate_series(1, 2000);' +
            "CREATE TABLE big (id int primary key, v int, pad text); INSERT INTO big SELECT i, i, repeat('x', 100) FROM generate_series(1, 200000) i;",
        );
        await switchWalAndWaitArchived(pg);
      });

      after(async () => {
        for (const server of started) await server.stop();
        await pg?.stop();
        await s3?.stop();
      });

      it('takes a full backup, then two incrementals streamed to the bucket as tar archives', async () => {
        const full = await barman('backup', '--wait', 'main');
        assert.equal(full.exitCode, 0, full.stdout + full.stderr);
        ids.push(await newestId());

        await pg.statements(
          'TRUNCATE t_trunc; INSERT INTO t_trunc SELECT generate_series(1, 10);' +
            'DROP TABLE t_drop; CREATE TABLE t_new (id int); INSERT INTO t_new SELECT generate_series(1, 300);' +
            'UPDATE big SET v = v + 1 WHERE id % 100 = 0; INSERT INTO t_ts SELECT generate_series(5001, 5100);',
        );
        const first = await barman('backup', '--incremental', 'latest-full', '--wait', 'main');
        assert.equal(first.exitCode, 0, first.stdout + first.stderr);
        assert.match(first.stdout, /BASE_BACKUP \(INCREMENTAL, parent \d{8}T\d{6}, tar archives\)/);
        ids.push(await newestId());

        await pg.statements(
          'UPDATE big SET v = v + 1 WHERE id % 1000 = 0; DELETE FROM big WHERE id > 199000;' +
            'INSERT INTO t_trunc SELECT generate_series(11, 20); INSERT INTO t_new SELECT generate_series(301, 400);',
        );
        const second = await barman('backup', '--incremental', ids[1]!, '--wait', 'main');
        assert.equal(second.exitCode, 0, second.stdout + second.stderr);
        ids.push(await newestId());
        assert.equal(new Set(ids).size, 3);

        for (const [index, id] of ids.entries()) {
          const objects = objectsOf(id);
          for (const name of ['backup.info', 'backup_manifest', 'data.tar'])
            assert.ok(objects.includes(name), `${id}: ${objects.join(' ')}`);
          const backup = info(id);
          assert.equal(backup.status, 'DONE');
          assert.equal(backup.parent_backup_id ?? null, index === 0 ? null : ids[index - 1]);
          if (index > 0) {
            assert.equal(backup.summarize_wal, 'on');
            assert.ok(backup.cluster_size !== null && backup.cluster_size > 0);
          }
          assert.deepEqual(backup.children_backup_ids ?? null, index === 2 ? null : [ids[index + 1]]);
        }
        // What the server sent: INCREMENTAL files for relations it had summaries for, whole files
        // for the relation created after the full backup.
        const [relation] = await pg.query<{ path: string }>("SELECT pg_relation_filepath('t_new') AS path");
        const members = await tarMembers(ids[1]!);
        const newRelation = relation!.path.replace(/\/(\d+)$/, '/INCREMENTAL.$1');
        assert.ok(members.has(relation!.path) && !members.has(newRelation), 't_new is stored whole');
        const incremental = [...members.keys()].filter((name) => /\/INCREMENTAL\.\d+$/.test(name));
        assert.ok(incremental.length > 100, `INCREMENTAL files in ${ids[1]}: ${incremental.length}`);
        const show = await barman('show-backup', 'main', ids[2]!);
        assert.equal(show.exitCode, 0, show.stderr);
        assert.match(show.stdout, new RegExp(`Parent Backup\\s+: ${ids[1]}`));
      });

      let endState = '';
      let markState = '';
      let mark = '';

      it('recovers the chain from the bucket to its end; PostgreSQL starts with every row', async () => {
        endState = await state(pg);
        await pg.statements(
          'INSERT INTO t_trunc SELECT generate_series(21, 30); UPDATE big SET v = 0 WHERE id = 7;',
        );
        markState = await state(pg);
        [{ t: mark }] = (await pg.query<{ t: string }>(
          "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' AS t",
        )) as [{ t: string }];
        await new Promise((resolve) => setTimeout(resolve, 1200));
        await pg.statements('TRUNCATE big; DROP TABLE t_new;');
        await switchWalAndWaitArchived(pg);

        const destination = join(dir, 'recovered', 'end');
        const run = await recover(ids[2]!, destination, '--target-immediate', '--target-action', 'promote');
        assert.equal(run.exitCode, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /Combining the incremental chain/);
        const copy = await startRecoveredCopy(destination, { version });
        started.push(copy);
        assert.equal(await state(copy), endState);
        await copy.stop();
      });

      it('recovers the chain to a time after its last incremental, with exactly the rows of then', async () => {
        const destination = join(dir, 'recovered', 'pitr');
        const run = await recover(ids[2]!, destination, '--target-time', mark, '--target-action', 'promote');
        assert.equal(run.exitCode, 0, run.stdout + run.stderr);
        const copy = await startRecoveredCopy(destination, { version });
        started.push(copy);
        assert.equal(await state(copy), markState);
        await copy.stop();
      });

      it('refuses a chain whose middle backup lost its archives, naming it, before writing anything', async () => {
        const middle = join(baseDir(), ids[1]!);
        const aside = join(dir, 'aside');
        mkdirSync(aside);
        const archives = readdirSync(middle).filter((name) => name.startsWith('data'));
        assert.ok(archives.length > 0);
        for (const name of archives) renameSync(join(middle, name), join(aside, name));
        const destination = join(dir, 'recovered', 'broken');
        const run = await recover(ids[2]!, destination);
        assert.equal(run.exitCode, 1, run.stdout + run.stderr);
        assert.match(run.stderr, new RegExp(`backup ${ids[1]} of its chain has no data\\.tar\\*`));
        assert.doesNotMatch(run.stderr, /\n\s+at /);
        assert.ok(!existsSync(destination), 'nothing is written');
        for (const name of archives) renameSync(join(aside, name), join(middle, name));

        // Every object of the middle backup removed by hand: the catalogue no longer has it.
        renameSync(middle, join(aside, ids[1]!));
        const gone = await recover(ids[2]!, destination);
        assert.equal(gone.exitCode, 1, gone.stdout + gone.stderr);
        assert.match(gone.stderr, new RegExp(`backup '${ids[1]}', the parent of '${ids[2]}', is missing`));
        assert.ok(!existsSync(destination), 'nothing is written');
        renameSync(join(aside, ids[1]!), middle);
      });

      it('follows the chain rules in the bucket: keep only on a full backup, delete takes the descendants', async () => {
        const keep = await barman('keep', 'main', ids[1]!, '--target', 'full');
        assert.equal(keep.exitCode, 1, keep.stdout + keep.stderr);
        assert.doesNotMatch(keep.stderr, /\n\s+at /);
        const deleted = await barman('delete', 'main', ids[1]!);
        assert.equal(deleted.exitCode, 0, deleted.stdout + deleted.stderr);
        const list = await barman('list-backup', 'main');
        assert.match(list.stdout, new RegExp(`^main ${ids[0]} `, 'm'));
        assert.doesNotMatch(list.stdout, new RegExp(`${ids[1]}|${ids[2]}`));
        for (const id of [ids[1]!, ids[2]!])
          assert.ok(
            !existsSync(join(baseDir(), id)) || objectsOf(id).length === 0,
            `${id}: ${existsSync(join(baseDir(), id)) ? objectsOf(id).join(' ') : ''}`,
          );
        assert.deepEqual(info(ids[0]!).children_backup_ids ?? [], []);
      });
    },
  );
