/**
 * Catalogue files: backup.info (Barman's hand-made bad files, unreadable, a directory), xlog.db,
 * identity.json, keep annotations, the base/ and wals/ directories and lock files, each damaged
 * and read by the commands that use it. Reading never changes them; a damaged file is named.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BadInputCase, CaseTable, Change, World } from './world.js';
import { BACKUPS } from './world.js';

const HANDMADE = fileURLToPath(new URL('../../../../test/fixtures/barman-3.4/handmade', import.meta.url));
const NAMED = BACKUPS.named;
const infoOf = (world: World, id = NAMED) => join(world.pg, 'base', id, 'backup.info');
/** Lock files barman-ts creates as Barman does (and leaves, as Barman does). */
export const LOCK_FILES: Change = /^[+~]home\/\.[\w.-]+-[\w-]+\.lock$/;

/** Replaces a file by a directory of the same name. */
function directoryInstead(path: string): void {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path);
}

/** backup.info damaged in each way Barman's reader and ours were tried with. */
const BAD_INFOS: ReadonlyArray<{ file: string; says: string }> = [
  { file: 'bad-empty.info', says: 'backup.info, line 1: empty file (no key=value line)' },
  {
    file: 'bad-no-equals.info',
    says: 'backup.info, line 5: invalid line "begin_xlog 0/4000028" (expected key=value)',
  },
  { file: 'bad-indented-comment.info', says: 'backup.info, line 2: invalid line "# an indented comment' },
  { file: 'bad-unknown-key.info', says: 'backup.info, line 10: unknown key "foo_new"' },
  { file: 'bad-truncated-literal.info', says: 'backup.info, line 8, column 102: bad value for copy_stats' },
  { file: 'bad-truncated-label.info', says: 'backup.info, line 1, column 14: bad value for backup_label' },
  { file: 'bad-int.info', says: 'backup.info, line 2: bad value for begin_offset: invalid integer "4O"' },
  {
    file: 'bad-timestamp.info',
    says: 'backup.info, line 6: bad value for end_time: invalid date in timestamp',
  },
  { file: 'bad-tablespaces.info', says: 'backup.info, line 2, column 13: bad value for tablespaces' },
];

const badInfo: BadInputCase[] = BAD_INFOS.flatMap(({ file, says }) => {
  const setup = (world: World) => copyFileSync(join(HANDMADE, file), infoOf(world));
  const unreadable = `WARNING: backup ${NAMED} of server pg is unreadable: {pg}/base/${NAMED}/${says}`;
  return [
    {
      name: `list-backup with ${file}`,
      setup,
      args: ['list-backup', 'pg'],
      exit: 0,
      stderr: [unreadable],
      stdout: [`pg ${NAMED} - UNREADABLE ({pg}/base/${NAMED}/${says}`],
    },
    {
      name: `list-files of a backup with ${file}`,
      setup,
      args: ['list-files', 'pg', NAMED],
      exit: 1,
      stderr: [`ERROR: backup ${NAMED} is unreadable: {pg}/base/${NAMED}/${says}`],
    },
    {
      name: `recover of a backup with ${file}`,
      setup,
      args: ['recover', 'pg', NAMED, '{dest}'],
      exit: 1,
      stderr: [`ERROR: backup '${NAMED}' has an unreadable backup.info: {pg}/base/${NAMED}/${says}`],
    },
    {
      name: `keep of a backup with ${file}`,
      setup,
      args: ['keep', '--target', 'standalone', 'pg', NAMED],
      exit: 1,
      stderr: [`ERROR: Cannot add keep to backup ${NAMED} because it has status UNREADABLE`],
    },
  ];
});

