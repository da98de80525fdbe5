/**
 * verify-backup, generate-manifest, check-backup and check-wal-archive on bad input: a backup
 * without a manifest or with one that is not a manifest, backups that cannot be checked (FAILED,
 * unknown), a WAL segment of a backup's range missing or damaged in the archive (the one change
 * meant: backup.info marked FAILED), and timelines that are not positive integers.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LOCK_FILES } from './catalog.js';
import type { BadInputCase, CaseTable, World } from './world.js';
import { BACKUPS, walSegment } from './world.js';

const NAMED = BACKUPS.named;
/** The one segment the named backup needs (its begin_wal and end_wal). */
const NEEDED = '000000010000000000000007';
const archived = (world: World) => join(world.pg, 'wals', '0000000100000000', NEEDED);
const MARKED_FAILED = new RegExp(`^~home/pg/base/${NAMED}/backup\\.info$`);

const verifyCases: BadInputCase[] = [
  {
    name: 'verify-backup of a backup without a backup_manifest',
    args: ['verify-backup', 'pg', NAMED],
    exit: 1,
    stderr: [
      `ERROR: the backup has no backup_manifest ({pg}/base/${NAMED}/data/backup_manifest)`,
      'barman generate-manifest SERVER BACKUP_ID',
    ],
  },
  {
    name: 'verify-backup of a backup whose backup_manifest is not JSON',
    setup: (world) => writeFileSync(join(world.pg, 'base', NAMED, 'data/backup_manifest'), '{ "Files": [ '),
    args: ['verify-backup', 'pg', NAMED],
    exit: 1,
    stderr: [`{pg}/base/${NAMED}/data/backup_manifest is not a backup manifest`],
  },
  {
    name: 'verify-backup of a backup id the server does not have',
    args: ['verify-backup', 'pg', '20990101T000000'],
    exit: 1,
    stderr: ["ERROR: Unknown backup '20990101T000000' for server 'pg'"],
  },
  {
    name: 'generate-manifest of a FAILED backup',
    args: ['generate-manifest', 'pg', BACKUPS.failed],
    exit: 1,
    stderr: [
      `cannot generate a backup_manifest for backup ${BACKUPS.failed} of server pg: its status is FAILED`,
    ],
  },
  {
    name: 'generate-manifest of a backup that has one',
    setup: (world) => {
      mkdirSync(join(world.pg, 'base', NAMED, 'data'), { recursive: true });
      writeFileSync(join(world.pg, 'base', NAMED, 'data/backup_manifest'), 'kept as it is');
    },
    args: ['generate-manifest', 'pg', NAMED],
    exit: 1,
    stderr: [`ERROR: File {pg}/base/${NAMED}/data/backup_manifest already exists.`],
  },
];

const checkBackupCases: BadInputCase[] = [
  {
    name: 'check-backup of a FAILED backup',
    args: ['check-backup', 'pg', BACKUPS.failed],
    exit: 1,
    stderr: ['ERROR: The validity of a failed backup cannot be checked'],
  },
  {
    name: "check-backup when a segment of the backup's range is gone from the archive",
    setup: (world) => rmSync(archived(world)),
    args: ['check-backup', 'pg', NAMED],
    exit: 1,
    stderr: [
      `ERROR: This backup has been marked as FAILED due to the following reason: At least one WAL file is missing. The first missing WAL file is ${NEEDED}`,
    ],
    changes: [MARKED_FAILED, LOCK_FILES],
  },
  {
    name: "check-backup when a segment of the backup's range does not decompress",
    setup: (world) => writeFileSync(archived(world), gzipSync(walSegment(NEEDED)).subarray(0, 4000)),
    args: ['check-backup', 'pg', NAMED],
    exit: 1,
    stderr: [`WAL file ${NEEDED} in the archive is damaged: it cannot be read`],
    changes: [MARKED_FAILED, LOCK_FILES],
  },
  {
    name: "check-backup when a segment of the backup's range is another segment's",
    setup: (world) => writeFileSync(archived(world), gzipSync(walSegment('000000010000000000000009'))),
    args: ['check-backup', 'pg', NAMED],
    exit: 1,
    stderr: [`WAL file ${NEEDED} in the archive is damaged: its first page belongs to another segment`],
    changes: [MARKED_FAILED, LOCK_FILES],
  },
  {
    name: "check-backup when a segment of the backup's range is another cluster's",
    setup: (world) => writeFileSync(archived(world), gzipSync(walSegment(NEEDED, { systemId: 42n }))),
    args: ['check-backup', 'pg', NAMED],
    exit: 1,
    stderr: [`WAL file ${NEEDED} in the archive is damaged: it belongs to system 42`],
    changes: [MARKED_FAILED, LOCK_FILES],
  },
];

const timelineCases: BadInputCase[] = [
  { value: '0', says: 'argument --timeline: must be at least 1, got 0' },
  { value: '-2', says: 'argument --timeline: must be at least 1, got -2' },
  { value: 'two', says: "argument --timeline: expected an integer, got 'two'" },
].map(({ value, says }) => ({
  name: `check-wal-archive --timeline ${value}`,
  args: ['check-wal-archive', '--timeline', value, 'pg'],
  exit: 2,
  stderr: [`ERROR: ${says}`],
}));

export const verificationTable: CaseTable = {
  title: 'verification commands',
  cases: [...verifyCases, ...checkBackupCases, ...timelineCases],
};
