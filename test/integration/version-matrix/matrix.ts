/**
 * The supported-version matrix (issue 13, item 4): one PostgreSQL cluster of the given major
 * version, backed up by every backup method barman-ts offers — `rsync` over the harness sshd,
 * `local-rsync`, `postgres` and `local-to-cloud` into s3rver — each a server of its own in one
 * barman.conf, all fed by one archive_command (a copy into each incoming/, then cloud-wal-archive). Each
 * backup is recovered by `barman recover` to the end of the archive, its tablespace relocated,
 * and PostgreSQL of the same version started on it must read back exactly the source's rows.
 * A WAL segment of the archive is read with the archiver's header parser, which must name the
 * version. Tiny database and one cluster for all methods: the matrix is about versions, not sizes.
 *
 * `postgres` uses what the product chooses: Debian 12's pg_basebackup 15 on PostgreSQL 15, and
 * barman-ts's own BASE_BACKUP client on 16, 17 and 18 (pg_basebackup 15 cannot serve them); on
 * 15 a second backup is taken with no pg_basebackup on PATH, so the native client is proven there too.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseWalHeader, WAL_HEADER_LENGTH } from '../../../src/wal/wal-header.js';
import type {
  IniSection,
  PostgresServer,
  PostgresVersion,
  S3Server,
  SshServer,
} from '../../harness/index.js';
import {
  BARMAN_BIN,
  chownTo,
  makeTempDir,
  runBarman,
  startPostgres,
  startRecoveredCopy,
  startS3Server,
  startSshd,
  switchWalAndWaitArchived,
  writeBarmanConfig,
} from '../../harness/index.js';

const METHODS = ['rsync', 'local-rsync', 'postgres', 'local-to-cloud'] as const;
type Method = (typeof METHODS)[number];
/** The barman server of each method (its name in barman.conf and the catalogue). */
const SERVER: Record<Method, string> = {
  rsync: 'rsync',
  'local-rsync': 'local',
  postgres: 'native',
  'local-to-cloud': 'cloud',
};
const BUCKET = 'matrix';
const STATE_SQL =
  "SELECT count(*)::text || ':' || sum(id)::text || ':' || (SELECT count(*) FROM spread)::text AS state FROM items";

interface TakenBackup {
  label: string;
  server: string;
  id: string;
}

