/**
 * Catalogues of block-level incremental chains for the catalogue commands' tests: backup.info
 * files written through src/catalog (the codec barman-ts itself writes with), each backup with
 * a small dummy data directory. The commands under test read backup.info only, so the same
 * catalogue can be handed to Barman 3.13 (the Debian 13 root) as the oracle.
 */
import type { BackupInfo, BackupStatus } from '../../src/catalog/backup-info.js';
import { emptyBackupInfo, formatBackupInfo, parseTimestamp } from '../../src/catalog/backup-info.js';
import type { PythonValue } from '../../src/catalog/python-literal.js';
import type { Storage } from '../../src/storage/index.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BARMAN_BIN } from './barman.js';
import { writeBarmanConfig } from './config.js';
import type { PostgresServer } from './postgres.js';
import { startPostgres } from './postgres.js';
import { chownTo, makeTempDir } from './tmp.js';

export interface ChainBackupSpec {
  id: string;
  /** The backup this one is incremental to; absent for a full backup. */
  parent?: string;
  status?: BackupStatus;
  /** rsync backups and snapshot ones are never part of a chain. */
  mode?: string;
  /** What the backup stored (deduplicated_size; size is the same). */
  bytes: number;
  /** Estimated cluster size (3.11+); absent: a backup Barman 3.4 wrote, without 3.11+ keys. */
  clusterBytes?: number;
  /** WAL segment number of begin and end WAL (timeline 1). */
  segment: number;
}

const hex = (value: number, width: number) => value.toString(16).toUpperCase().padStart(width, '0');

/** The backup.info of one backup of `specs` (children taken from the backups naming it as parent). */
export function chainBackupInfo(spec: ChainBackupSpec, specs: readonly ChainBackupSpec[]): BackupInfo {
  const children = specs.filter((other) => other.parent === spec.id).map((other) => other.id);
  const day = `${spec.id.slice(0, 4)}-${spec.id.slice(4, 6)}-${spec.id.slice(6, 8)}`;
  const wal = `00000001${hex(0, 8)}${hex(spec.segment, 8)}`;
  const later = spec.clusterBytes !== undefined;
  const status = spec.status ?? 'DONE';
  const info = emptyBackupInfo('pg', {
    backup_label: `START WAL LOCATION: 0/${hex(spec.segment, 1)}000028 (file ${wal})\n`,
    begin_offset: 40,
    begin_time: parseTimestamp(`${day} 10:00:00+00:00`),
    begin_wal: wal,
    begin_xlog: `0/${hex(spec.segment, 1)}000028`,
    config_file: '/srv/pg/postgresql.conf',
    copy_stats: new Map<PythonValue, PythonValue>([
      ['copy_time', 2.5],
      ['total_time', 2.6],
    ]),
    deduplicated_size: spec.bytes,
    hba_file: '/srv/pg/pg_hba.conf',
    ident_file: '/srv/pg/pg_ident.conf',
    mode: spec.mode ?? 'postgres',
    pgdata: '/srv/pg',
    size: spec.bytes,
    status,
    systemid: '7715913679128720699',
    timeline: 1,
    version: later ? 170004 : 150018,
  });
  if (status === 'DONE' || status === 'WAITING_FOR_WALS') {
    Object.assign(info, {
      end_offset: 256,
      end_time: parseTimestamp(`${day} 10:05:00+00:00`),
      end_wal: wal,
      end_xlog: `0/${hex(spec.segment, 1)}000100`,
    });
  } else {
    info.error = 'failure copying files (simulated)';
  }
  if (later) {
    Object.assign(info, {
      children_backup_ids: children.length > 0 ? children : null,
      cluster_size: spec.clusterBytes,
      data_checksums: 'on',
      parent_backup_id: spec.parent ?? null,
      summarize_wal: 'on',
      laterKeysPresent: [
        'children_backup_ids',
        'cluster_size',
        'data_checksums',
        'parent_backup_id',
        'summarize_wal',
      ],
    });
  }
  return info;
}

/**
 * Writes every backup of `specs` into `base` (a basebackups_directory, either layout):
 * `<id>/backup.info` and a dummy `<id>/data/PG_VERSION`.
 */
export async function writeChainCatalog(base: Storage, specs: readonly ChainBackupSpec[]): Promise<void> {
  for (const spec of specs) {
    const info = chainBackupInfo(spec, specs);
    await base.writeFile(`${spec.id}/data/PG_VERSION`, `${Math.floor((info.version ?? 0) / 10000)}\n`);
    await base.writeFile(`${spec.id}/backup.info`, formatBackupInfo(info));
  }
}

/** A PostgreSQL server archiving into a barman-ts catalogue for `backup --incremental` tests. */
export interface IncrementalBackupRig {
  pg: PostgresServer;
  /** The test's directory (owned by postgres): home/, tbs/ and recovered/ are made in it. */
  dir: string;
  /** barman.conf: one server `main`, backup_method = postgres, WAL archived by put-wal. */
  config: string;
  /** main's base/ directory. */
  base: string;
}

/**
 * Starts PostgreSQL `version` with summarize_wal on and writes barman.conf for it (barman_user
 * postgres); `serverOptions` are more options of `main` (e.g. a restore drill's), given by
 * what the rig made (the test's directory, the server); `archiveEnv` is the environment put-wal
 * needs in archive_command (GNUPGHOME: with encryption = gpg it seals what it receives).
 */
export async function startIncrementalBackupRig(
  name: string,
  version: 17 | 18,
  serverOptions: (made: { dir: string; pg: PostgresServer }) => Record<string, string> = () => ({}),
  archiveEnv: Record<string, string> = {},
): Promise<IncrementalBackupRig> {
  const dir = await makeTempDir(name, { owner: 'postgres' });
  const config = join(dir, 'barman.conf');
  for (const sub of ['home', 'tbs', 'recovered']) {
    mkdirSync(join(dir, sub));
    await chownTo(join(dir, sub), 'postgres');
  }
  const pg = await startPostgres({
    version,
    settings: { summarize_wal: 'on' },
    archiveCommand: `${Object.entries(archiveEnv)
      .map(([key, value]) => `${key}=${value} `)
      .join('')}${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal main --file %p`,
  });
  writeBarmanConfig({
    dir,
    mode: 0o644,
    global: { barman_user: 'postgres', log_file: null },
    servers: {
      main: {
        conninfo: pg.conninfo,
        streaming_conninfo: pg.conninfo,
        backup_method: 'postgres',
        immediate_checkpoint: 'on',
        archiver: 'on',
        ...serverOptions({ dir, pg }),
      },
    },
  });
  return { pg, dir, config, base: join(dir, 'home', 'main', 'base') };
}
