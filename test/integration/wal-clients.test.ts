/**
 * barman-wal-archive and barman-wal-restore over a real ssh connection, both ways round:
 * barman-ts's clients and Barman 3.4's own (/usr/bin) talk to barman-ts's `put-wal`/`get-wal`.
 * The clients run as user postgres, from a real PostgreSQL 15 (archive_command,
 * restore_command) or directly. On the "barman host" side sshd's SetEnv PATH puts a `barman`
 * wrapper for barman-ts first; on the client side, where the clients exec a bare `ssh`, a PATH
 * shim adds `-F <config>` (test-rig.md §2).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CompletedRun, PostgresServer, SshServer } from '../harness/index.js';
import { DEBIAN13_ROOT, ensureDebian13Root } from '../harness/debian13.js';
import {
  BARMAN_BIN,
  chownTo,
  createDir,
  freePort,
  lookupOsUser,
  makeTempDir,
  registerExitCleanup,
  runAs,
  runCompletely,
  startPostgres,
  startSshd,
  waitFor,
  requireDebianPackages,
  writeBarmanConfig,
} from '../harness/index.js';

const REPO = dirname(dirname(BARMAN_BIN));
const TS_ARCHIVE = join(REPO, 'bin/barman-wal-archive.js');
const TS_RESTORE = join(REPO, 'bin/barman-wal-restore.js');
const PY_ARCHIVE = '/usr/bin/barman-wal-archive';
const PY_RESTORE = '/usr/bin/barman-wal-restore';
const MISSING_WAL = '0000000100000000000000FF';
/** The first bytes of each compression's files. */
const MAGIC: Record<string, Buffer> = {
  gzip: Buffer.from([0x1f, 0x8b]),
  bzip2: Buffer.from('BZh'),
  xz: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
  snappy: Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]),
  zstd: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
  lz4: Buffer.from([0x04, 0x22, 0x4d, 0x18]),
};

const digest = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');
const sha = (data: Buffer) => digest('sha256', data);

interface TarMember {
  name: string;
  type: string;
  body: Buffer;
}

