/**
 * keep, delete, list-files and cron (retention, WAITING_FOR_WALS completion) on a copy of the
 * catalogue written by Debian's Barman 3.4 (test/fixtures/barman-3.4).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IniSection } from '../harness/index.js';
import { fixtureBackupId, makeTempDir, runBarman, writeBarmanConfig } from '../harness/index.js';
import { tryAcquireLock } from '../../src/locks/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/', import.meta.url));
const id = (role: string) => fixtureBackupId('pg', role);
const KEPT = id('done-tablespace-keep-standalone');
const FAILED = id('failed');
const NAMED = id('done-named');

describe('catalogue commands on a Barman 3.4 catalogue', { concurrency: 1 }, () => {
  let dir: string;
  let config: string;

  const writeConfig = (extra: IniSection = {}) =>
    writeBarmanConfig({
      dir,
      global: { compression: 'gzip', ...extra },
      servers: {
        pg: {
          conninfo: 'host=/tmp user=postgres dbname=postgres',
          backup_method: 'postgres',
          streaming_archiver: 'on',
          slot_name: 'barman_fixtures',
        },
      },
    });
  const barman = (...args: string[]) => runBarman(['-c', config, ...args]);
  const xlogNames = () =>
    readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('\t')[0]);

  beforeEach(async () => {
    dir = await makeTempDir('catalog-commands');
    cpSync(join(FIXTURES, 'catalog'), join(dir, 'home'), { recursive: true });
    config = writeConfig();
  });

  it('keep --status, --release and --target, and refuses to keep a FAILED backup', async () => {
    assert.equal((await barman('keep', 'pg', KEPT, '--status')).stdout, 'Server pg:\n\tKeep: standalone\n');
    assert.equal((await barman('keep', 'pg', NAMED, '--status')).stdout, 'Server pg:\n\tKeep: nokeep\n');
    assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
    assert.ok(!existsSync(join(dir, 'home/pg/base', KEPT, 'annotations')));
    assert.equal((await barman('keep', 'pg', NAMED, '--target', 'full')).exitCode, 0);
    assert.equal(readFileSync(join(dir, 'home/pg/base', NAMED, 'annotations/keep'), 'utf8'), 'full');
    const failed = await barman('keep', 'pg', FAILED, '--target', 'full');
    assert.equal(failed.exitCode, 1);
    assert.match(failed.stderr, /Only backups with status DONE can be kept/);
    const none = await barman('keep', 'pg', NAMED);
    assert.equal(none.exitCode, 2);
    assert.match(none.stderr, /one of the arguments -r\/--release -s\/--status --target is required/);
  });

  it('refuses to delete a kept backup, and one that minimum_redundancy protects', async () => {
    const kept = await barman('delete', 'pg', KEPT);
    assert.equal(kept.exitCode, 1);
    assert.match(
      kept.stderr,
      new RegExp(`WARNING: Skipping delete of backup ${KEPT} for server pg as it has a current keep request`),
    );
    assert.ok(existsSync(join(dir, 'home/pg/base', KEPT, 'backup.info')));
    writeConfig({ minimum_redundancy: 2 });
    const protectedBackup = await barman('delete', 'pg', NAMED);
    assert.equal(protectedBackup.exitCode, 1);
    assert.match(
      protectedBackup.stderr,
      /due to minimum redundancy requirements \(minimum redundancy = 2, current redundancy = 2\)/,
    );
  });

  it('deletes the oldest backup with the WAL files only it needed', async () => {
    assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
    const before = xlogNames();
    const run = await barman('delete', 'pg', 'oldest');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(
        `^Deleting backup ${KEPT} for server pg\\nDelete associated WAL segments:\\n(\\t0{7}1\\w{16}\\n)+Deleted backup ${KEPT} \\(start time: .+, elapsed time: .+\\)\\n$`,
      ),
    );
    const removed = [...run.stdout.matchAll(/^\t(\w{24})$/gm)].map((match) => match[1]!);
    const namedInfo = readFileSync(join(dir, 'home/pg/base', NAMED, 'backup.info'), 'utf8');
    const nextBegin = /^begin_wal=(\w+)$/m.exec(namedInfo)![1]!;
    assert.ok(
      removed.length > 0 && removed.every((name) => name < nextBegin),
      'only WAL older than the next backup',
    );
    assert.deepEqual(
      xlogNames(),
      before.filter((name) => !removed.includes(name!)),
    );
    assert.ok(!existsSync(join(dir, 'home/pg/base', KEPT)));
    const listing = await barman('list-backup', '--minimal', 'pg');
    assert.equal(listing.stdout, `${NAMED}\n${FAILED}\n`);
  });

  it('a delete killed while it removes WAL: the backup is no longer listed, and cron finishes the removal', async () => {
    assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
    const walPath = (name: string | undefined) => join(dir, 'home/pg/wals', name!.slice(0, 16), name!);
    // The fixture has xlog.db only: give it its files, and an xlog.db that describes them.
    for (const name of xlogNames()) {
      mkdirSync(dirname(walPath(name)), { recursive: true });
      writeFileSync(walPath(name), `WAL ${name}`);
    }
    assert.equal((await barman('rebuild-xlogdb', 'pg')).exitCode, 0);
    const before = xlogNames();
    // The hook kills barman right after xlog.db was rewritten, before the first file goes.
    writeConfig({ pre_wal_delete_script: 'kill -9 $PPID' });
    const killed = await barman('delete', 'pg', 'oldest');
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const listing = await barman('list-backup', '--minimal', 'pg');
    assert.equal(listing.stdout, `${NAMED}\n${FAILED}\n`, 'a backup whose WAL is going is not listed');
    const removed = before.filter((name) => !xlogNames().includes(name));
    assert.ok(removed.length > 0, 'the WAL files only that backup needed are out of xlog.db');
    assert.ok(
      removed.every((name) => existsSync(walPath(name))),
      'and still on disk',
    );

    writeConfig();
    const cron = await barman('cron');
    assert.equal(cron.exitCode, 0, cron.stderr);
    assert.match(
      cron.stdout,
      new RegExp(`^Finished an interrupted removal of ${removed.length} WAL file\\(s\\) of server pg$`, 'm'),
    );
    assert.ok(
      removed.every((name) => !existsSync(walPath(name))),
      'cron deleted the files',
    );
    const catalogued = readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8');
    const rebuild = await barman('rebuild-xlogdb', 'pg');
    assert.equal(rebuild.exitCode, 0, rebuild.stderr);
    const sorted = (text: string) => text.trim().split('\n').sort();
    assert.deepEqual(sorted(catalogued), sorted(readFileSync(join(dir, 'home/pg/wals/xlog.db'), 'utf8')));
    assert.ok(!existsSync(join(dir, 'home/.pg-wal-removal.journal')));
  });

  it('cron leaves a WAITING_FOR_WALS backup alone while a deletion holds its lock', async () => {
    const waitingFile = join(dir, 'home/pg/base', NAMED, 'backup.info');
    writeFileSync(
      waitingFile,
      readFileSync(waitingFile, 'utf8').replace('status=DONE', 'status=WAITING_FOR_WALS'),
    );
    const deletion = tryAcquireLock(join(dir, 'home', `.pg-${NAMED}.lock`))!;
    try {
      const run = await barman('cron');
      assert.equal(run.exitCode, 0, run.stderr);
      assert.doesNotMatch(run.stdout, /is now DONE/);
      assert.match(readFileSync(waitingFile, 'utf8'), /^status=WAITING_FOR_WALS$/m);
    } finally {
      deletion.release();
    }
    const run = await barman('cron');
    assert.match(run.stdout, new RegExp(`Backup ${NAMED} of server pg is now DONE`));
    assert.match(readFileSync(waitingFile, 'utf8'), /^status=DONE$/m);
  });

  it('list-files lists the data files and the WAL files a backup needs', async () => {
    const standalone = (await barman('list-files', 'pg', KEPT)).stdout.trim().split('\n');
    assert.ok(standalone.includes(join(dir, 'home/pg/base', KEPT, 'backup.info')));
    const info = readFileSync(join(dir, 'home/pg/base', KEPT, 'backup.info'), 'utf8');
    const beginWal = /^begin_wal=(\w+)$/m.exec(info)![1]!;
    assert.ok(standalone.includes(join(dir, 'home/pg/wals', beginWal.slice(0, 16), beginWal)));
    const wal = (await barman('list-files', '--target', 'wal', 'pg', KEPT)).stdout.trim().split('\n');
    assert.ok(wal.every((path) => path.startsWith(join(dir, 'home/pg/wals/'))));
    assert.ok(wal.length >= 1);
  });

  it('cron applies the retention policy and completes WAITING_FOR_WALS backups', async () => {
    writeConfig({ retention_policy: 'REDUNDANCY 1' });
    assert.equal((await barman('keep', 'pg', KEPT, '--release')).exitCode, 0);
    const waitingFile = join(dir, 'home/pg/base', NAMED, 'backup.info');
    writeFileSync(
      waitingFile,
      readFileSync(waitingFile, 'utf8').replace('status=DONE', 'status=WAITING_FOR_WALS'),
    );
    const run = await barman('cron');
    assert.equal(run.exitCode, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Backup ${NAMED} of server pg is now DONE`));
    assert.match(
      run.stdout,
      new RegExp(
        `Enforcing retention policy: removing backup ${KEPT} for server pg\\nDeleting backup ${KEPT}`,
      ),
    );
    assert.match(readFileSync(waitingFile, 'utf8'), /^status=DONE$/m);
    assert.ok(!existsSync(join(dir, 'home/pg/base', KEPT)));
    // A second cron finds nothing to do.
    const again = await barman('cron');
    assert.equal(again.exitCode, 0);
    assert.doesNotMatch(again.stdout, /Enforcing retention policy/);
  });

  it('reads the Barman 3.13+ layout: meta/<id>-backup.info, meta/<id>-keep, <server>-xlog.db with 5 columns', async () => {
    const home = join(dir, 'home317');
    mkdirSync(join(home, 'pg/meta'), { recursive: true });
    mkdirSync(join(home, 'pg/wals'), { recursive: true });
    mkdirSync(join(home, 'pg/base/20261121T050131/data'), { recursive: true });
    writeFileSync(
      join(home, 'pg/meta/20261121T050131-backup.info'),
      readFileSync(join(FIXTURES, 'handmade/v3.17-backup.info')),
    );
    writeFileSync(join(home, 'pg/meta/20261121T050131-keep'), 'full');
    writeFileSync(
      join(home, 'pg/wals/pg-xlog.db'),
      '00000001000000000000001C\t16463\t1795237094.0380127\tgzip\tNone\n00000001000000000000001D\t16998\t1795237331.5940237\tgzip\tNone\n',
    );
    writeConfig({ barman_home: home });
    const run = await barman('list-backup', 'pg');
    assert.equal(run.exitCode, 0, run.stderr);
    // A catalogue only Barman 3.13+ reads is listed as Barman 3.13 lists it: type letter, no tablespaces.
    assert.match(
      run.stdout,
      /^pg 20261121T050131 'v317' - F - Sat Nov 21 05:01:35 2026 - Size: .* - WAL Size: 16\.6 KiB\n$/,
    );
    assert.equal((await barman('keep', 'pg', 'latest', '--status')).stdout, 'Server pg:\n\tKeep: full\n');
  });
});