export function versionMatrix(version: PostgresVersion): void {
  describe(
    `PostgreSQL ${version}: every backup method backs up, recovers and starts`,
    { concurrency: 1 },
    () => {
      let pg: PostgresServer;
      let sshd: SshServer;
      let s3: S3Server;
      let dir: string;
      let config: string;
      let finalState: string;
      const backups: TakenBackup[] = [];
      const started: PostgresServer[] = [];
      const barman = (args: string[], env: Record<string, string> = {}) =>
        runBarman(['-c', config, ...args], { env: { ...s3.env, ...env }, timeoutMs: 300_000 });

      const serverSection = (method: Method): IniSection => {
        const common = { conninfo: pg.conninfo, immediate_checkpoint: true, archiver: true };
        switch (method) {
          case 'rsync':
            return {
              ...common,
              backup_method: 'rsync',
              ssh_command: sshd.sshCommand('postgres', 'postgres'),
            };
          case 'local-rsync':
            return { ...common, backup_method: 'local-rsync' };
          case 'postgres':
            return { ...common, backup_method: 'postgres', streaming_conninfo: pg.conninfo };
          case 'local-to-cloud':
            return {
              ...common,
              backup_method: 'local-to-cloud',
              basebackups_directory: `s3://${BUCKET}/barman/cloud/base`,
              wals_directory: `s3://${BUCKET}/barman/cloud/wals`,
            };
        }
      };
      /** barman.conf, read by archive_command (as postgres) too; the servers need the cluster's port. */
      const writeConfig = () =>
        writeBarmanConfig({
          dir,
          mode: 0o644,
          global: {
            barman_user: 'postgres',
            log_file: null,
            aws_endpoint_url: s3.endpoint,
            aws_region: s3.region,
            parallel_jobs: 2,
          },
          servers: Object.fromEntries(METHODS.map((method) => [SERVER[method], serverSection(method)])),
        });

      async function backup(method: Method, label: string, env: Record<string, string> = {}): Promise<void> {
        const server = SERVER[method];
        const run = await barman(['backup', '--wait', server], env);
        assert.equal(run.exitCode, 0, `${label}: ${run.stdout}\n${run.stderr}`);
        const id = /^Starting backup using .* method for server \S+ in \S+\/(\d{8}T\d{6})$/m.exec(run.stdout);
        assert.ok(id, run.stdout);
        if (method === 'postgres')
          assert.match(
            run.stdout,
            label.includes('native') || version !== 15 ? /via BASE_BACKUP/ : /via pg_basebackup/,
            run.stdout,
          );
        backups.push({ label, server, id: id[1]! });
        // Rows written between backups: each recovery must replay the WAL after its own backup.
        await pg.query('INSERT INTO items SELECT generate_series($1::int, $1::int + 99)', [
          backups.length * 1000,
        ]);
      }

      before(async () => {
        dir = await makeTempDir(`matrix-pg${version}`, { owner: 'postgres' });
        config = join(dir, 'barman.conf');
        for (const sub of ['home', 'tbs', 'recovered']) {
          mkdirSync(join(dir, sub));
          await chownTo(join(dir, sub), 'postgres');
        }
        s3 = await startS3Server({ buckets: [BUCKET] });
        sshd = await startSshd({ users: ['postgres'] });
        // Into each posix server's incoming/ as Barman's documented cp recipe does (dot-temp, then
        // rename; barman archive-wal files it): one node start per segment instead of four. A script,
        // because PostgreSQL 15 cuts archive_command at 1023 characters.
        const incoming = ['rsync', 'local', 'native'].map((server) => join(dir, 'home', server, 'incoming'));
        for (const path of incoming) {
          mkdirSync(path, { recursive: true });
          await chownTo(join(path, '..'), 'postgres');
          await chownTo(path, 'postgres');
        }
        const script = join(dir, 'archive.sh');
        writeFileSync(
          script,
          [
            '#!/bin/sh',
            'set -e',
            ...incoming.map((path) => `cp "$1" ${path}/."$2".tmp && mv ${path}/."$2".tmp ${path}/"$2"`),
            `export AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`,
            `exec ${process.execPath} ${BARMAN_BIN} -c ${config} -q cloud-wal-archive cloud "$1"`,
            '',
          ].join('\n'),
          { mode: 0o755 },
        );
        const archiveCommand = `${script} %p %f`;
        pg = await startPostgres({ version, archiveCommand });
        writeConfig();
        await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${join(dir, 'tbs')}'`);
        await pg.query('CREATE TABLE spread (id int) TABLESPACE tbs1');
        await pg.query('INSERT INTO spread SELECT generate_series(1, 5000)');
        await pg.query('CREATE TABLE items (id int PRIMARY KEY)');
        await pg.query('INSERT INTO items SELECT generate_series(1, 500)');
        // The cloud server checks that its WAL archive holds WAL before its first backup.
        await switchWalAndWaitArchived(pg);
      });

      after(async () => {
        for (const server of started) await server.stop();
        await pg?.stop();
        await sshd?.stop();
        await s3?.stop();
      });

      it(`backs up PostgreSQL ${version} with ${METHODS.join(', ')}`, async () => {
        for (const method of METHODS) await backup(method, method);
        // On 15, pg_basebackup 15 took the postgres backup; without it on PATH the native client does.
        if (version === 15) await backup('postgres', 'postgres (native client)', { PATH: '/nonexistent' });
        finalState = (await pg.query<{ state: string }>(STATE_SQL))[0]!.state;
        await switchWalAndWaitArchived(pg);
        for (const server of ['rsync', 'local', 'native']) {
          const archived = await barman(['archive-wal', server]);
          assert.equal(archived.exitCode, 0, archived.stderr);
        }
      });

      it(`check passes for every method on PostgreSQL ${version}`, async () => {
        for (const method of METHODS) {
          const run = await barman(['check', SERVER[method]]);
          assert.equal(run.exitCode, 0, `${method}: ${run.stdout}\n${run.stderr}`);
          assert.doesNotMatch(run.stdout, /FAILED/, `${method}: ${run.stdout}`);
        }
      });

      it(`backup --incremental on PostgreSQL ${version} is refused for what the server lacks`, async () => {
        const full = backups.find((taken) => taken.server === 'native')!;
        const run = await barman(['backup', '--incremental', full.id, 'native']);
        assert.equal(run.exitCode, 1, run.stdout);
        // 15 and 16 have no block-level incremental backup; 17 and 18 run here without summarize_wal.
        assert.match(
          run.stderr,
          version < 17
            ? /Postgres version 17 or greater is required for incremental backups/
            : /'summarize_wal' option has to be enabled in the Postgres server/,
        );
      });

      it(`reads PostgreSQL ${version}'s WAL page magic as version ${version}`, () => {
        const wals = join(dir, 'home', 'local', 'wals');
        const segment = readdirSync(wals, { recursive: true, encoding: 'utf8' }).find((path) =>
          /(^|\/)[0-9A-F]{24}$/.test(path),
        );
        assert.ok(segment, `no WAL segment under ${wals}`);
        const header = parseWalHeader(readFileSync(join(wals, segment)).subarray(0, WAL_HEADER_LENGTH));
        if ('invalid' in header) assert.fail(`${segment}: ${header.invalid}`);
        assert.equal(header.majorVersion, String(version));
      });

      it(`recovers each backup and PostgreSQL ${version} starts on it with every row`, async () => {
        assert.equal(backups.length, version === 15 ? 5 : 4);
        // Side by side: each recovery and its server are independent of the others.
        await Promise.all(
          backups.map(async (taken, index) => {
            const destination = join(dir, 'recovered', String(index));
            const run = await barman([
              'recover',
              taken.server,
              taken.id,
              destination,
              '--tablespace',
              `tbs1:${destination}-tbs`,
            ]);
            assert.equal(run.exitCode, 0, `${taken.label}: ${run.stdout}\n${run.stderr}`);
            const copy = await startRecoveredCopy(destination, { version });
            started.push(copy);
            const [row] = await copy.query<{ v: string }>('SELECT current_setting($1) AS v', [
              'server_version_num',
            ]);
            assert.equal(Math.floor(Number(row!.v) / 10000), version, taken.label);
            const [state] = await copy.query<{ state: string }>(STATE_SQL);
            assert.equal(state!.state, finalState, `${taken.label}: rows read back`);
            await copy.stop();
          }),
        );
      });
    },
  );
}
