/**
 * tablespace_bandwidth_limit and parallel_jobs_start_batch_* with real rsync over the harness's
 * sshd. A wrapper in path_prefix records when each rsync process starts and ends and its
 * arguments; copy durations are also read from the progress lines of the log. Bounds are loose
 * (load only makes copies slower and starts later) yet cannot hold when the option is ignored:
 * the limited tablespace takes seconds where an unlimited copy takes a fraction of one, and the
 * parallel workers would all start within milliseconds.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PostgresServer, SshServer } from '../harness/index.js';
import {
  chownTo,
  ensureOsUser,
  makeTempDir,
  runBarman,
  startPostgres,
  startSshd,
  sumTrees,
  writeBarmanConfig,
} from '../harness/index.js';

const TABLESPACE_KBPS = 512;

interface RsyncRun {
  start: number;
  end: number;
  args: string;
}

describe(
  'copy options over a real sshd: tablespace_bandwidth_limit, parallel_jobs_start_batch_*',
  { concurrency: 1 },
  () => {
    let pg: PostgresServer;
    let sshd: SshServer;
    let dir: string;
    let config: string;
    const rsyncLog = () => join(dir, 'rsync.log');
    const barman = (...args: string[]) => runBarman(['-c', config, ...args], { timeoutMs: 300_000 });

    /** The rsync runs logged since `offset` (bytes of the log), data copies only. */
    function rsyncRuns(offset: number): RsyncRun[] {
      return readFileSync(rsyncLog(), 'utf8')
        .slice(offset)
        .split('\n')
        .filter((line) => line.includes('--files-from='))
        .map((line) => {
          const [start, end, ...args] = line.split(' ');
          return { start: Number(start), end: Number(end), args: args.join(' ') };
        })
        .sort((a, b) => a.start - b.start);
    }
    const logSize = () => readFileSync(rsyncLog(), 'utf8').length;

    /** Seconds between the first and the final progress line of `label` in the log since `offset`. */
    function copySeconds(offset: number, label: string): number {
      const lines = readFileSync(join(dir, 'log/barman.log'), 'utf8')
        .slice(offset)
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { time: string; msg: string })
        .filter((line) => line.msg.startsWith(`${label}: `));
      assert.ok(lines.length >= 2, `progress lines of ${label}`);
      const final = lines.find((line) => / in \S+$/.test(line.msg))!;
      return (Date.parse(final.time) - Date.parse(lines[0]!.time)) / 1000;
    }
    const barmanLogSize = () => {
      try {
        return readFileSync(join(dir, 'log/barman.log'), 'utf8').length;
      } catch {
        return 0;
      }
    };
    const backupIds = () => readdirSync(join(dir, 'home/main/base')).sort();

    before(async () => {
      await ensureOsUser('barman');
      dir = await makeTempDir('copy-options', { owner: 'barman' });
      config = join(dir, 'barman.conf');
      for (const sub of ['home/main/incoming', 'bin', 'log', 'tbs', 'restore'])
        mkdirSync(join(dir, sub), { recursive: true });
      for (const sub of ['home', 'home/main', 'home/main/incoming', 'bin', 'log', 'restore'])
        await chownTo(join(dir, sub), 'barman');
      chmodSync(join(dir, 'home/main/incoming'), 0o777);
      await chownTo(join(dir, 'tbs'), 'postgres');
      writeFileSync(rsyncLog(), '');
      await chownTo(rsyncLog(), 'barman');
      // The rsync barman-ts finds first in path_prefix: the real one, timed.
      writeFileSync(
        join(dir, 'bin/rsync'),
        `#!/bin/sh
start=$(date +%s.%N)
/usr/bin/rsync "$@"
rc=$?
echo "$start $(date +%s.%N) $*" >> ${rsyncLog()}
exit $rc
`,
      );
      chmodSync(join(dir, 'bin/rsync'), 0o755);
      const incoming = join(dir, 'home/main/incoming');
      sshd = await startSshd({ users: ['barman', 'postgres'] });
      pg = await startPostgres({
        version: 15,
        archiveCommand: `test ! -f ${incoming}/%f && cp %p ${incoming}/.%f.tmp && chmod 0644 ${incoming}/.%f.tmp && mv ${incoming}/.%f.tmp ${incoming}/%f`,
      });
      writeBarmanConfig({
        dir,
        mode: 0o644, // read by barman_user barman
        global: { barman_user: 'barman' },
        servers: {
          main: {
            conninfo: pg.conninfo,
            ssh_command: sshd.sshCommand('barman', 'postgres'),
            backup_method: 'rsync',
            path_prefix: `${dir}/bin`,
            parallel_jobs: 1,
            tablespace_bandwidth_limit: `tbs1:${TABLESPACE_KBPS}`,
            immediate_checkpoint: true,
            archiver: true,
          },
        },
      });
      await pg.query(`CREATE TABLESPACE tbs1 LOCATION '${dir}/tbs'`);
      // Six relation files of about 750 KiB each: about 4.5 MiB, 9 s at 512 KB/s.
      for (let table = 1; table <= 6; table += 1) {
        await pg.query(`CREATE TABLE t${table} (filler text) TABLESPACE tbs1`);
        await pg.query(
          `INSERT INTO t${table} SELECT repeat(md5((i * ${table})::text), 16) FROM generate_series(1, 1400) i`,
        );
      }
      await pg.query('CHECKPOINT');
    });

    after(async () => {
      await pg?.stop();
      await sshd?.stop();
    });

    it('a backup copies the named tablespace at its own rate, PGDATA unlimited', async () => {
      const offset = logSize();
      const logOffset = barmanLogSize();
      const run = await barman('backup', 'main');
      assert.equal(run.exitCode, 0, run.stderr);
      const id = backupIds().at(-1)!;
      const oid = readdirSync(join(dir, 'home/main/base', id)).find((name) => /^\d+$/.test(name))!;
      const runs = rsyncRuns(offset);
      const tablespace = runs.filter((entry) => entry.args.includes(`.rsync-files-${oid}-`));
      const data = runs.filter((entry) => entry.args.includes('.rsync-files-data-'));
      assert.equal(tablespace.length, 1);
      assert.match(tablespace[0]!.args, new RegExp(`--bwlimit=${TABLESPACE_KBPS}\\b`));
      assert.ok(data.length > 0);
      for (const entry of data) assert.doesNotMatch(entry.args, /--bwlimit/);
      const bytes = sumTrees([join(dir, 'home/main/base', id, oid)]).bytes;
      assert.ok(bytes > 4 * 1024 * 1024, `tablespace of ${bytes} bytes`);
      const expected = bytes / (TABLESPACE_KBPS * 1024);
      const seconds = tablespace[0]!.end - tablespace[0]!.start;
      assert.ok(
        seconds >= expected * 0.75,
        `tablespace copied in ${seconds} s, ${expected} s expected at the limit`,
      );
      assert.ok(copySeconds(logOffset, 'tablespace tbs1') >= expected * 0.75);
    });

    it('a local recovery copies the named tablespace at its own rate', async () => {
      const id = backupIds().at(-1)!;
      const oid = readdirSync(join(dir, 'home/main/base', id)).find((name) => /^\d+$/.test(name))!;
      const files = readdirSync(join(dir, 'home/main/base', id, oid), {
        recursive: true,
        withFileTypes: true,
      })
        .filter((entry) => entry.isFile())
        .map((entry) => statSync(join(entry.parentPath, entry.name)).size);
      const bytes = files.reduce((sum, size) => sum + size, 0);
      const largest = Math.max(...files);
      const logOffset = barmanLogSize();
      const run = await barman(
        'recover',
        'main',
        id,
        join(dir, 'restore/data'),
        '--tablespace',
        `tbs1:${join(dir, 'restore/tbs1')}`,
      );
      assert.equal(run.exitCode, 0, run.stderr);
      // Local copies are paced file by file: the first file goes at once, the others wait.
      const expected = (bytes - largest) / (TABLESPACE_KBPS * 1024);
      const seconds = copySeconds(logOffset, 'tablespace tbs1');
      assert.ok(
        seconds >= expected * 0.75,
        `tablespace restored in ${seconds} s, at least ${expected} s expected`,
      );
      assert.ok(copySeconds(logOffset, 'PGDATA') < seconds, 'PGDATA is not limited');
    });

    it('parallel rsync workers start in batches (--jobs-start-batch-size/period on the command line)', async () => {
      const offset = logSize();
      const run = await barman(
        'backup',
        'main',
        '--jobs',
        '4',
        '--jobs-start-batch-size',
        '2',
        '--jobs-start-batch-period',
        '2',
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const starts = rsyncRuns(offset).map((entry) => entry.start);
      assert.ok(starts.length >= 6, `tablespace and PGDATA workers: ${starts.length}`);
      // At most 2 starts in any 2 s: each start is about 2 s after the one two before it
      // (1 s of slack for the time a loaded machine takes to spawn the wrapper).
      for (let index = 2; index < starts.length; index += 1)
        assert.ok(
          starts[index]! - starts[index - 2]! >= 1,
          `start ${index} at +${(starts[index]! - starts[0]!).toFixed(2)} s: ${starts.map((at) => (at - starts[0]!).toFixed(2)).join(', ')}`,
        );
    });

    it('a remote recovery paces its rsync workers and limits the tablespace copy', async () => {
      const id = backupIds().at(-1)!;
      const offset = logSize();
      const target = join(dir, 'remote');
      mkdirSync(target);
      await chownTo(target, 'postgres');
      const run = await barman(
        'recover',
        'main',
        id,
        join(target, 'data'),
        '--remote-ssh-command',
        sshd.sshCommand('barman', 'postgres'),
        '--tablespace',
        `tbs1:${join(target, 'tbs1')}`,
        '--jobs',
        '3',
        '--jobs-start-batch-size',
        '1',
        '--jobs-start-batch-period',
        '1',
      );
      assert.equal(run.exitCode, 0, run.stderr);
      const runs = rsyncRuns(offset);
      // The first push of a tree creates its directories (-d, no data); the others copy files.
      const files = runs.filter((entry) => !entry.args.startsWith('-dptk '));
      const tablespace = files.filter((entry) => entry.args.includes(`:${join(target, 'tbs1')}/`));
      assert.ok(tablespace.length >= 2);
      for (const entry of tablespace) assert.match(entry.args, new RegExp(`--bwlimit=${TABLESPACE_KBPS}\\b`));
      for (const entry of files.filter((other) => other.args.includes(`:${join(target, 'data')}/`)))
        assert.doesNotMatch(entry.args, /--bwlimit/);
      const starts = runs.map((entry) => entry.start);
      for (let index = 1; index < starts.length; index += 1)
        assert.ok(starts[index]! - starts[index - 1]! >= 0.4, `one start per second: ${starts.join(', ')}`);
    });
  },
);