/** One value of backup.info replaced: WAL names and positions are checked when it is read. */
const BAD_VALUES: ReadonlyArray<{ key: string; value: string; says: string }> = [
  { key: 'begin_wal', value: 'GARBAGE', says: 'bad value for begin_wal: invalid WAL segment name "GARBAGE"' },
  {
    key: 'end_wal',
    value: '00000000000000000000000A',
    says: 'bad value for end_wal: invalid WAL segment name "00000000000000000000000A"',
  },
  {
    key: 'begin_wal',
    value: 'FFFFFFFFFFFFFFFFFFFFFFFF',
    says: 'bad value for begin_wal: invalid WAL segment FFFFFFFFFFFFFFFFFFFFFFFF for a 16 MiB segment size',
  },
  { key: 'end_xlog', value: 'zz', says: 'bad value for end_xlog: invalid LSN "zz"' },
  { key: 'begin_xlog', value: '0/1/2', says: 'bad value for begin_xlog: invalid LSN "0/1/2"' },
  { key: 'timeline', value: '0', says: 'bad value for timeline: invalid timeline 0 (expected 1 or more)' },
  {
    key: 'xlog_segment_size',
    value: '3',
    says: 'bad value for xlog_segment_size: invalid WAL segment size 3',
  },
  { key: 'status', value: 'PERFECT', says: 'bad value for status: unknown status "PERFECT"' },
  { key: 'version', value: '15.0', says: 'bad value for version: invalid integer "15.0"' },
  {
    key: 'size',
    value: '99999999999999999999',
    says: 'bad value for size: integer 99999999999999999999 is out of range',
  },
];
const badValues: BadInputCase[] = BAD_VALUES.flatMap(({ key, value, says }) => {
  const setup = (world: World) => {
    const file = infoOf(world);
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(new RegExp(`^${key}=.*$`, 'm'), `${key}=${value}`),
    );
  };
  const where = `{pg}/base/${NAMED}/backup.info, line `;
  return [
    {
      name: `recover of a backup whose ${key} is ${value}`,
      setup,
      args: ['recover', 'pg', NAMED, '{dest}', '--tablespace', 'tbs1:{root}/tbs'],
      exit: 1,
      stderr: [`ERROR: backup '${NAMED}' has an unreadable backup.info: ${where}`, says],
    },
    {
      name: `list-files --target full of a backup whose ${key} is ${value}`,
      setup,
      args: ['list-files', '--target', 'full', 'pg', NAMED],
      exit: 1,
      stderr: [`ERROR: backup ${NAMED} is unreadable: ${where}`, says],
    },
  ];
});

const unreadableInfo: BadInputCase[] = [
  {
    what: 'not readable by barman_user',
    setup: (world: World) => chmodSync(infoOf(world), 0o000),
    says: `EACCES: permission denied, open '{pg}/base/${NAMED}/backup.info'`,
  },
  {
    what: 'a directory',
    setup: (world: World) => directoryInstead(infoOf(world)),
    says: `EISDIR: illegal operation on a directory, read '{pg}/base/${NAMED}/backup.info'`,
  },
].flatMap(({ what, setup, says }) => [
  {
    name: `list-backup with a backup.info ${what}`,
    setup,
    args: ['list-backup', 'pg'],
    exit: 0,
    stderr: [`WARNING: backup ${NAMED} of server pg is unreadable: ${says}`],
  },
  {
    name: `show-backup with a backup.info ${what}`,
    setup,
    args: ['show-backup', 'pg', NAMED],
    exit: 0,
    stderr: [`WARNING: backup ${NAMED} of server pg is unreadable: ${says}`],
    stdout: ['Status                 : UNREADABLE'],
  },
  {
    name: `list-files with a backup.info ${what}`,
    setup,
    args: ['list-files', 'pg', NAMED],
    exit: 1,
    stderr: [`ERROR: backup ${NAMED} is unreadable: ${says}`],
  },
  {
    name: `recover with a backup.info ${what}`,
    setup,
    args: ['recover', 'pg', NAMED, '{dest}'],
    exit: 1,
    stderr: [`ERROR: backup '${NAMED}' has an unreadable backup.info: ${says}`],
  },
  {
    name: `status with a backup.info ${what}`,
    setup,
    args: ['status', 'pg'],
    exit: 0,
    stderr: [`WARNING: backup ${NAMED} of server pg is unreadable: ${says}`],
    stdout: ['Server pg:'],
  },
]);

