/**
 * The trust issue's refusals, attacked as bad input: recoveries aimed into the catalogue (a
 * backup's own data directory, incoming/, staging in wals/), servers sharing directories,
 * options barman-ts does not support, and passwords from files that are not there. Each must
 * refuse before anything is written.
 */
import type { BadInputCase, CaseTable } from './world.js';
import { BACKUPS } from './world.js';

const ID = BACKUPS.named;
const TBS = ['--tablespace', 'tbs1:{root}/tbs'];
const INSIDE = 'recovery never writes where barman-ts keeps backups, WAL files or locks';

const recoveries: BadInputCase[] = [
  {
    name: "recover --delta-restore into the backup's own data directory",
    args: ['recover', '--delta-restore', 'pg', ID, `{pg}/base/${ID}/data`, ...TBS],
    exit: 1,
    stderr: [`ERROR: recovery destination {pg}/base/${ID}/data`, INSIDE],
  },
  {
    name: "recover into the server's incoming directory",
    args: ['recover', 'pg', ID, '{pg}/incoming/restored', ...TBS],
    exit: 1,
    stderr: ['ERROR: recovery destination {pg}/incoming/restored', INSIDE],
  },
  {
    name: "recover into another server's wals directory",
    args: ['recover', 'pg', ID, '{home}/pgr/wals/restored', ...TBS],
    exit: 1,
    stderr: ['ERROR: recovery destination {home}/pgr/wals/restored', INSIDE],
  },
  {
    name: 'recover into barman_home itself',
    args: ['recover', 'pg', ID, '{home}', ...TBS],
    exit: 1,
    stderr: ['ERROR: recovery destination {home}', INSIDE],
  },
  {
    name: 'recover into a path that reaches base/ through ..',
    args: ['recover', 'pg', ID, '{root}/elsewhere/../home/pg/base/x', ...TBS],
    exit: 1,
    stderr: ['{root}/elsewhere/../home/pg/base/x', INSIDE],
  },
  {
    name: 'a tablespace relocated into the streaming directory',
    args: ['recover', 'pg', ID, '{dest}', '--tablespace', 'tbs1:{pg}/streaming/tbs'],
    exit: 1,
    stderr: ["ERROR: tablespace 'tbs1' location {pg}/streaming/tbs", INSIDE],
  },
  {
    name: 'a recovery staging path inside the wals directory',
    args: ['recover', 'pg', ID, '{dest}', ...TBS, '--recovery-staging-path', '{pg}/wals/staging'],
    exit: 1,
    stderr: ['recovery staging directory {pg}/wals/staging'],
  },
];

const CONFLICT = 'Conflicting path';

const sharing: BadInputCase[] = [
  {
    name: 'two servers with the same backup_directory (list-backup of one)',
    config: { pgr: 'backup_directory = {home}/pg' },
    args: ['list-backup', 'pgr'],
    exit: 1,
    stderr: [CONFLICT, 'backup_directory'],
  },
  {
    name: 'two servers with the same wals_directory (archive-wal refuses)',
    config: { pgr: 'wals_directory = {pg}/wals' },
    args: ['archive-wal', 'pgr'],
    exit: 1,
    stderr: [CONFLICT, 'wals_directory'],
  },
  {
    name: "an errors_directory that is another server's incoming directory",
    config: { pgr: 'errors_directory = {pg}/incoming' },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: [CONFLICT, 'errors_directory'],
  },
  {
    name: "a cloud_staging_directory inside another server's incoming directory",
    config: { pgr: 'cloud_staging_directory = {pg}/incoming/staging' },
    args: ['archive-wal', 'pg'],
    exit: 1,
    stderr: [CONFLICT, 'cloud_staging_directory'],
  },
  {
    name: 'the same backup_directory written with a trailing slash and ..',
    config: { pgr: 'backup_directory = {home}/x/../pg/' },
    args: ['list-backup', 'pg'],
    exit: 1,
    stderr: [CONFLICT],
  },
];

const unsupported: BadInputCase[] = [
  {
    name: 'snapshot_instance with backup_method = snapshot, which barman-ts does not support',
    config: { pg: 'backup_method = snapshot\nsnapshot_instance = vm' },
    args: ['backup', 'pg'],
    exit: 1,
    stderr: ['snapshot_instance', 'not supported'],
  },
];

const passwords: BadInputCase[] = [
  {
    name: 'a passfile= in conninfo that does not exist',
    config: {
      more: '[live]\nconninfo = host=127.0.0.1 port=1 user=postgres passfile={root}/nosuch.pgpass connect_timeout=2\nbackup_method = local-rsync\narchiver = on\n',
    },
    args: ['check', 'live'],
    exit: 1,
    stderr: [],
    stdout: ['PostgreSQL: FAILED'],
    changes: [/^\+home\/live(\/.*)?$/],
  },
];

export const trustTable: CaseTable = {
  title: 'catalogue protection (recovery targets, shared paths, unsupported options, passwords)',
  cases: [...recoveries, ...sharing, ...unsupported, ...passwords],
};
