/**
 * WAL files and names: damaged compressed files in the archive (get-wal, whatever the format),
 * unwritable get-wal output directories (exit 3, as Barman), put-wal streams and files that are
 * not WAL, and strangers in incoming/ (archive-wal moves them to errors/: the one change meant).
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LOCK_FILES } from './catalog.js';
import type { BadInputCase, CaseTable, World } from './world.js';
import { SYSTEM_ID, walSegment } from './world.js';

const ARCHIVED = '000000010000000000000006';
const archived = (world: World, name = ARCHIVED) => join(world.pg, 'wals', '0000000100000000', name);
const damaged = (content: Buffer) => (world: World) => writeFileSync(archived(world), content);
const GZIP = gzipSync(walSegment(ARCHIVED), { level: 1 });

/** Archived files whose content does not decompress: the file is named, exit 1. */
const DAMAGED: ReadonlyArray<{ what: string; content: Buffer; format: string }> = [
  { what: 'a gzip file cut short', content: GZIP.subarray(0, 2000), format: 'gzip' },
  {
    what: 'a gzip header then noise',
    content: Buffer.concat([GZIP.subarray(0, 10), Buffer.alloc(5000, 0x55)]),
    format: 'gzip',
  },
  {
    what: 'a gzip file with a flipped byte',
    content: Buffer.from(GZIP.map((byte, index) => (index === 3000 ? byte ^ 0xff : byte))),
    format: 'gzip',
  },
  {
    what: 'a bzip2 header then noise',
    content: Buffer.concat([Buffer.from('BZh9'), Buffer.alloc(3000, 0x55)]),
    format: 'bzip2',
  },
  {
    what: 'an xz header then noise',
    content: Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(3000, 0x55)]),
    format: 'xz',
  },
  {
    what: 'a zstd header then noise',
    content: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(3000, 0x55)]),
    format: 'zstd',
  },
  {
    what: 'an lz4 header then noise',
    content: Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.alloc(3000, 0x55)]),
    format: 'lz4',
  },
];

const getWalDamaged: BadInputCase[] = DAMAGED.flatMap(({ what, content, format }) => {
  const says = `ERROR: cannot decompress the archived WAL file {pg}/wals/0000000100000000/${ARCHIVED} (${format})`;
  return [
    {
      name: `get-wal to stdout of ${what}`,
      setup: damaged(content),
      args: ['get-wal', 'pg', ARCHIVED],
      exit: 1,
      stderr: [says, 'HINT: the file is damaged'],
    },
    {
      name: `get-wal -o of ${what}`,
      setup: damaged(content),
      args: ['get-wal', '-o', '{root}', 'pg', ARCHIVED],
      exit: 1,
      stderr: [says],
    },
  ];
});