const xlogDb = (world: World) => join(world.pg, 'wals', 'xlog.db');
const XLOGDB_READERS: ReadonlyArray<readonly string[]> = [
  ['list-backup', 'pg'],
  ['show-backup', 'pg', NAMED],
  ['list-files', 'pg', NAMED],
  ['rebuild-xlogdb', 'pg'],
  ['archive-wal', 'pg'],
  ['delete', 'pg', BACKUPS.failed],
  ['recover', 'pg', NAMED, '{dest}', '--tablespace', 'tbs1:{root}/tbs'],
];
const badXlogDb: BadInputCase[] = [
  {
    what: 'not readable by barman_user',
    setup: (world: World) => chmodSync(xlogDb(world), 0o000),
    says: "cannot open '{pg}/wals/xlog.db': permission denied (EACCES)",
  },
  {
    what: 'a directory',
    setup: (world: World) => directoryInstead(xlogDb(world)),
    says: "cannot read '{pg}/wals/xlog.db': it is a directory (EISDIR)",
  },
].flatMap(({ what, setup, says }) =>
  XLOGDB_READERS.map((args) => ({
    name: `${args[0]!} with an xlog.db ${what}`,
    setup,
    args,
    exit: 1,
    stderr: [says],
    // archive-wal and rebuild-xlogdb take their lock before they read xlog.db.
    ...(['archive-wal', 'rebuild-xlogdb'].includes(args[0]!) ? { changes: [LOCK_FILES] } : {}),
  })),
);

