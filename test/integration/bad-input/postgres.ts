/**
 * The few bad inputs that need a PostgreSQL to be seen: a role or database that does not
 * exist, replication slots missing or already there, a WAL switch that never reaches the
 * archive, a backup directory that cannot be created once the server answers. One PostgreSQL
 * 15 serves the table; each case has its own barman_home with a server `live` pointing at it.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgres } from '../../harness/index.js';
import { LOCK_FILES } from './catalog.js';
import type { BadInputCase, CaseTable, ConfigChange } from './world.js';

/** Server `live` on the table's PostgreSQL; `conninfo` adds to (overrides) its conninfo. */
function live(options: { conninfo?: string; slot?: string } = {}): ConfigChange {
  return {
    more: `[live]
description = a real PostgreSQL 15
conninfo = {conninfo} ${options.conninfo ?? ''}
streaming_conninfo = {conninfo}
backup_method = postgres
streaming_archiver = on
slot_name = ${options.slot ?? 'bad_input_absent'}
`,
  };
}

/** What a command on `live` leaves in barman_home as Barman would: its directories and lock files. */
const LIVE_DIRECTORIES = /^\+home\/live(\/(base|wals|incoming|streaming|errors|wals\/xlog\.db))?$/;

const cases: BadInputCase[] = [
  {
    name: 'check with a role that does not exist',
    config: live({ conninfo: 'user=nosuchrole' }),
    args: ['check', 'live'],
    exit: 1,
    stderr: [],
    stdout: ['PostgreSQL: FAILED (cannot connect to PostgreSQL', 'role "nosuchrole" does not exist'],
    // check only probes locks: it creates no lock file.
    changes: [LIVE_DIRECTORIES],
  },
  {
    name: 'check with a database that does not exist',
    config: live({ conninfo: 'dbname=nosuchdb' }),
    args: ['check', 'live'],
    exit: 1,
    stderr: [],
    stdout: ['database "nosuchdb" does not exist'],
    // check only probes locks: it creates no lock file.
    changes: [LIVE_DIRECTORIES],
  },
  {
    name: 'backup with a role that does not exist',
    config: live({ conninfo: 'user=nosuchrole' }),
    args: ['backup', 'live'],
    exit: 1,
    stderr: ['ERROR: Impossible to start the backup', 'role "nosuchrole" does not exist'],
    changes: [LOCK_FILES, LIVE_DIRECTORIES],
  },
  {
    name: 'receive-wal --drop-slot of a slot that does not exist',
    config: live(),
    args: ['receive-wal', '--drop-slot', 'live'],
    exit: 1,
    stderr: ["ERROR: Replication slot 'bad_input_absent' does not exist"],
  },
  {
    name: 'receive-wal --create-slot of a slot that exists',
    config: live({ slot: 'bad_input_present' }),
    args: ['receive-wal', '--create-slot', 'live'],
    exit: 1,
    stderr: ["ERROR: Replication slot 'bad_input_present' already exists"],
  },
  {
    name: 'receive-wal with a slot that does not exist',
    config: live(),
    args: ['receive-wal', 'live'],
    exit: 1,
    stderr: [
      "ERROR: replication slot 'bad_input_absent' doesn't exist. Please execute 'barman receive-wal --create-slot live'",
    ],
    changes: [LOCK_FILES, LIVE_DIRECTORIES],
  },
  {
    name: 'switch-wal --archive when the WAL never reaches the archive',
    config: live(),
    args: ['switch-wal', '--archive', '--archive-timeout', '1', 'live'],
    exit: 1,
    stderr: [/ERROR: The WAL file [0-9A-F]{24} has not been received in 1 seconds/],
    changes: [LOCK_FILES, LIVE_DIRECTORIES],
  },
  {
    name: 'backup when its backup directory cannot be created',
    config: live({ slot: 'bad_input_present' }),
    setup: (world) => {
      mkdirSync(join(world.home, 'live'));
      chmodSync(join(world.home, 'live'), 0o555);
    },
    args: ['backup', 'live'],
    exit: 1,
    stderr: ["ERROR: cannot create the directory '{home}/live/base': permission denied (EACCES)"],
  },
];

export const postgresTable: CaseTable = {
  title: 'with a real PostgreSQL',
  serial: true,
  cases,
  async setup() {
    const pg = await startPostgres({ version: 15 });
    await pg.query("select pg_create_physical_replication_slot('bad_input_present')");
    return { values: { conninfo: pg.conninfo }, teardown: () => pg.stop() };
  },
};
