/**
 * verify-restore (restore drills) refusals: bad targets, a FAILED backup, a drill directory in
 * the catalogue, PostgreSQL programs of the backup's version missing, another drill running,
 * and a full file system (the disk-space cap: refused before anything is recovered, the failed
 * drill recorded beside the catalogue, the drill directory never created).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_FILES } from './catalog.js';
import { holdingLock } from './concurrency.js';
import type { BadInputCase, CaseTable, World } from './world.js';
import { BACKUPS, fullFileSystem } from './world.js';

const ID = BACKUPS.named;
const unmounts = new Map<string, () => void>();

const cases: BadInputCase[] = [
  {
    name: 'a target time that is no time',
    args: ['verify-restore', '--target-time', 'yesterday', 'pg', ID],
    exit: 2,
    stderr: ["ERROR: invalid --target-time 'yesterday'"],
  },
  {
    name: 'two targets',
    args: ['verify-restore', '--target-immediate', '--target-xid', '42', 'pg', ID],
    exit: 2,
    stderr: [
      'ERROR: You cannot specify multiple targets for the recovery operation (--target-xid, --target-immediate)',
    ],
  },
  {
    name: 'a FAILED backup',
    args: ['verify-restore', 'pg', BACKUPS.failed],
    exit: 1,
    stderr: [`ERROR: backup ${BACKUPS.failed} of server pg is FAILED: only a DONE backup can be drilled`],
  },
  {
    name: 'a drill directory inside barman_home',
    config: { pg: 'restore_drill_directory = {home}/drills' },
    args: ['verify-restore', 'pg', ID],
    exit: 1,
    stderr: ['ERROR: restore drill directory {home}/drills (restore_drill_directory) is inside'],
  },
  {
    name: 'a backup of a PostgreSQL version whose programs are not installed',
    setup: (world: World) => {
      const info = join(world.home, 'pg/base', ID, 'backup.info');
      writeFileSync(info, readFileSync(info, 'utf8').replace(/^version=\d+$/m, 'version=90624'));
    },
    config: { pg: 'restore_drill_bin_path = {root}/no-such-bin' },
    args: ['verify-restore', 'pg', ID],
    exit: 1,
    stderr: [
      "ERROR: PostgreSQL 9.6's server program 'postgres' was not found (searched {root}/no-such-bin, ",
      'HINT: install PostgreSQL 9.6',
    ],
  },
  {
    name: 'another restore drill running',
    during: holdingLock('.restore-drill.lock'),
    args: ['verify-restore', 'pg', ID],
    exit: 1,
    stderr: [
      'ERROR: another restore drill is running',
      'HINT: drills run one at a time (lock file {home}/.restore-drill.lock)',
    ],
  },
  {
    name: 'a drill directory on a full file system (the disk-space cap)',
    setup: (world: World) => void unmounts.set(world.root, fullFileSystem(world)),
    config: { pg: 'restore_drill_directory = {root}/full' },
    args: ['verify-restore', 'pg', ID],
    exit: 1,
    stderr: [
      /ERROR: restore drill of backup \S+ of server pg FAILED: space: not enough free space at \S+\/full: 0 B free, the drill needs backup size [\d.]+ \w+ x restore_drill_space_margin 120% = /,
    ],
    changes: [LOCK_FILES, '+home/pg/restore-drills.json'],
    after: (world: World) => unmounts.get(world.root)?.(),
  },
];

export const verifyRestoreTable: CaseTable = { title: 'verify-restore', cases };