const damagedXlogDb: BadInputCase[] = [
  {
    name: 'list-backup with an xlog.db line that names no WAL file (a warning)',
    setup: (world) => writeFileSync(xlogDb(world), 'ZZZZ\t16458\t1795242241.8\tgzip\n', { flag: 'a' }),
    args: ['list-backup', 'pg'],
    exit: 0,
    stderr: ["WARNING: {pg}/wals/xlog.db line 9: 'ZZZZ' is not a WAL file name"],
  },
  {
    name: 'recover with an xlog.db line of a segment the segment size cannot have',
    setup: (world) => {
      writeFileSync(xlogDb(world), '000000010000000000000FFF\t16458\t1795242300.1\tgzip\n', { flag: 'a' });
      // Stops the recovery once it is planned: the plan is what read the line.
      mkdirSync(join(world.root, 'ro'), { mode: 0o555 });
    },
    args: ['recover', 'pg', NAMED, '{root}/ro/dest', '--tablespace', 'tbs1:{root}/tbs'],
    exit: 1,
    stderr: ["ERROR: cannot create the directory '{root}/ro/dest': permission denied (EACCES)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover with a timeline history file that does not parse',
    setup: (world) => {
      writeFileSync(join(world.pg, 'wals', '00000002.history'), 'garbage history\n');
      writeFileSync(xlogDb(world), '00000002.history\t16\t1795242300.1\tNone\n', { flag: 'a' });
    },
    args: ['recover', 'pg', NAMED, '{dest}', '--tablespace', 'tbs1:{root}/tbs', '--target-tli', 'latest'],
    exit: 1,
    stderr: [
      'ERROR: cannot read timeline history file 00000002.history of server \'pg\': invalid timeline history line 1 "garbage history"',
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'list-backup with garbage lines in xlog.db (a warning, listed from the rest)',
    setup: (world) =>
      writeFileSync(xlogDb(world), 'garbage\n000000010000000000000010\ty\tz\n', { flag: 'a' }),
    args: ['list-backup', 'pg'],
    exit: 0,
    stderr: [
      "WARNING: {pg}/wals/xlog.db line 9: expected 3 to 5 fields, found 1: 'garbage'",
      "line 10: size or time is not a number: '000000010000000000000010\ty\tz'",
    ],
  },
  {
    name: 'get-wal of a WAL file listed in xlog.db but gone from the archive',
    setup: (world) => rmSync(join(world.pg, 'wals', '0000000100000000', '000000010000000000000007')),
    args: ['get-wal', 'pg', '000000010000000000000007'],
    exit: 1,
    stderr: ["ERROR: WAL file '000000010000000000000007' not found in server 'pg'"],
  },
  {
    name: 'recover when a WAL file it needs is gone from the archive',
    setup: (world) => rmSync(join(world.pg, 'wals', '0000000100000000', '000000010000000000000008')),
    args: ['recover', 'pg', NAMED, '{dest}', '--tablespace', 'tbs1:{root}/tbs'],
    exit: 1,
    stderr: [
      'ERROR: WAL file 000000010000000000000008 needed by the recovery is in xlog.db but not in {pg}/wals',
      "HINT: Run 'barman rebuild-xlogdb'",
    ],
    changes: [LOCK_FILES],
  },
];

const identity = (world: World) => join(world.pg, 'identity.json');
const badIdentity: BadInputCase[] = [
  {
    what: 'that is not JSON',
    setup: (world: World) => writeFileSync(identity(world), '{"systemid": 77'),
    says: `{pg}/identity.json is damaged: expected JSON with the cluster's "systemid"`,
  },
  {
    what: 'that is a JSON list',
    setup: (world: World) => writeFileSync(identity(world), '[]\n'),
    says: '{pg}/identity.json is damaged',
  },
  {
    what: 'with a systemid that is not a number',
    setup: (world: World) => writeFileSync(identity(world), '{"systemid": "abc", "version": "15"}\n'),
    says: '{pg}/identity.json is damaged',
  },
  {
    what: 'that is empty',
    setup: (world: World) => writeFileSync(identity(world), ''),
    says: '{pg}/identity.json is damaged',
  },
  {
    what: 'that is a directory',
    setup: (world: World) => directoryInstead(identity(world)),
    says: "cannot read '{pg}/identity.json': it is a directory (EISDIR)",
  },
  {
    what: 'not readable by barman_user',
    setup: (world: World) => chmodSync(identity(world), 0o000),
    says: "cannot open '{pg}/identity.json': permission denied (EACCES)",
  },
].map(({ what, setup, says }) => ({
  name: `archive-wal with an identity.json ${what}`,
  setup,
  args: ['archive-wal', 'pg'],
  exit: 1,
  stderr: [says],
  changes: [LOCK_FILES],
}));

const keepOf = (world: World, id = BACKUPS.keptStandalone) =>
  join(world.pg, 'base', id, 'annotations', 'keep');
const badKeep: BadInputCase[] = [
  {
    what: 'a directory',
    setup: (world: World) => directoryInstead(keepOf(world)),
    says: `cannot read '{pg}/base/${BACKUPS.keptStandalone}/annotations/keep': it is a directory (EISDIR)`,
  },
  {
    what: 'not readable by barman_user',
    setup: (world: World) => chmodSync(keepOf(world), 0o000),
    says: `cannot open '{pg}/base/${BACKUPS.keptStandalone}/annotations/keep': permission denied (EACCES)`,
  },
].flatMap(({ what, setup, says }) =>
  [
    ['list-backup', 'pg'],
    ['keep', '--status', 'pg', BACKUPS.keptStandalone],
    ['keep', '--release', 'pg', BACKUPS.keptStandalone],
    ['delete', 'pg', BACKUPS.keptStandalone],
    ['show-backup', 'pg', BACKUPS.keptStandalone],
  ].map((args) => ({
    name: `${args.slice(0, 2).join(' ')} with a keep annotation ${what}`,
    setup,
    args,
    exit: 1,
    stderr: [says],
  })),
);

const directories: BadInputCase[] = [
  {
    name: 'list-backup when base/ is a file',
    setup: (world) => {
      rmSync(join(world.pg, 'base'), { recursive: true });
      writeFileSync(join(world.pg, 'base'), 'not a directory\n');
    },
    args: ['list-backup', 'pg'],
    exit: 1,
    stderr: ["ERROR: cannot list the directory '{pg}/base': a part of the path is not a directory (ENOTDIR)"],
  },
  {
    name: 'show-backup when base/ cannot be listed',
    setup: (world) => chmodSync(join(world.pg, 'base'), 0o000),
    args: ['show-backup', 'pg', 'latest'],
    exit: 1,
    stderr: [
      "ERROR: cannot list the directory '{pg}/base': permission denied (EACCES)",
      "HINT: OS user '{user}' (barman_user) must be able to use it",
    ],
  },
  {
    name: 'delete when base/ cannot be listed',
    setup: (world) => chmodSync(join(world.pg, 'base'), 0o000),
    args: ['delete', 'pg', 'oldest'],
    exit: 1,
    stderr: ["ERROR: cannot list the directory '{pg}/base': permission denied (EACCES)"],
  },
  {
    name: 'get-wal when the WAL archive cannot be entered',
    setup: (world) => chmodSync(join(world.pg, 'wals'), 0o000),
    args: ['get-wal', 'pg', '000000010000000000000005'],
    exit: 1,
    stderr: ["'{pg}/wals/0000000100000000/000000010000000000000005': permission denied (EACCES)"],
  },
  {
    name: 'archive-wal when incoming/ is a file',
    setup: (world) => {
      rmSync(join(world.pg, 'incoming'), { recursive: true });
      writeFileSync(join(world.pg, 'incoming'), '');
    },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: [
      "WAL archiving of server pg stopped: cannot create the directory '{pg}/incoming': it already exists (EEXIST)",
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'archive-wal when the server directory is read-only and wals/ is missing',
    setup: (world) => {
      rmSync(join(world.pg, 'wals'), { recursive: true });
      chmodSync(world.pg, 0o555);
    },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: ["cannot create the directory '{pg}/wals': permission denied (EACCES)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'rebuild-xlogdb when wals/ is read-only',
    setup: (world) => chmodSync(join(world.pg, 'wals'), 0o555),
    args: ['rebuild-xlogdb', 'pg'],
    exit: 1,
    stderr: ["'{pg}/wals/xlog.db': permission denied (EACCES)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'keep when the backup directory is read-only',
    setup: (world) => chmodSync(join(world.pg, 'base', NAMED), 0o555),
    args: ['keep', '--target', 'full', 'pg', NAMED],
    exit: 1,
    stderr: [`'{pg}/base/${NAMED}/annotations': permission denied (EACCES)`],
  },
  {
    name: 'delete when the backup directory cannot be removed',
    setup: (world) => chmodSync(join(world.pg, 'base'), 0o555),
    args: ['delete', 'pg', BACKUPS.failed],
    exit: 1,
    stderr: [
      `ERROR: cannot delete backup ${BACKUPS.failed}: cannot access '{pg}/base': permission denied (EACCES)`,
    ],
  },
];

directories.push(
  {
    name: 'list-files when a directory of the backup cannot be read',
    setup: (world) => chmodSync(join(world.pg, 'base', NAMED, 'data', 'global'), 0o000),
    args: ['list-files', 'pg', NAMED],
    exit: 1,
    stderr: [`ERROR: cannot list the directory '{pg}/base/${NAMED}/data/global': permission denied (EACCES)`],
  },
  {
    name: 'list-backup when a backup directory cannot be entered',
    setup: (world) => chmodSync(join(world.pg, 'base', NAMED), 0o000),
    args: ['list-backup', 'pg'],
    exit: 1,
    stderr: [`'{pg}/base/${NAMED}/`, 'permission denied (EACCES)'],
  },
);

const locks: BadInputCase[] = [
  {
    name: 'archive-wal when barman_lock_directory is read-only',
    config: { barman: 'barman_lock_directory = {root}/locks' },
    setup: (world) => mkdirSync(join(world.root, 'locks'), { mode: 0o555 }),
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: [
      'cannot open the lock file {root}/locks/.pg-archive-wal.lock (EACCES)',
      'HINT: run barman as barman_user',
    ],
  },
  {
    name: 'backup when its lock file is a directory',
    setup: (world) => mkdirSync(join(world.home, '.pg-backup.lock')),
    args: ['backup', 'pg'],
    exit: 1,
    stderr: ["'{home}/.pg-backup.lock': it is a directory (EISDIR)"],
  },
  {
    name: 'archive-wal when its lock file belongs to root, mode 0600',
    setup: (world) => {
      writeFileSync(join(world.home, '.pg-archive-wal.lock'), '1\n', { mode: 0o600 });
    },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: ['cannot open the lock file {home}/.pg-archive-wal.lock (EACCES)'],
  },
  {
    name: 'barman_lock_directory below a file',
    config: { barman: 'barman_lock_directory = {config}/locks' },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: ["cannot create the directory '{config}/locks': a part of the path is not a directory (ENOTDIR)"],
  },
];

export const catalogTable: CaseTable = {
  title: 'catalogue files',
  cases: [
    ...badInfo,
    ...badValues,
    ...unreadableInfo,
    ...badXlogDb,
    ...damagedXlogDb,
    ...badIdentity,
    ...badKeep,
    ...directories,
    ...locks,
  ],
};