/** The members of an uncompressed tar stream, PAX extended headers (type 'x') included. */
function tarMembers(stream: Buffer): TarMember[] {
  const members: TarMember[] = [];
  for (let offset = 0; offset + 512 <= stream.length;) {
    const header = stream.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const text = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(text(124, 12).trim() || '0', 8);
    members.push({
      name: text(0, 100),
      type: text(156, 1) || '0',
      body: stream.subarray(offset + 512, offset + 512 + size),
    });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return members;
}

describe('barman-wal-archive / barman-wal-restore over ssh with barman-ts', { concurrency: 1 }, () => {
  let sshd: SshServer;
  let pg: PostgresServer;
  let dir: string;
  let home: string;
  let config: string;
  let reference: string;
  let work: string;
  let plainShim: string;
  let captureShim: string;
  let captureFile: string;
  let baseBackup: string;
  let wrapperDir: string;
  let rowsInserted = 0;
  /** Every segment PostgreSQL switched away from in the tests, in order (consecutive names). */
  const segments: string[] = [];

  const incoming = () => join(home, 'main/incoming');
  const archivedPath = (name: string) => join(home, 'main/wals', name.slice(0, 16), name);
  const connection = () => ['--port', String(sshd.port), '-U', 'barman', '127.0.0.1'];

  /** Runs `program` as postgres with `PATH=<shim>:/usr/bin:/bin` (the shim provides ssh's -F). */
  const asPostgres = (program: string, args: readonly string[], shim = plainShim): Promise<CompletedRun> =>
    runCompletely('postgres', '/usr/bin/env', [`PATH=${shim}:/usr/bin:/bin`, program, ...args], {
      timeoutMs: 60_000,
    });

  /** barman-ts on the barman host, as user barman (archive-wal moves incoming/ into wals/). */
  const barmanTs = (...args: string[]) =>
    runCompletely('barman', process.execPath, [BARMAN_BIN, '-c', config, ...args], { timeoutMs: 60_000 });

  /**
   * archive_command is `/bin/sh <script> %p %f`; the script is replaced atomically between
   * phases, so the next archiving attempt runs the new client without a reload race.
   */
  function setArchiveClient(
    client: string,
    options: { server?: string; extra?: string[]; shim?: string } = {},
  ) {
    const script = join(dir, 'archive-command.sh');
    const temp = `${script}.new`;
    const words = [client, ...(options.extra ?? []), ...connection(), options.server ?? 'main', '"$1"'];
    writeFileSync(
      temp,
      `#!/bin/sh\n# $1 = %p, $2 = %f\ncp "$1" ${reference}/"$2" || exit 1\nPATH=${options.shim ?? plainShim}:/usr/bin:/bin\nexport PATH\nexec ${words.join(' ')}\n`,
      { mode: 0o755 },
    );
    chmodSync(temp, 0o755);
    renameSync(temp, script);
  }

  async function archiverState() {
    const [row] = await pg.query<{ archived: string | null; failed: string | null; failures: string }>(
      'select last_archived_wal as archived, last_failed_wal as failed, failed_count::text as failures from pg_stat_archiver',
    );
    return row!;
  }

  /** Writes some rows and switches to a new segment; returns the completed segment's name. */
  async function switchSegment(): Promise<string> {
    await pg.query('insert into t select generate_series(1, 1000)');
    rowsInserted += 1000;
    const [row] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
    segments.push(row!.name);
    return row!.name;
  }

  /** Waits until PostgreSQL's archive_command has succeeded for `name` (archiving is in order). */
  async function waitArchived(name: string): Promise<void> {
    await waitFor(
      `archive_command to succeed for ${name}`,
      async () => ((await archiverState()).archived ?? '') >= name,
      { timeoutMs: 30_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${readFileSync(pg.logFile, 'utf8').slice(-3000)}`);
    });
  }

  async function archiveSegment(): Promise<string> {
    const name = await switchSegment();
    await waitArchived(name);
    return name;
  }

  /** Asserts `name` sits in incoming/ (or already in wals/) with exactly PostgreSQL's bytes. */
  function assertDelivered(name: string): void {
    const path = join(incoming(), name);
    assert.ok(existsSync(path), `${name} in incoming/: ${readdirSync(incoming()).join(' ')}`);
    assert.equal(sha(readFileSync(path)), sha(readFileSync(join(reference, name))), `content of ${name}`);
  }

  function assertRestored(path: string, name: string): void {
    assert.ok(existsSync(path), `${path} written`);
    assert.equal(sha(readFileSync(path)), sha(readFileSync(join(reference, name))), `content of ${name}`);
  }

  before(
    async () => {
      requireDebianPackages('barman-cli');
      dir = await makeTempDir('wal-clients');
      wrapperDir = await createDir(join(dir, 'barman-bin'));
      sshd = await startSshd({
        users: ['barman', 'postgres'],
        setEnv: { PATH: `${wrapperDir}:/usr/local/bin:/usr/bin:/bin` },
      });
      home = await createDir(join(dir, 'home'), { owner: 'barman' });
      await createDir(join(dir, 'log'), { owner: 'barman' });
      reference = await createDir(join(dir, 'reference'), { owner: 'postgres' });
      work = await createDir(join(dir, 'work'), { owner: 'postgres' });
      config = writeBarmanConfig({
        dir,
        mode: 0o644, // read by barman_user barman
        global: { barman_user: 'barman', barman_home: home, compression: 'gzip' },
        servers: {
          main: {
            description: '"WAL clients over ssh"',
            conninfo: 'host=127.0.0.1 port=1 user=postgres dbname=postgres',
            backup_method: 'local-rsync',
            archiver: true,
          },
        },
      });
      // The remote `barman`: barman-ts, with this configuration unless -c says otherwise.
      writeFileSync(
        join(wrapperDir, 'barman'),
        `#!/bin/sh\nBARMAN_CONFIG_FILE=${config}\nexport BARMAN_CONFIG_FILE\nexec ${process.execPath} ${BARMAN_BIN} "$@"\n`,
        { mode: 0o755 },
      );
      const clientConfig = sshd.sshArgs('postgres', 'barman')[1]!;
      plainShim = await createDir(join(dir, 'ssh-plain'));
      writeFileSync(join(plainShim, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${clientConfig} "$@"\n`, {
        mode: 0o755,
      });
      // Same, keeping a copy of what the client sends (the put-wal tar stream).
      captureShim = await createDir(join(dir, 'ssh-capture'));
      captureFile = join(work, 'put-wal-stream.tar');
      writeFileSync(
        join(captureShim, 'ssh'),
        `#!/bin/sh\ntee ${captureFile} | /usr/bin/ssh -F ${clientConfig} "$@"\n`,
        { mode: 0o755 },
      );

      setArchiveClient(TS_ARCHIVE);
      pg = await startPostgres({
        version: 15,
        archiveCommand: `/bin/sh ${join(dir, 'archive-command.sh')} %p %f`,
      });
      await pg.query('create table t (id int)');
      // A base backup whose WAL comes only from the archive, for the recovery test at the end.
      baseBackup = join(work, 'base');
      await runAs(
        'postgres',
        join(pg.binDir, 'pg_basebackup'),
        [
          '-h',
          pg.host,
          '-p',
          String(pg.port),
          '-U',
          'postgres',
          '-D',
          baseBackup,
          '-X',
          'none',
          '-c',
          'fast',
        ],
        { timeoutMs: 60_000 },
      );
    },
    { timeout: 90_000 },
  );

  after(async () => {
    await pg?.stop();
    await sshd?.stop();
  });

  it(
    'barman-ts barman-wal-archive as archive_command delivers segments into incoming/',
    { timeout: 180_000 },
    async () => {
      // The remote `barman` is barman-ts (the wrapper), not Debian's /usr/bin/barman.
      const remote = await runAs('postgres', 'ssh', [
        ...sshd.sshArgs('postgres', 'barman'),
        'command -v barman',
      ]);
      assert.equal(remote.stdout.trim(), join(wrapperDir, 'barman'));
      const first = await archiveSegment();
      const second = await archiveSegment();
      const barman = await lookupOsUser('barman');
      for (const name of [first, second]) {
        assertDelivered(name);
        assert.equal(
          statSync(join(incoming(), name)).uid,
          barman.uid,
          `${name} written by put-wal as barman`,
        );
      }
      assert.deepEqual(
        readdirSync(incoming()).filter((name) => name.startsWith('.')),
        [],
        'no temp file left behind',
      );
    },
  );

  it(
    '-t checks the connection; the stream is a tar with SHA256SUMS, or MD5SUMS with --md5',
    { timeout: 180_000 },
    async () => {
      const test = await asPostgres(TS_ARCHIVE, [...connection(), '-t', 'main', 'DUMMY']);
      assert.equal(test.exitCode, 0, test.stderr);
      assert.match(test.stdout, /^Ready to accept WAL files for the server main$/m);

      for (const md5 of [false, true]) {
        setArchiveClient(TS_ARCHIVE, { shim: captureShim, extra: md5 ? ['--md5'] : [] });
        const name = await archiveSegment();
        assertDelivered(name);
        const members = tarMembers(readFileSync(captureFile));
        const wal = readFileSync(join(reference, name));
        const sums = md5 ? 'MD5SUMS' : 'SHA256SUMS';
        assert.deepEqual(
          members.map((member) => member.name),
          [name, sums],
        );
        assert.equal(sha(members[0]!.body), sha(wal));
        assert.equal(members[1]!.body.toString(), `${digest(md5 ? 'md5' : 'sha256', wal)} *${name}\n`);
      }
      setArchiveClient(TS_ARCHIVE);
    },
  );

  it(
    'a wrong server name fails, and PostgreSQL keeps the segment until it is archived',
    { timeout: 180_000 },
    async () => {
      const before = readdirSync(incoming()).sort();
      const direct = await asPostgres(TS_ARCHIVE, [...connection(), 'nosuch', join(reference, segments[0]!)]);
      // put-wal refuses before reading the stream: its exit code is passed on (no crash on EPIPE).
      assert.equal(direct.exitCode, 1, direct.stderr);
      assert.doesNotMatch(direct.stderr, /EPIPE|node:events/);
      assert.match(direct.stderr, /nosuch/);
      assert.deepEqual(readdirSync(incoming()).sort(), before, 'nothing received');

      setArchiveClient(TS_ARCHIVE, { server: 'nosuch' });
      const failures = Number((await archiverState()).failures);
      const refused = await switchSegment();
      await waitFor(`archive_command to fail for ${refused}`, async () => {
        const state = await archiverState();
        return state.failed === refused && Number(state.failures) > failures;
      });
      assert.ok(existsSync(join(pg.dataDir, 'pg_wal/archive_status', `${refused}.ready`)), 'still .ready');
      assert.ok(!existsSync(join(incoming(), refused)));

      setArchiveClient(TS_ARCHIVE);
      const next = await archiveSegment();
      assertDelivered(refused);
      assertDelivered(next);
    },
  );

  it(
    "Barman 3.4's barman-wal-archive (PAX tar, MD5SUMS) delivers to barman-ts put-wal",
    { timeout: 180_000 },
    async () => {
      setArchiveClient(PY_ARCHIVE, { shim: captureShim });
      const name = await archiveSegment();
      assertDelivered(name);
      const members = tarMembers(readFileSync(captureFile));
      const wal = readFileSync(join(reference, name));
      const walIndex = members.findIndex((member) => member.name === name);
      assert.ok(
        walIndex > 0 && members[walIndex - 1]!.type === 'x',
        'a PAX extended header precedes the WAL',
      );
      assert.match(members[walIndex - 1]!.body.toString(), / mtime=\d+\.\d+\n/);
      assert.deepEqual(
        members.filter((member) => member.type !== 'x').map((member) => member.name),
        [name, 'MD5SUMS'],
      );
      assert.equal(members.at(-1)!.body.toString(), `${digest('md5', wal)} *${name}\n`);
      setArchiveClient(TS_ARCHIVE);

      // -t sends `put-wal main --test`; -c is passed on as --config='<file>'.
      const test = await asPostgres(PY_ARCHIVE, ['-c', config, ...connection(), '-t', 'main', 'DUMMY']);
      assert.equal(test.exitCode, 0, test.stderr);
      assert.match(test.stdout, /^Ready to accept WAL files for the server main$/m);
      const wrongConfig = await asPostgres(PY_ARCHIVE, [
        '-c',
        '/nonexistent.conf',
        ...connection(),
        '-t',
        'main',
        'x',
      ]);
      assert.notEqual(wrongConfig.exitCode, 0, 'the -c file is the one barman-ts reads');
    },
  );

  it(
    'barman-wal-archive --gzip … --lz4 compress before sending; put-wal and archive-wal keep them as they came',
    { timeout: 240_000 },
    async () => {
      const sent = new Map<string, string>();
      for (const [flag, level] of [
        ['--gzip', 'low'],
        ['--bzip2', '9'],
        ['--xz', null],
        ['--snappy', null],
        ['--zstd', 'high'],
        ['--lz4', '12'],
      ] as const) {
        setArchiveClient(TS_ARCHIVE, {
          shim: captureShim,
          extra: [flag, ...(level ? ['--compression-level', level] : [])],
        });
        const name = await archiveSegment();
        sent.set(name, flag.slice(2));
        // The tar member keeps the WAL's name; its body is the compressed file.
        const members = tarMembers(readFileSync(captureFile));
        assert.deepEqual(
          members.map((member) => member.name),
          [name, 'SHA256SUMS'],
        );
        const delivered = readFileSync(join(incoming(), name));
        assert.equal(sha(members[0]!.body), sha(delivered), `${flag}: delivered as sent`);
        assert.ok(
          delivered.subarray(0, MAGIC[flag.slice(2)]!.length).equals(MAGIC[flag.slice(2)]!),
          `${flag}: ${name} starts with the magic of ${flag.slice(2)}`,
        );
        assert.ok(delivered.length < readFileSync(join(reference, name)).length / 2, `${flag}: smaller`);
      }
      setArchiveClient(TS_ARCHIVE);
      const archived = await barmanTs('archive-wal', 'main');
      assert.equal(archived.exitCode, 0, archived.stderr);
      const xlog = readFileSync(join(home, 'main/wals/xlog.db'), 'utf8');
      const outputDir = await createDir(join(work, 'client-compressed'), { owner: 'barman' });
      for (const [name, compression] of sent) {
        // Archived as it came (not recompressed to the server's gzip), recorded with its own compression.
        assert.match(xlog, new RegExp(`^${name}\\t\\d+\\t[\\d.]+\\t${compression}(\\t|$)`, 'm'));
        const stored = readFileSync(archivedPath(name));
        assert.ok(stored.subarray(0, MAGIC[compression]!.length).equals(MAGIC[compression]!), name);
        const got = await barmanTs('get-wal', '-o', outputDir, 'main', name);
        assert.equal(got.exitCode, 0, got.stderr);
        assertRestored(join(outputDir, name), name);
      }
    },
  );

  it(
    'barman-ts barman-wal-restore: a segment, -z, -t, a missing WAL, and -p with a spool dir',
    { timeout: 180_000 },
    async () => {
      const archived = await barmanTs('archive-wal', 'main');
      assert.equal(archived.exitCode, 0, archived.stderr);
      for (const name of segments) assert.ok(existsSync(archivedPath(name)), `${name} archived`);
      const [s0, s1, s2, s3, s4] = segments as [string, string, string, string, string];

      const plain = join(work, 'ts-plain');
      const fetched = await asPostgres(TS_RESTORE, [...connection(), 'main', s0, plain]);
      assert.equal(fetched.exitCode, 0, fetched.stderr);
      assertRestored(plain, s0);

      const gzip = join(work, 'ts-gzip');
      const viaGzip = await asPostgres(TS_RESTORE, [...connection(), '-z', 'main', s4, gzip]);
      assert.equal(viaGzip.exitCode, 0, viaGzip.stderr);
      assertRestored(gzip, s4);

      const test = await asPostgres(TS_RESTORE, [...connection(), '-t', 'main', 'x', 'y']);
      assert.equal(test.exitCode, 0, test.stderr);
      assert.match(test.stdout, /^Ready to retrieve WAL files from the server main$/m);

      const missingDest = join(work, 'ts-missing');
      const missing = await asPostgres(TS_RESTORE, [...connection(), 'main', MISSING_WAL, missingDest]);
      assert.equal(missing.exitCode, 1, missing.stderr);
      assert.ok(!existsSync(missingDest), 'nothing written for a missing WAL');

      // -p 3: s1 into %p, s2 and s3 prefetched into the spool ...
      const spool = join(work, 'ts-spool');
      const first = join(work, 'ts-p1');
      const prefetch = await asPostgres(TS_RESTORE, [
        ...connection(),
        '-p',
        '3',
        '--spool-dir',
        spool,
        'main',
        s1,
        first,
      ]);
      assert.equal(prefetch.exitCode, 0, prefetch.stderr);
      assertRestored(first, s1);
      assert.deepEqual(readdirSync(spool).sort(), [s2, s3]);
      // ... and served from there: no ssh needed (the port is closed), the spool entry is consumed.
      const closed = String(await freePort());
      const second = join(work, 'ts-p2');
      const spooled = await asPostgres(TS_RESTORE, [
        '--port',
        closed,
        '-p',
        '3',
        '--spool-dir',
        spool,
        '127.0.0.1',
        'main',
        s2,
        second,
      ]);
      assert.equal(spooled.exitCode, 0, spooled.stderr);
      assertRestored(second, s2);
      assert.deepEqual(readdirSync(spool), [s3]);
    },
  );

  it(
    'barman-ts barman-wal-restore serves the spool across filesystems (spool on /dev/shm)',
    { timeout: 180_000 },
    async (t) => {
      if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(work).dev) {
        t.skip('no second filesystem at /dev/shm');
        return;
      }
      const spool = join('/dev/shm', `barman-ts-wal-clients-${randomBytes(4).toString('hex')}`);
      registerExitCleanup(() => rmSync(spool, { recursive: true, force: true }));
      await createDir(spool, { owner: 'postgres' });
      try {
        const [, , , s3, s4] = segments as [string, string, string, string, string];
        const prefetch = await asPostgres(TS_RESTORE, [
          ...connection(),
          '-p',
          '2',
          '--spool-dir',
          spool,
          'main',
          s3,
          join(work, 'shm-1'),
        ]);
        assert.equal(prefetch.exitCode, 0, prefetch.stderr);
        assert.deepEqual(readdirSync(spool), [s4]);
        const closed = String(await freePort());
        const dest = join(work, 'shm-2');
        const spooled = await asPostgres(TS_RESTORE, [
          '--port',
          closed,
          '--spool-dir',
          spool,
          '127.0.0.1',
          'main',
          s4,
          dest,
        ]);
        assert.equal(spooled.exitCode, 0, spooled.stderr);
        assertRestored(dest, s4);
        assert.deepEqual(readdirSync(spool), []);
      } finally {
        rmSync(spool, { recursive: true, force: true });
      }
    },
  );

  it(
    "Barman 3.4's barman-wal-restore fetches from barman-ts get-wal, with -z and -p 2",
    { timeout: 180_000 },
    async () => {
      const [s0, , , , , s5, s6] = segments as [string, string, string, string, string, string, string];

      const plain = join(work, 'py-plain');
      const fetched = await asPostgres(PY_RESTORE, [...connection(), 'main', s0, plain]);
      assert.equal(fetched.exitCode, 0, fetched.stderr);
      assertRestored(plain, s0);

      const gzip = join(work, 'py-gzip');
      const viaGzip = await asPostgres(PY_RESTORE, ['-c', config, ...connection(), '-z', 'main', s6, gzip]);
      assert.equal(viaGzip.exitCode, 0, viaGzip.stderr);
      assertRestored(gzip, s6);

      const test = await asPostgres(PY_RESTORE, [...connection(), '-t', 'main', 'x', 'y']);
      assert.equal(test.exitCode, 0, test.stderr);
      assert.match(test.stdout, /^Ready to retrieve WAL files from the server main$/m);

      const missing = await asPostgres(PY_RESTORE, [
        ...connection(),
        'main',
        MISSING_WAL,
        join(work, 'py-missing'),
      ]);
      assert.equal(missing.exitCode, 1, missing.stderr);

      const spool = join(work, 'py-spool');
      const first = join(work, 'py-p1');
      const prefetch = await asPostgres(PY_RESTORE, [
        ...connection(),
        '-p',
        '2',
        '--spool-dir',
        spool,
        'main',
        s5,
        first,
      ]);
      assert.equal(prefetch.exitCode, 0, prefetch.stderr);
      assertRestored(first, s5);
      assert.deepEqual(readdirSync(spool), [s6]);
      const closed = String(await freePort());
      const second = join(work, 'py-p2');
      const spooled = await asPostgres(PY_RESTORE, [
        '--port',
        closed,
        '-p',
        '2',
        '--spool-dir',
        spool,
        '127.0.0.1',
        'main',
        s6,
        second,
      ]);
      assert.equal(spooled.exitCode, 0, spooled.stderr);
      assertRestored(second, s6);
      assert.deepEqual(readdirSync(spool), []);
    },
  );

  it(
    'barman-wal-restore --keep-compression (barman-ts and Barman 3.13): compressed on the wire, plain in %p',
    { timeout: 240_000 },
    async () => {
      const archived = await barmanTs('archive-wal', 'main');
      assert.equal(archived.exitCode, 0, archived.stderr);
      const xlog = readFileSync(join(home, 'main/wals/xlog.db'), 'utf8');
      const compressionOf = (name: string) =>
        new RegExp(`^${name}\\t\\d+\\t[\\d.]+\\t(\\w+)`, 'm').exec(xlog)?.[1] ?? 'None';
      // Archived by the server (gzip) and client-compressed ones (xz, zstd, lz4 …).
      const picks = new Map<string, string>();
      for (const name of segments) {
        const compression = compressionOf(name);
        if (!picks.has(compression)) picks.set(compression, name);
      }
      assert.ok(picks.has('gzip') && picks.has('zstd') && picks.has('xz'), [...picks.keys()].join(' '));
      const wireFile = join(work, 'get-wal-wire');
      const wireShim = await createDir(join(dir, 'ssh-wire'));
      const clientConfig = sshd.sshArgs('postgres', 'barman')[1]!;
      writeFileSync(
        join(wireShim, 'ssh'),
        `#!/bin/bash\nset -o pipefail\n/usr/bin/ssh -F ${clientConfig} "$@" | tee ${wireFile}\n`,
        { mode: 0o755 },
      );
      // Barman 3.13's own barman-wal-restore (the Debian 13 root's package), run by this host's Python.
      await ensureDebian13Root();
      const barman313 = await createDir(join(dir, 'barman-3.13'));
      symlinkSync(join(DEBIAN13_ROOT, 'usr/lib/python3/dist-packages/barman'), join(barman313, 'barman'));
      const pyRestore313 = join(barman313, 'barman-wal-restore');
      writeFileSync(
        pyRestore313,
        `#!/bin/sh\nPYTHONPATH=${barman313} exec python3 -c 'import sys; from barman.clients import walrestore; sys.argv[0] = "barman-wal-restore"; walrestore.main()' "$@"\n`,
        { mode: 0o755 },
      );
      const version = await asPostgres(pyRestore313, ['--version']);
      assert.match(version.stdout + version.stderr, /3\.13\./);
      // Barman 3.13's client decompresses with its Python compressors only (xz here: lz4 and zstd
      // need libraries this host lacks); for gzip and bzip2 it runs `None -d` and fails (its bug,
      // fixed in later releases), so those are barman-ts's client only.
      for (const [client, compressions] of [
        [TS_RESTORE, [...picks.keys()]],
        [pyRestore313, ['xz']],
      ] as const) {
        for (const compression of compressions) {
          const name = picks.get(compression)!;
          const dest = join(work, `keep-${client === TS_RESTORE ? 'ts' : 'py'}-${compression}`);
          const run = await asPostgres(
            client,
            [...connection(), '--keep-compression', 'main', name, dest],
            wireShim,
          );
          assert.equal(run.exitCode, 0, `${client} ${compression}: ${run.stderr}`);
          assertRestored(dest, name);
          const wire = readFileSync(wireFile);
          assert.ok(
            wire.subarray(0, MAGIC[compression]!.length).equals(MAGIC[compression]!),
            `${client}: ${name} crossed the network ${compression}-compressed`,
          );
          assert.equal(sha(wire), sha(readFileSync(archivedPath(name))), 'the archived file as stored');
        }
      }
    },
  );

  it(
    'PostgreSQL recovers a base backup with barman-ts barman-wal-restore -p 4 as restore_command',
    { timeout: 240_000 },
    async () => {
      const archived = await barmanTs('archive-wal', 'main');
      assert.equal(archived.exitCode, 0, archived.stderr);
      const port = await freePort();
      const socketDir = await createDir(join(work, 'recovered-socket'), { owner: 'postgres' });
      const spool = join(work, 'recovery-spool');
      const restoreCommand = `PATH=${plainShim}:/usr/bin:/bin ${TS_RESTORE} ${connection().join(' ')} -p 4 --spool-dir ${spool} main %f %p`;
      writeFileSync(
        join(baseBackup, 'postgresql.auto.conf'),
        `port = ${port}\nunix_socket_directories = '${socketDir}'\narchive_mode = off\nrestore_command = '${restoreCommand}'\n`,
        { flag: 'a' },
      );
      writeFileSync(join(baseBackup, 'recovery.signal'), '');
      await chownTo(join(baseBackup, 'recovery.signal'), 'postgres');
      const pgCtl = join(pg.binDir, 'pg_ctl');
      const logFile = join(work, 'recovered.log');
      const stop = () =>
        runCompletely('postgres', pgCtl, ['-D', baseBackup, '-m', 'immediate', '-w', 'stop']);
      const unregister = registerExitCleanup(() => {
        try {
          const pid = Number(readFileSync(join(baseBackup, 'postmaster.pid'), 'utf8').split('\n')[0]);
          if (pid > 0) process.kill(pid, 'SIGQUIT'); // immediate shutdown
        } catch {
          // not running
        }
      });
      try {
        const started = await runCompletely(
          'postgres',
          pgCtl,
          ['-D', baseBackup, '-l', logFile, '-w', '-t', '60', 'start'],
          {
            timeoutMs: 70_000,
          },
        );
        const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
        assert.equal(started.exitCode, 0, `${started.stderr}\n${log()}`);
        const psql = (sql: string) =>
          runAs('postgres', join(pg.binDir, 'psql'), [
            '-X',
            '-At',
            '-h',
            '127.0.0.1',
            '-p',
            String(port),
            '-U',
            'postgres',
            '-c',
            sql,
          ]);
        // Every segment is one ssh session and one barman start: slow when both cores are busy.
        await waitFor(
          'the recovered cluster to be promoted',
          async () => (await psql('select pg_is_in_recovery()')).stdout.trim() === 'f',
          { timeoutMs: 150_000 },
        );
        assert.equal((await psql('select count(*) from t')).stdout.trim(), String(rowsInserted), log());
        const last = segments.at(-1)!;
        assert.match(log(), new RegExp(`restored log file "${last}" from archive`));
        assert.match(log(), /archive recovery complete/);
        assert.deepEqual(readdirSync(spool), [], 'every prefetched segment was used, no temp file left');
        // Timeline history files go through get-wal too (00000002.history was asked for, missing).
        assert.doesNotMatch(log(), /not a valid wal file name/);

        // The promoted cluster's 00000002.history, archived as after a real PITR, then restored.
        const history = join(baseBackup, 'pg_wal', '00000002.history');
        const put = await asPostgres(TS_ARCHIVE, [...connection(), 'main', history]);
        assert.equal(put.exitCode, 0, put.stderr);
        const moved = await barmanTs('archive-wal', 'main');
        assert.equal(moved.exitCode, 0, moved.stderr);
        for (const client of [TS_RESTORE, PY_RESTORE]) {
          const dest = join(work, `history-${client === TS_RESTORE ? 'ts' : 'py'}`);
          const got = await asPostgres(client, [...connection(), 'main', '00000002.history', dest]);
          assert.equal(got.exitCode, 0, `${client}: ${got.stderr}`);
          assert.deepEqual(readFileSync(dest), readFileSync(history));
          const missing = await asPostgres(client, [
            ...connection(),
            'main',
            '00000003.history',
            `${dest}-3`,
          ]);
          assert.equal(missing.exitCode, 1, `${client}: ${missing.stderr}`);
        }
      } finally {
        await stop();
        unregister();
      }
    },
  );

  it(
    'with sshd stopped: barman-wal-archive exits 3, barman-wal-restore 2 (both implementations)',
    { timeout: 180_000 },
    async () => {
      await sshd.stop();
      const wal = join(reference, segments[0]!);
      const archive = await asPostgres(TS_ARCHIVE, [...connection(), 'main', wal]);
      assert.equal(archive.exitCode, 3, archive.stderr);
      assert.doesNotMatch(archive.stderr, /EPIPE|node:events/);
      // Barman 3.4's own client usually exits 2 here, not 3: ssh exits before reading the 16 MiB
      // tar, and the EPIPE it gets while still writing is reported as "Error executing ssh".
      const py = await asPostgres(PY_ARCHIVE, [...connection(), 'main', wal]);
      assert.ok(py.exitCode === 2 || py.exitCode === 3, `${PY_ARCHIVE}: ${py.exitCode} ${py.stderr}`);
      for (const client of [TS_RESTORE, PY_RESTORE]) {
        const run = await asPostgres(client, [...connection(), 'main', segments[0]!, join(work, 'down')]);
        assert.equal(run.exitCode, 2, `${client}: ${run.stderr}`);
      }
      // PostgreSQL keeps the segment for a later attempt.
      const refused = await switchSegment();
      await waitFor(
        `archive_command to fail for ${refused}`,
        async () => (await archiverState()).failed === refused,
      );
      assert.ok(existsSync(join(pg.dataDir, 'pg_wal/archive_status', `${refused}.ready`)));
    },
  );
});
