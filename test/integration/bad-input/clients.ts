/**
 * The archive_command and restore_command clients (barman-wal-archive, barman-wal-restore) on
 * the database host: missing arguments, numbers out of range, a WAL file that is not there, and
 * an ssh that cannot connect (127.0.0.1 port 1 refuses at once). Exit codes are Barman's: 2 for
 * local errors and ssh failures of barman-wal-restore, 3 for ssh failures of barman-wal-archive.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BadInputCase, CaseTable } from './world.js';

const WAL = '000000010000000000000004';
const archive = (
  args: string[],
  exit: number,
  says: string,
  more: Partial<BadInputCase> = {},
): BadInputCase => ({
  name: `barman-wal-archive ${args.join(' ')}`,
  program: 'barman-wal-archive',
  args,
  exit,
  stderr: [says],
  ...more,
});
const restore = (args: string[], exit: number, says: string): BadInputCase => ({
  name: `barman-wal-restore ${args.join(' ')}`,
  program: 'barman-wal-restore',
  args,
  exit,
  stderr: [says],
});

export const clientsTable: CaseTable = {
  title: 'barman-wal-archive and barman-wal-restore',
  cases: [
    archive([], 2, "ERROR: missing required argument 'barman_host'"),
    archive(['host', 'pg'], 2, "ERROR: missing required argument 'wal_path'"),
    archive(
      ['--port', 'abc', 'host', 'pg', '{config}'],
      2,
      "ERROR: argument --port: expected an integer, got 'abc'",
    ),
    archive(
      ['--port', '70000', 'host', 'pg', '{config}'],
      2,
      'ERROR: argument --port: must be at most 65535, got 70000',
    ),
    archive(['--nosuch', 'host', 'pg', '{config}'], 2, "ERROR: unknown option '--nosuch'"),
    archive(['127.0.0.1', 'pg', `{root}/${WAL}`], 2, `ERROR: cannot read {root}/${WAL}: ENOENT`),
    archive(['127.0.0.1', 'pg', '{home}'], 2, 'ERROR: {home} is not a regular file'),
    archive(
      ['--port', '1', '127.0.0.1', 'pg', '{config}'],
      3,
      'ERROR: connection problem with ssh to barman@127.0.0.1',
    ),
    archive(['--brotli', 'host', 'pg', '{config}'], 2, "ERROR: unknown option '--brotli'"),
    archive(
      ['--gzip', '--zstd', 'host', 'pg', '{config}'],
      2,
      'ERROR: choose one compression, not --gzip and --zstd',
    ),
    archive(
      ['--compression-level', '5', 'host', 'pg', '{config}'],
      2,
      'ERROR: --compression-level needs a compression: --gzip, --bzip2, --xz, --snappy, --zstd or --lz4',
    ),
    archive(
      ['--gzip', '--compression-level', '10', 'host', 'pg', '{config}'],
      2,
      'ERROR: argument --compression-level: must be at most 9, got 10 (the gzip levels barman-ts writes are 1 to 9)',
    ),
    archive(
      ['--zstd', '--compression-level', 'fastest', 'host', 'pg', '{config}'],
      2,
      "ERROR: argument --compression-level: invalid value 'fastest' (use low, medium, high or an integer)",
    ),
    archive(
      ['--lz4', '--compression-level'],
      2,
      "ERROR: option '--compression-level <level>' argument missing",
    ),
    restore([], 2, "ERROR: missing required argument 'barman_host'"),
    restore(
      ['--gzip', '--keep-compression', 'host', 'pg', WAL, '{root}/wal'],
      2,
      'ERROR: -z/--gzip, -j/--bzip2 and --keep-compression cannot be combined: choose one',
    ),
    restore(['host', 'pg', WAL], 2, "ERROR: missing required argument 'wal_dest'"),
    restore(
      ['--sleep', '-1', 'host', 'pg', WAL, '{root}/wal'],
      2,
      'ERROR: argument --sleep: must be at least 0 seconds, got -1',
    ),
    restore(
      ['--parallel', '99999999999999', 'host', 'pg', WAL, '{root}/wal'],
      2,
      'ERROR: argument --parallel: must be at most 1000, got 99999999999999',
    ),
    restore(
      ['--port', '0', 'host', 'pg', WAL, '{root}/wal'],
      2,
      'ERROR: argument --port: must be at least 1, got 0',
    ),
    restore(
      ['--port', '1', '127.0.0.1', 'pg', WAL, '{root}/wal'],
      2,
      'ERROR: Connection problem with ssh to barman@127.0.0.1',
    ),
    {
      ...restore(
        [
          '--port',
          '1',
          '--parallel',
          '3',
          '--spool-dir',
          '{root}/spool',
          '127.0.0.1',
          'pg',
          WAL,
          '{root}/wal',
        ],
        2,
        'ERROR: Connection problem with ssh to barman@127.0.0.1',
      ),
      name: 'barman-wal-restore --parallel with ssh refused',
      setup: (world) => mkdirSync(join(world.root, 'spool')),
    },
  ],
};