const getWalOther: BadInputCase[] = [
  {
    name: 'get-wal --gzip of a damaged gzip file',
    setup: damaged(GZIP.subarray(0, 2000)),
    args: ['get-wal', '--gzip', '-o', '{root}', 'pg', ARCHIVED],
    exit: 1,
    stderr: [
      `cannot decompress the archived WAL file {pg}/wals/0000000100000000/${ARCHIVED} (gzip): unexpected end of file`,
    ],
  },
  {
    name: 'get-wal --bzip2 of a damaged gzip file',
    setup: damaged(GZIP.subarray(0, 2000)),
    args: ['get-wal', '--bzip2', 'pg', ARCHIVED],
    exit: 1,
    stderr: [`cannot decompress the archived WAL file {pg}/wals/0000000100000000/${ARCHIVED} (gzip)`],
  },
  {
    name: 'get-wal of an archived file barman_user cannot read',
    setup: (world) => chmodSync(archived(world), 0o000),
    args: ['get-wal', 'pg', ARCHIVED],
    exit: 1,
    stderr: [`ERROR: cannot open '{pg}/wals/0000000100000000/${ARCHIVED}': permission denied (EACCES)`],
  },
  {
    name: 'get-wal into a directory that does not exist (exit 3)',
    args: ['get-wal', '-o', '{root}/nosuch', 'pg', ARCHIVED],
    exit: 3,
    stderr: [`ERROR: cannot open '{root}/nosuch/${ARCHIVED}': no such file or directory (ENOENT)`],
  },
  {
    name: 'get-wal into a file (exit 3)',
    args: ['get-wal', '-o', '{config}', 'pg', ARCHIVED],
    exit: 3,
    stderr: [`ERROR: cannot open '{config}/${ARCHIVED}': a part of the path is not a directory (ENOTDIR)`],
  },
  {
    name: 'get-wal into a directory barman_user cannot write (exit 3)',
    setup: (world) => mkdirSync(join(world.root, 'ro'), { mode: 0o555 }),
    args: ['get-wal', '-o', '{root}/ro', 'pg', ARCHIVED],
    exit: 3,
    stderr: [
      `ERROR: cannot open '{root}/ro/${ARCHIVED}': permission denied (EACCES)`,
      "HINT: OS user '{user}' (barman_user)",
    ],
  },
  {
    name: 'get-wal onto a directory of the same name (exit 3)',
    setup: (world) => {
      mkdirSync(join(world.root, 'out', ARCHIVED), { recursive: true });
      chmodSync(join(world.root, 'out'), 0o777);
    },
    args: ['get-wal', '-o', '{root}/out', 'pg', ARCHIVED],
    exit: 3,
    stderr: [`'{root}/out/${ARCHIVED}'`, '(EISDIR)'],
  },
  {
    name: 'get-wal into a path too long (exit 3)',
    args: ['get-wal', '-o', `{root}/${'d'.repeat(300)}`, 'pg', ARCHIVED],
    exit: 3,
    stderr: ['file name too long (ENAMETOOLONG)'],
  },
  {
    name: 'get-wal of a WAL name that is a directory in the archive',
    setup: (world) => mkdirSync(archived(world, '00000001000000000000000D')),
    args: ['get-wal', 'pg', '00000001000000000000000D'],
    exit: 1,
    stderr: ["ERROR: WAL file '00000001000000000000000D' not found in server 'pg'"],
  },
  {
    name: 'get-wal of a history file that is not archived',
    args: ['get-wal', 'pg', '00000002.history'],
    exit: 1,
    stderr: ["ERROR: WAL file '00000002.history' not found in server 'pg'"],
  },
  {
    name: 'get-wal --peek from a name that is not a WAL name',
    args: ['get-wal', '--peek', '3', 'pg', 'xlog.db'],
    exit: 3,
    stderr: ["ERROR: 'xlog.db' is not a valid wal file name"],
  },
];

