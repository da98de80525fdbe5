/**
 * Recovery: destinations that cannot be one (unwritable parent, a file, a symbolic link loop, a
 * name too long, not empty, relative), tablespace relocations, staging paths, targets, and
 * backups that lost files. A refused recovery creates nothing: no destination, no tablespace
 * directory, no staging directory. (Destinations inside barman_home are another suite's.)
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LOCK_FILES } from './catalog.js';
import type { BadInputCase, CaseTable, World } from './world.js';
import { BACKUPS, fullFileSystem, walSegment } from './world.js';

const ID = BACKUPS.named;
/** The backup's tablespace goes next to the destination unless a case says otherwise. */
const TBS = ['--tablespace', 'tbs1:{root}/tbs'];
const recover = (destination: string, ...more: string[]) => [
  'recover',
  'pg',
  ID,
  destination,
  ...TBS,
  ...more,
];
const readOnlyDirectory = (name: string) => (world: World) =>
  mkdirSync(join(world.root, name), { mode: 0o555 });

const destinations: BadInputCase[] = [
  {
    name: 'a destination whose parent barman_user cannot write',
    setup: readOnlyDirectory('ro'),
    args: recover('{root}/ro/dest'),
    exit: 1,
    stderr: [
      "ERROR: cannot create the directory '{root}/ro/dest': permission denied (EACCES)",
      "HINT: OS user '{user}' (barman_user)",
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination that is a file',
    setup: (world) => writeFileSync(world.dest, 'not a directory\n'),
    args: recover('{dest}'),
    exit: 1,
    stderr: ['ERROR: the destination directory {dest} exists and is not a directory'],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination below a file',
    args: recover('{config}/dest'),
    exit: 1,
    stderr: ["cannot create the directory '{config}/dest': a part of the path is not a directory (ENOTDIR)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination that is a symbolic link to itself',
    setup: (world) => symlinkSync(world.dest, world.dest),
    args: recover('{dest}'),
    exit: 1,
    stderr: ["'{dest}': too many levels of symbolic links (ELOOP)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination whose name is too long',
    args: recover(`{root}/${'d'.repeat(300)}`),
    exit: 1,
    stderr: ['file name too long (ENAMETOOLONG)', 'HINT: use a shorter path'],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination that is not empty',
    setup: (world) => {
      mkdirSync(world.dest);
      writeFileSync(join(world.dest, 'precious.txt'), 'keep me\n');
    },
    args: recover('{dest}'),
    exit: 1,
    stderr: [
      'ERROR: the destination directory {dest} is not empty (precious.txt)',
      'HINT: Recover into an empty or new directory',
    ],
    changes: [LOCK_FILES],
  },
  {
    name: '--delta-restore into a directory that is not a data directory',
    setup: (world) => {
      mkdirSync(world.dest);
      writeFileSync(join(world.dest, 'precious.txt'), 'keep me\n');
    },
    args: recover('{dest}', '--delta-restore'),
    exit: 1,
    stderr: [
      '--delta-restore: the destination directory {dest} does not look like a PostgreSQL data directory (no PG_VERSION); refusing to delete its content',
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'a destination that belongs to another user',
    setup: (world) => mkdirSync(world.dest, { mode: 0o777 }),
    args: recover('{dest}'),
    exit: 1,
    stderr: ["ERROR: cannot change the mode of '{dest}': operation not permitted (EPERM)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a relative destination',
    args: recover('relative/dest'),
    exit: 2,
    stderr: ["ERROR: the destination directory must be an absolute path: 'relative/dest'"],
  },
  {
    name: 'an empty destination',
    args: recover(''),
    exit: 2,
    stderr: ["ERROR: the destination directory must be an absolute path: ''"],
  },
  {
    name: "a destination with ':'",
    args: recover('host:/srv/pg'),
    exit: 2,
    stderr: [
      "ERROR: The destination directory parameter cannot contain the ':' character",
      'HINT: To recover to another host, use --remote-ssh-command.',
    ],
  },
  {
    name: "the destination '/'",
    args: recover('/'),
    exit: 2,
    stderr: ["ERROR: the destination directory cannot be '/'"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a remote destination whose ssh command fails',
    args: recover('/srv/restore', '--remote-ssh-command', 'false'),
    exit: 1,
    stderr: ["ERROR: Unable to connect to the target host using the command 'false'"],
    changes: [LOCK_FILES],
  },
];

const tablespaces: BadInputCase[] = [
  {
    name: 'a tablespace location barman_user cannot create',
    setup: readOnlyDirectory('ro'),
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:{root}/ro/tbs'],
    exit: 1,
    stderr: ["ERROR: cannot create the directory '{root}/ro/tbs': permission denied (EACCES)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace location that is a file',
    setup: (world) => writeFileSync(join(world.root, 'tbs'), ''),
    args: recover('{dest}'),
    exit: 1,
    stderr: ["ERROR: the tablespace 'tbs1' location {root}/tbs exists and is not a directory"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace location that is not empty',
    setup: (world) => {
      mkdirSync(join(world.root, 'tbs'));
      writeFileSync(join(world.root, 'tbs', 'PG_15_202209061'), '');
    },
    args: recover('{dest}'),
    exit: 1,
    stderr: ["ERROR: the tablespace 'tbs1' location {root}/tbs is not empty (PG_15_202209061)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace inside the destination',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:{dest}/tbs'],
    exit: 2,
    stderr: ["ERROR: the destination directory ({dest}) and tablespace 'tbs1' ({dest}/tbs) overlap"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace relocated to the destination through ..',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:{root}/other/../dest'],
    exit: 2,
    stderr: ["ERROR: the destination directory ({dest}) and tablespace 'tbs1' ({dest}) overlap"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace rule without a colon',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1'],
    exit: 2,
    stderr: ["ERROR: Invalid tablespace relocation rule 'tbs1'", 'HINT: Use --tablespace NAME:LOCATION.'],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace rule for an unknown tablespace',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'nosuch:/x'],
    exit: 2,
    stderr: ["ERROR: Invalid tablespace name 'nosuch'", 'HINT: Tablespaces in this backup: tbs1'],
    changes: [LOCK_FILES],
  },
  {
    name: 'a relative tablespace location',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:rel'],
    exit: 2,
    stderr: ["ERROR: tablespace location for 'tbs1' must be an absolute path: 'rel'"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tablespace relocated twice',
    args: [...recover('{dest}'), '--tablespace', 'tbs1:/b'],
    exit: 2,
    stderr: ["ERROR: tablespace 'tbs1' is relocated twice"],
    changes: [LOCK_FILES],
  },
  {
    name: "a tablespace relocated to '/'",
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:/'],
    exit: 2,
    stderr: ["ERROR: tablespace 'tbs1' cannot be '/'"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a staging path barman_user cannot create',
    setup: readOnlyDirectory('ro'),
    args: recover('{dest}', '--recovery-staging-path', '{root}/ro/staging'),
    exit: 1,
    stderr: ["ERROR: cannot create the directory '{root}/ro/staging': permission denied (EACCES)"],
    changes: [LOCK_FILES],
  },
  {
    name: 'a staging path that is a file',
    args: recover('{dest}', '--recovery-staging-path', '{config}'),
    exit: 1,
    stderr: ["ERROR: cannot create the directory '{config}': it already exists (EEXIST)"],
    changes: [LOCK_FILES],
  },
];

/** Targets the request or the backup rules out: usage errors (2) or refusals (1). */
const targets: BadInputCase[] = [
  { args: ['--target-time', 'yesterday'], exit: 2, says: "ERROR: invalid --target-time 'yesterday'" },
  {
    args: ['--target-time', '2026-02-30 10:00:00'],
    exit: 2,
    says: "ERROR: invalid --target-time '2026-02-30 10:00:00'",
  },
  {
    args: ['--target-time', '2026-11-21 06:24:03'],
    exit: 1,
    says: 'ERROR: The requested target time 2026-11-21 06:24:03+00:00 is before the backup end time',
  },
  {
    args: ['--target-xid', 'abc'],
    exit: 2,
    says: "ERROR: invalid --target-xid 'abc': expected a transaction id (a number)",
  },
  {
    args: ['--target-xid', '99999999999999999999999'],
    exit: 2,
    says: "ERROR: invalid --target-xid '99999999999999999999999'",
  },
  {
    args: ['--target-lsn', 'zz'],
    exit: 2,
    says: "ERROR: invalid --target-lsn 'zz': expected an LSN such as 0/3000060",
  },
  {
    args: ['--target-lsn', '0/1'],
    exit: 1,
    says: 'ERROR: The requested target LSN 0/1 is before the backup end LSN',
  },
  {
    args: ['--target-tli', '0'],
    exit: 2,
    says: "ERROR: invalid --target-tli '0': expected current, latest or a timeline number",
  },
  {
    args: ['--target-tli', '99999999999999999999'],
    exit: 2,
    says: "ERROR: invalid --target-tli '99999999999999999999'",
  },
  {
    args: ['--target-tli', '5'],
    exit: 1,
    says: 'ERROR: target timeline 5 does not exist in the archive (no 00000005.history file)',
  },
  {
    args: ['--target-time', '2030-01-01 00:00:00', '--target-xid', '5'],
    exit: 2,
    says: 'ERROR: You cannot specify multiple targets for the recovery operation (--target-time, --target-xid)',
  },
  {
    args: ['--exclusive'],
    exit: 2,
    says: 'ERROR: --exclusive needs --target-time, --target-xid or --target-lsn',
  },
  {
    args: ['--target-action', 'promote'],
    exit: 2,
    says: "ERROR: Can't enable recovery target action when PITR is not required",
  },
  {
    args: ['--network-compression'],
    exit: 2,
    says: 'ERROR: --network-compression needs --remote-ssh-command',
  },
].map(({ args, exit, says }) => ({
  name: `recover ${args.join(' ')}`,
  args: recover('{dest}', ...args),
  exit,
  stderr: [says],
  // Refusals that need the archive's content come after the backup's lock file exists.
  ...(exit === 1 ? { changes: [LOCK_FILES] } : {}),
}));

const WAL_8 = '000000010000000000000008';
const sources: BadInputCase[] = [
  {
    name: 'a backup that lost its data directory',
    setup: (world) => rmSync(join(world.pg, 'base', ID, 'data'), { recursive: true }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [`ERROR: backup ${ID} of server pg cannot be recovered: {pg}/base/${ID}/data is missing`],
    changes: [LOCK_FILES],
  },
  {
    name: 'a backup that lost its tablespace directory',
    setup: (world) => rmSync(join(world.pg, 'base', ID, '16384'), { recursive: true }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [`ERROR: backup ${ID} of server pg cannot be recovered: {pg}/base/${ID}/16384 is missing`],
    changes: [LOCK_FILES],
  },
  {
    name: 'a backup whose data directory is a file',
    setup: (world) => {
      rmSync(join(world.pg, 'base', ID, 'data'), { recursive: true });
      writeFileSync(join(world.pg, 'base', ID, 'data'), '');
    },
    args: recover('{dest}'),
    exit: 1,
    stderr: [`{pg}/base/${ID}/data is missing (it is not a directory)`],
    changes: [LOCK_FILES],
  },
  {
    name: 'a WAL file the recovery needs is missing',
    setup: (world) => rmSync(join(world.pg, 'wals', '0000000100000000', WAL_8)),
    args: recover('{dest}'),
    exit: 1,
    stderr: [`ERROR: WAL file ${WAL_8} needed by the recovery is in xlog.db but not in {pg}/wals`],
    changes: [LOCK_FILES],
  },
  {
    name: 'a WAL file the recovery needs is damaged (the destination is left incomplete)',
    setup: (world) =>
      writeFileSync(
        join(world.pg, 'wals', '0000000100000000', WAL_8),
        gzipSync(walSegment(WAL_8), { level: 1 }).subarray(0, 4000),
      ),
    args: recover('{dest}'),
    exit: 1,
    stderr: [
      `ERROR: recovery of backup ${ID} into {dest} failed: cannot decompress the archived WAL file {pg}/wals/0000000100000000/${WAL_8} (gzip): unexpected end of file`,
      'HINT: The destination is incomplete: do not start PostgreSQL on it.',
    ],
    // What was copied before the damaged file was found stays, as the hint says.
    changes: [LOCK_FILES, /^\+dest(\/.*)?$/, /^\+tbs(\/.*)?$/],
  },
  {
    name: 'a backup whose data directory barman_user cannot read',
    setup: (world) => chmodSync(join(world.pg, 'base', ID, 'data', 'global'), 0o000),
    args: recover('{dest}'),
    exit: 1,
    stderr: [`ERROR: recovery of backup ${ID} into {dest} failed`, `{pg}/base/${ID}/data/global`, 'EACCES'],
    changes: [LOCK_FILES, /^\+dest(\/.*)?$/, /^\+tbs(\/.*)?$/],
  },
];

/** The backup becomes a tar-format one (pg_basebackup -Ft -z): its data/ holds `files`. */
function tarBackup(files: Record<string, Buffer>) {
  return (world: World) => {
    const backup = join(world.pg, 'base', ID);
    const info = join(backup, 'backup.info');
    writeFileSync(info, readFileSync(info, 'utf8').replace(/^compression=.*$/m, 'compression=gzip'));
    rmSync(join(backup, 'data'), { recursive: true });
    rmSync(join(backup, '16384'), { recursive: true });
    mkdirSync(join(backup, 'data'));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(backup, 'data', name), content);
  };
}
const DAMAGED_GZIP = Buffer.concat([gzipSync(Buffer.alloc(100_000, 7)).subarray(0, 300)]);

const tar: BadInputCase[] = [
  {
    name: 'a tar-format backup without its base.tar.gz',
    setup: tarBackup({ '16384.tar.gz': DAMAGED_GZIP }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [
      `ERROR: backup ${ID} of server pg cannot be recovered: no base.tar* archive in {pg}/base/${ID}/data`,
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tar-format backup without its tablespace archive',
    setup: tarBackup({ 'base.tar.gz': DAMAGED_GZIP }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [
      `ERROR: backup ${ID} of server pg cannot be recovered: no 16384.tar* archive in {pg}/base/${ID}/data`,
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'a tar-format backup whose backup_manifest is not one',
    setup: tarBackup({
      'base.tar.gz': DAMAGED_GZIP,
      '16384.tar.gz': DAMAGED_GZIP,
      backup_manifest: Buffer.from('{"PostgreSQL-Backup-Manifest-Version": 1, "Files": '),
    }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [`{pg}/base/${ID}/data/backup_manifest is not a backup manifest`],
    changes: [LOCK_FILES, /^\+dest(\/.*)?$/, /^\+tbs(\/.*)?$/],
  },
  {
    name: 'a tar-format backup whose archives are damaged (the destination is left incomplete)',
    setup: tarBackup({ 'base.tar.gz': DAMAGED_GZIP, '16384.tar.gz': DAMAGED_GZIP }),
    args: recover('{dest}'),
    exit: 1,
    stderr: [
      /ERROR: recovery of backup \d{8}T\d{6} into \S+ failed: cannot extract \S+\/data\/(base|16384)\.tar\.gz \(gzip\): \S/,
      'HINT: The destination is incomplete',
    ],
    changes: [LOCK_FILES, /^\+dest(\/.*)?$/, /^\+tbs(\/.*)?$/],
  },
];

/** The full-disk cases unmount their tmpfs once the run is checked. */
const unmounts = new Map<string, () => void>();
const onFullDisk = (world: World) => void unmounts.set(world.root, fullFileSystem(world));
const unmountFullDisk = (world: World) => unmounts.get(world.root)?.();

const fullDisk: BadInputCase[] = [
  {
    name: 'a destination on a full file system (the destination is left incomplete)',
    setup: onFullDisk,
    args: ['recover', 'pg', ID, '{root}/full/dest', '--tablespace', 'tbs1:{root}/full/tbs'],
    exit: 1,
    stderr: [
      `ERROR: recovery of backup ${ID} into {root}/full/dest failed: ENOSPC: no space left on device`,
      "'{root}/full/",
    ],
    changes: [LOCK_FILES, /^\+full\/(dest|tbs)(\/.*)?$/],
    after: unmountFullDisk,
  },
  {
    name: 'get-wal into a full file system (exit 3)',
    setup: onFullDisk,
    args: ['get-wal', '-o', '{root}/full', 'pg', '000000010000000000000006'],
    exit: 3,
    stderr: [
      "ERROR: cannot write '{root}/full/000000010000000000000006': no space left on device (ENOSPC)",
      "HINT: free space on the file system holding '{root}/full/000000010000000000000006'",
    ],
    after: unmountFullDisk,
  },
];

/** --staging-wal-directory, --recovery-conf-filename, --recovery-option-port (Barman 3.x options). */
const recoveryOptions: BadInputCase[] = [
  {
    name: 'recover --staging-wal-directory relative',
    args: recover('{dest}', '--target-immediate', '--staging-wal-directory', 'wal'),
    exit: 2,
    stderr: ["ERROR: --staging-wal-directory must be an absolute path: 'wal'"],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover --staging-wal-directory without a point-in-time target',
    args: recover('{dest}', '--staging-wal-directory', '{root}/wal'),
    exit: 2,
    stderr: ['ERROR: --staging-wal-directory is only used by a point-in-time recovery that copies WAL files'],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover --staging-wal-directory in pg_wal',
    args: recover('{dest}', '--target-immediate', '--staging-wal-directory', '{dest}/pg_wal/x'),
    exit: 2,
    stderr: ["ERROR: --staging-wal-directory {dest}/pg_wal/x cannot be inside PostgreSQL's directory pg_wal"],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover --staging-wal-directory that is not empty',
    setup: (world) => {
      mkdirSync(join(world.root, 'walstage'));
      writeFileSync(join(world.root, 'walstage', 'precious.txt'), 'keep me\n');
    },
    args: recover('{dest}', '--target-immediate', '--staging-wal-directory', '{root}/walstage'),
    exit: 1,
    stderr: [
      'ERROR: the staging WAL directory {root}/walstage is not empty (precious.txt)',
      'HINT: PostgreSQL removes it once recovery ends',
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover --recovery-conf-filename with a path',
    args: recover('{dest}', '--recovery-conf-filename', '../x.conf'),
    exit: 2,
    stderr: [
      "ERROR: --recovery-conf-filename must be a file name in the data directory, not a path: '../x.conf'",
    ],
    changes: [LOCK_FILES],
  },
  {
    name: 'recover --recovery-option-port without a value',
    args: recover('{dest}', '--recovery-option-port'),
    exit: 2,
    stderr: ["ERROR: option '--recovery-option-port <port>' argument missing"],
  },
  {
    name: 'recover --recovery-option-port out of range',
    args: recover('{dest}', '--remote-ssh-command', 'ssh pg', '--get-wal', '--recovery-option-port', '70000'),
    exit: 2,
    stderr: ['ERROR: argument --recovery-option-port: must be at most 65535, got 70000'],
  },
  {
    name: 'recover --recovery-option-port for a local recovery',
    args: recover('{dest}', '--get-wal', '--recovery-option-port', '2222'),
    exit: 2,
    stderr: [
      'ERROR: --recovery-option-port is only used by a remote recovery with get-wal',
      'HINT: Add --remote-ssh-command and --get-wal',
    ],
  },
];

export const recoverTable: CaseTable = {
  title: 'recovery',
  cases: [...destinations, ...tablespaces, ...targets, ...recoveryOptions, ...sources, ...tar, ...fullDisk],
};