const WAL_C = '00000001000000000000000D';
const putWal: BadInputCase[] = [
  {
    name: 'put-wal --file of a file that does not exist',
    args: ['put-wal', '--file', `{root}/${WAL_C}`, 'pgr'],
    exit: 1,
    stderr: [`ERROR: cannot read WAL file '{root}/${WAL_C}': no such file`],
  },
  {
    name: 'put-wal --file of a directory named like a WAL file',
    setup: (world) => mkdirSync(join(world.root, WAL_C)),
    args: ['put-wal', '--file', `{root}/${WAL_C}`, 'pgr'],
    exit: 1,
    stderr: [`{root}/${WAL_C}`],
  },
  {
    name: 'put-wal --file of a file barman_user cannot read',
    setup: (world) => writeFileSync(join(world.root, WAL_C), walSegment(WAL_C), { mode: 0o600 }),
    args: ['put-wal', '--file', `{root}/${WAL_C}`, 'pgr'],
    exit: 1,
    stderr: [`{root}/${WAL_C}`, 'EACCES'],
  },
  {
    name: 'put-wal --file of a file whose name is not a WAL name',
    setup: (world) => writeFileSync(join(world.root, 'notes.txt'), 'hello\n'),
    args: ['put-wal', '--file', '{root}/notes.txt', 'pgr'],
    exit: 1,
    stderr: ["ERROR: 'notes.txt' is not a valid WAL file name"],
  },
  {
    name: 'put-wal of an empty stream',
    args: ['put-wal', 'pgr'],
    stdin: '',
    exit: 1,
    stderr: ['ERROR: the put-wal stream contains no WAL file'],
  },
  {
    name: 'put-wal of a stream that is not tar',
    args: ['put-wal', 'pgr'],
    stdin: 'garbage\n',
    exit: 1,
    stderr: ['ERROR: invalid put-wal stream: the tar stream ended inside a header'],
  },
  {
    name: 'put-wal of 10 KiB of noise',
    args: ['put-wal', 'pgr'],
    stdin: Buffer.alloc(10240, 0x41),
    exit: 1,
    stderr: ['ERROR: invalid put-wal stream'],
  },
  {
    name: 'put-wal into a read-only incoming/',
    setup: (world) => {
      writeFileSync(join(world.root, WAL_C), walSegment(WAL_C));
      chmodSync(join(world.home, 'pgr', 'incoming'), 0o555);
    },
    args: ['put-wal', '--file', `{root}/${WAL_C}`, 'pgr'],
    exit: 1,
    stderr: ['{home}/pgr/incoming', 'permission denied (EACCES)'],
  },
  {
    name: 'put-wal into a server whose incoming/ is a file',
    setup: (world) => {
      writeFileSync(join(world.root, WAL_C), walSegment(WAL_C));
      rmSync(join(world.home, 'pgr', 'incoming'), { recursive: true });
      writeFileSync(join(world.home, 'pgr', 'incoming'), '');
    },
    args: ['put-wal', '--file', `{root}/${WAL_C}`, 'pgr'],
    exit: 1,
    stderr: ['{home}/pgr/incoming'],
  },
  {
    name: 'cloud-wal-archive on a server whose WAL archive is local',
    setup: (world) => writeFileSync(join(world.root, WAL_C), walSegment(WAL_C)),
    args: ['cloud-wal-archive', 'pgr', `{root}/${WAL_C}`],
    exit: 1,
    stderr: ["ERROR: server 'pgr': 'wals_directory' must be an s3:// URL for cloud-wal-archive"],
  },
];

/** A stranger in incoming/ is moved to errors/ (that is the change meant), the rest stays. */
const strangers: BadInputCase[] = [
  {
    name: 'archive-wal of a WAL file from another cluster',
    setup: (world) =>
      writeFileSync(join(world.home, 'pgr', 'incoming', WAL_C), walSegment(WAL_C, { systemId: 42n })),
    args: ['archive-wal', 'pgr'],
    exit: 1,
    stderr: [
      `ERROR: \t${WAL_C} rejected: belongs to another cluster (system identifier 42, expected ${SYSTEM_ID}). File moved to {home}/pgr/errors/${WAL_C}.`,
    ],
    changes: [
      LOCK_FILES,
      `-home/pgr/incoming/${WAL_C}`,
      /^\+home\/pgr\/errors\/00000001000000000000000D\.\d{8}T\d{6}Z\.error$/,
    ],
  },
  {
    name: 'archive-wal of a WAL file of the wrong size',
    setup: (world) =>
      writeFileSync(join(world.home, 'pgr', 'incoming', WAL_C), walSegment(WAL_C, { size: 8192 })),
    args: ['archive-wal', 'pgr'],
    exit: 1,
    stderr: [
      `ERROR: \t${WAL_C} rejected: size 8192 does not match the segment size 16777216. File moved to {home}/pgr/errors/`,
    ],
    changes: [
      LOCK_FILES,
      `-home/pgr/incoming/${WAL_C}`,
      /^\+home\/pgr\/errors\/00000001000000000000000D\..+\.error$/,
    ],
  },
  {
    name: 'archive-wal of a file that is not named like WAL',
    setup: (world) => writeFileSync(join(world.home, 'pgr', 'incoming', 'core.1234'), 'crash dump\n'),
    args: ['archive-wal', 'pgr'],
    exit: 0,
    stderr: [
      'WARNING: Some unknown objects have been found while processing xlog segments for pgr',
      'WARNING: \tcore.1234',
    ],
    changes: [LOCK_FILES, '-home/pgr/incoming/core.1234', /^\+home\/pgr\/errors\/core\.1234\..+\.unknown$/],
  },
];

export const walTable: CaseTable = {
  title: 'WAL files and names',
  cases: [...getWalDamaged, ...getWalOther, ...putWal, ...strangers],
};
